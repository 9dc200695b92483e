import { scope, type Tensor } from '../tensor/index.js';

export interface NonFinite {
  name: string;
  nan: number;
  inf: number;
  numel: number;
}

/** The first floating tensor holding NaN or an infinity, with the counts; null when all are finite. */
export function firstNonFinite(named: Iterable<[string, Tensor]>): NonFinite | null {
  for (const [name, t] of named) {
    if (t.dtype !== 'float32' && t.dtype !== 'bfloat16') continue;
    if (scope(() => t.isfinite().all().item())) continue;
    const nan = scope(() => t.isnan().sum().item());
    return { name, nan, inf: t.numel - nan - scope(() => t.isfinite().sum().item()), numel: t.numel };
  }
  return null;
}

/** "tensor 'NAME' holds non-finite values (N NaN, M infinite of K)" */
export function describeNonFinite(b: NonFinite): string {
  return `tensor '${b.name}' holds non-finite values (${b.nan} NaN, ${b.inf} infinite of ${b.numel})`;
}
