import { dtypeCode, type Device, type DType } from './dtype.js';
import { N, ops } from './native.js';
import { checkDevice, Tensor, w, type TensorOrNumber } from './tensor.js';

export interface CreateOpts {
  shape?: number[];
  dtype?: DType;
  device?: Device;
  requiresGrad?: boolean;
}
type Opts = Omit<CreateOpts, 'shape'>;

type NestedNumbers = number | readonly NestedNumbers[];

function finish(t: Tensor, opts: Opts | undefined): Tensor {
  if (opts?.requiresGrad) t.requiresGrad = true;
  return t;
}

function device(opts: Opts | undefined): string | null {
  if (!opts?.device) return null;
  checkDevice(opts.device);
  return opts.device;
}

function flattenNested(data: NestedNumbers, shape: number[], out: number[], depth: number): void {
  if (typeof data === 'number') {
    if (depth !== shape.length) throw new TypeError('tensor(): ragged nested array');
    out.push(data);
    return;
  }
  if (depth === shape.length) shape.push(data.length);
  else if (shape[depth] !== data.length) throw new TypeError('tensor(): ragged nested array');
  for (const x of data) flattenNested(x, shape, out, depth + 1);
}

/**
 * A new tensor holding a copy of data. Default dtype: int64 for Int32Array/BigInt64Array, bool
 * for Uint8Array, float32 otherwise (also for plain number arrays, unlike torch.tensor). Default shape: the
 * nesting of a nested array, [length] for a flat one, [] for a single number.
 */
export function tensor(
  data: NestedNumbers | Float32Array | Float64Array | Int32Array | BigInt64Array | Uint8Array | ArrayLike<number>,
  opts?: CreateOpts,
): Tensor {
  let buf: ArrayBufferView;
  let shape: number[];
  let dtype: DType;
  if (ArrayBuffer.isView(data)) {
    buf = data;
    shape = [(data as unknown as ArrayLike<unknown>).length];
    dtype = data instanceof Int32Array || data instanceof BigInt64Array ? 'int64' : data instanceof Uint8Array ? 'bool' : 'float32';
  } else if (typeof data === 'number') {
    buf = new Float64Array([data]);
    shape = [];
    dtype = 'float32';
  } else if (Array.isArray(data)) {
    const flat: number[] = [];
    shape = [];
    flattenNested(data as NestedNumbers, shape, flat, 0);
    buf = new Float64Array(flat);
    dtype = 'float32';
  } else {
    const arr = Array.from(data as ArrayLike<number>);
    buf = new Float64Array(arr);
    shape = [arr.length];
    dtype = 'float32';
  }
  const t = w(N.fromData(buf, opts?.shape ?? shape, dtypeCode(opts?.dtype ?? dtype), device(opts)));
  return finish(t, opts);
}

const dt = (opts: Opts | undefined, fallback?: DType): number | null =>
  opts?.dtype ? dtypeCode(opts.dtype) : fallback ? dtypeCode(fallback) : null;

export function zeros(shape: number[], opts?: Opts): Tensor {
  return finish(w(ops.zeros(shape, dt(opts), device(opts))), opts);
}
export function ones(shape: number[], opts?: Opts): Tensor {
  return finish(w(ops.ones(shape, dt(opts), device(opts))), opts);
}
/** Uninitialised memory. */
export function empty(shape: number[], opts?: Opts): Tensor {
  return finish(w(ops.empty_memory_format(shape, dt(opts), device(opts))), opts);
}
/** Filled with value; float32 unless opts.dtype says otherwise. */
export function full(shape: number[], value: number, opts?: Opts): Tensor {
  return finish(w(ops.full(shape, value, dt(opts, 'float32'), device(opts))), opts);
}
export function zerosLike(t: Tensor, opts?: Opts): Tensor {
  return finish(w(ops.zeros_like(t.h, dt(opts), device(opts))), opts);
}
export function onesLike(t: Tensor, opts?: Opts): Tensor {
  return finish(w(ops.ones_like(t.h, dt(opts), device(opts))), opts);
}
export function fullLike(t: Tensor, value: number, opts?: Opts): Tensor {
  return finish(w(ops.full_like(t.h, value, dt(opts), device(opts))), opts);
}

/** arange(end) or arange(start, end, step?). int64 when all bounds are integers (as in torch). */
export function arange(end: number, opts?: Opts): Tensor;
export function arange(start: number, end: number, opts?: Opts): Tensor;
export function arange(start: number, end: number, step?: number, opts?: Opts): Tensor;
export function arange(a: number, b?: number | Opts, c?: number | Opts, d?: Opts): Tensor {
  if (typeof b !== 'number') return finish(w(ops.arange(a, dt(b), device(b))), b);
  const opts = typeof c === 'object' ? c : d;
  return finish(w(ops.arange_start_step(a, b, typeof c === 'number' ? c : 1, dt(opts), device(opts))), opts);
}

/** Standard normal samples from the global generator (see manualSeed). */
export function randn(shape: number[], opts?: Opts): Tensor {
  return finish(w(ops.randn(shape, dt(opts), device(opts))), opts);
}
/** Uniform [0, 1) samples. */
export function rand(shape: number[], opts?: Opts): Tensor {
  return finish(w(ops.rand(shape, dt(opts), device(opts))), opts);
}
/** Integers in [low, high); int64 by default. */
export function randint(low: number, high: number, shape: number[], opts?: Opts): Tensor {
  return finish(w(ops.randint_low(low, high, shape, dt(opts, 'int64'), device(opts))), opts);
}
export function randnLike(t: Tensor): Tensor {
  return w(ops.randn_like(t.h));
}

export function cat(ts: Tensor[], dim = 0): Tensor {
  return w(ops.cat(ts.map((t) => t.h), dim));
}
export function stack(ts: Tensor[], dim = 0): Tensor {
  return w(ops.stack(ts.map((t) => t.h), dim));
}

/** cond ? a : b, elementwise with broadcasting. */
export function where(cond: Tensor, a: TensorOrNumber, b: TensorOrNumber): Tensor {
  if (a instanceof Tensor) return w(b instanceof Tensor ? ops.where_self(cond.h, a.h, b.h) : ops.where_ScalarOther(cond.h, a.h, b));
  return w(b instanceof Tensor ? ops.where_ScalarSelf(cond.h, a, b.h) : ops.where_Scalar(cond.h, a, b));
}

/** Samples indices from each row of probs (unnormalised weights allowed), global generator. */
export function multinomial(probs: Tensor, numSamples: number, replacement = false): Tensor {
  return w(ops.multinomial(probs.h, numSamples, replacement));
}

/** einsum('bij,bjk->bik', a, b) */
export function einsum(equation: string, ...ts: Tensor[]): Tensor {
  return w(ops.einsum(equation, ts.map((t) => t.h)));
}
