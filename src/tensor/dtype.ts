/** Tensor element types of the public API, and their c10::ScalarType codes. */
export type DType = 'float32' | 'bfloat16' | 'int64' | 'bool';
export type Device = 'cpu' | 'cuda' | `cuda:${number}`;

// c10/core/ScalarType.h enumeration order.
const CODES: Record<DType, number> = {
  int64: 4,
  float32: 6,
  bool: 11,
  bfloat16: 15,
};
const NAMES: Record<number, DType> = Object.fromEntries(Object.entries(CODES).map(([k, v]) => [v, k as DType]));

export function dtypeCode(d: DType): number {
  const c = CODES[d];
  if (c === undefined) throw new TypeError(`unknown dtype '${String(d)}'; expected one of ${Object.keys(CODES).join(', ')}`);
  return c;
}

export function dtypeName(code: number): DType {
  const n = NAMES[code];
  if (n === undefined) throw new Error(`tensor has a dtype outside float32/bfloat16/int64/bool (c10 ScalarType ${code}); convert it with .to()`);
  return n;
}

export function isFloating(d: DType): boolean {
  return d === 'float32' || d === 'bfloat16';
}
