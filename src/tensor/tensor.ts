import { dtypeCode, dtypeName, type Device, type DType } from './dtype.js';
import { N, ops, type Handle } from './native.js';
import { backwardCheckpoints } from './checkpoint.js';
import { track } from './scope.js';

type Dims = number | number[];
export type TensorOrNumber = Tensor | number;

/** A handle to a libtorch tensor. Memory lives outside the JS heap: free it with dispose() or a scope. */
export class Tensor {
  /** @internal the native handle */
  readonly h: Handle;
  /** @internal exempt from scopes (see keep()) */
  kept = false;
  private _shape: number[] | undefined;
  private _dtype: DType | undefined;

  /** @internal wraps a native handle; use the creation functions instead. */
  constructor(h: Handle) {
    this.h = h;
    track(this);
  }

  // --- metadata (cached: ops never change a tensor's shape or dtype in place) ---
  get shape(): number[] {
    return (this._shape ??= N.shape(this.h));
  }
  get dtype(): DType {
    return (this._dtype ??= dtypeName(N.dtype(this.h)));
  }
  get device(): Device {
    return N.device(this.h) as Device;
  }
  get numel(): number {
    let n = 1;
    for (const s of this.shape) n *= s;
    return n;
  }
  get ndim(): number {
    return this.shape.length;
  }

  // --- autograd ---
  get requiresGrad(): boolean {
    return N.requiresGrad(this.h);
  }
  set requiresGrad(v: boolean) {
    N.setRequiresGrad(this.h, v);
  }
  get isLeaf(): boolean {
    return N.isLeaf(this.h);
  }
  /** The accumulated gradient (a new handle each read, registered in the current scope), or null. */
  get grad(): Tensor | null {
    return wrapOrNull(N.grad(this.h));
  }
  set grad(g: Tensor | null) {
    N.setGrad(this.h, g ? g.h : null);
  }
  backward(gradient?: Tensor, opts?: { retainGraph?: boolean }): void {
    N.backward(this.h, gradient ? gradient.h : null, opts?.retainGraph ?? null);
    backwardCheckpoints(opts?.retainGraph ?? false);
  }
  /** Drops the gradient (like PyTorch's zero_grad(set_to_none=True)). */
  zeroGrad(): void {
    N.setGrad(this.h, null);
  }

  // --- data out ---
  toFloat32Array(): Float32Array {
    return N.toData(this.h, 'f32');
  }
  toFloat64Array(): Float64Array {
    return N.toData(this.h, 'f64');
  }
  toInt32Array(): Int32Array {
    return N.toData(this.h, 'i32');
  }
  toBigInt64Array(): BigInt64Array {
    return N.toData(this.h, 'i64');
  }
  /** Flat, row-major values as JS numbers (int64 exact up to 2^53). */
  toArray(): number[] {
    return Array.from(N.toData(this.h, 'f64'));
  }
  item(): number {
    return Number(ops.item(this.h));
  }
  toString(): string {
    if (this.isDisposed) return 'Tensor(disposed)';
    return `Tensor(shape=[${this.shape.join(', ')}], dtype=${this.dtype}, device=${this.device})`;
  }
  /** console.log shows metadata and, for small tensors, the values. */
  [Symbol.for('nodejs.util.inspect.custom')](): string {
    if (this.isDisposed || this.numel > 64) return this.toString();
    return `${this.toString().slice(0, -1)}, values=[${this.toArray().join(', ')}])`;
  }

  // --- lifetime ---
  /** Frees the native tensor now. Using it afterwards throws. Idempotent. */
  dispose(): void {
    N.dispose(this.h);
  }
  /** Exempts this tensor from every enclosing scope: the caller owns it and must dispose it. */
  keep(): this {
    this.kept = true;
    return this;
  }
  get isDisposed(): boolean {
    return !N.isLive(this.h);
  }

  // --- elementwise arithmetic ---
  add(o: TensorOrNumber, alpha = 1): Tensor {
    return w(o instanceof Tensor ? ops.add_Tensor(this.h, o.h, alpha) : ops.add_Scalar(this.h, o, alpha));
  }
  sub(o: TensorOrNumber, alpha = 1): Tensor {
    return w(o instanceof Tensor ? ops.sub_Tensor(this.h, o.h, alpha) : ops.sub_Scalar(this.h, o, alpha));
  }
  /** o - this */
  rsub(o: number): Tensor {
    return w(ops.rsub_Scalar(this.h, o));
  }
  mul(o: TensorOrNumber): Tensor {
    return w(o instanceof Tensor ? ops.mul_Tensor(this.h, o.h) : ops.mul_Scalar(this.h, o));
  }
  div(o: TensorOrNumber): Tensor {
    return w(o instanceof Tensor ? ops.div_Tensor(this.h, o.h) : ops.div_Scalar(this.h, o));
  }
  pow(e: TensorOrNumber): Tensor {
    return w(e instanceof Tensor ? ops.pow_Tensor_Tensor(this.h, e.h) : ops.pow_Tensor_Scalar(this.h, e));
  }
  minimum(o: Tensor): Tensor {
    return w(ops.minimum(this.h, o.h));
  }
  maximum(o: Tensor): Tensor {
    return w(ops.maximum(this.h, o.h));
  }
  neg(): Tensor { return w(ops.neg(this.h)); }
  exp(): Tensor { return w(ops.exp(this.h)); }
  log(): Tensor { return w(ops.log(this.h)); }
  log1p(): Tensor { return w(ops.log1p(this.h)); }
  expm1(): Tensor { return w(ops.expm1(this.h)); }
  sqrt(): Tensor { return w(ops.sqrt(this.h)); }
  rsqrt(): Tensor { return w(ops.rsqrt(this.h)); }
  square(): Tensor { return w(ops.square(this.h)); }
  reciprocal(): Tensor { return w(ops.reciprocal(this.h)); }
  abs(): Tensor { return w(ops.abs(this.h)); }
  sign(): Tensor { return w(ops.sign(this.h)); }
  floor(): Tensor { return w(ops.floor(this.h)); }
  ceil(): Tensor { return w(ops.ceil(this.h)); }
  round(): Tensor { return w(ops.round(this.h)); }
  sin(): Tensor { return w(ops.sin(this.h)); }
  cos(): Tensor { return w(ops.cos(this.h)); }
  erf(): Tensor { return w(ops.erf(this.h)); }
  tanh(): Tensor { return w(ops.tanh(this.h)); }
  sigmoid(): Tensor { return w(ops.sigmoid(this.h)); }
  relu(): Tensor { return w(ops.relu(this.h)); }
  silu(): Tensor { return w(ops.silu(this.h)); }
  gelu(approximate: 'none' | 'tanh' = 'none'): Tensor {
    return w(ops.gelu(this.h, approximate));
  }
  logsigmoid(): Tensor { return w(ops.log_sigmoid(this.h)); }
  softplus(beta = 1, threshold = 20): Tensor {
    return w(ops.softplus(this.h, beta, threshold));
  }
  softmax(dim: number): Tensor {
    return w(ops.softmax_int(this.h, dim));
  }
  logSoftmax(dim: number): Tensor {
    return w(ops.log_softmax_int(this.h, dim));
  }
  clamp(min?: number | null, max?: number | null): Tensor {
    return w(ops.clamp(this.h, min ?? null, max ?? null));
  }
  /** this + value * t1 * t2 */
  addcmul(t1: Tensor, t2: Tensor, value = 1): Tensor {
    return w(ops.addcmul(this.h, t1.h, t2.h, value));
  }
  /** this + value * t1 / t2 */
  addcdiv(t1: Tensor, t2: Tensor, value = 1): Tensor {
    return w(ops.addcdiv(this.h, t1.h, t2.h, value));
  }
  lerp(end: Tensor, weight: number): Tensor {
    return w(ops.lerp_Scalar(this.h, end.h, weight));
  }

  // --- linear algebra ---
  matmul(o: Tensor): Tensor { return w(ops.matmul(this.h, o.h)); }
  mm(o: Tensor): Tensor { return w(ops.mm(this.h, o.h)); }
  bmm(o: Tensor): Tensor { return w(ops.bmm(this.h, o.h)); }
  outer(o: Tensor): Tensor { return w(ops.outer(this.h, o.h)); }
  /** beta * this + alpha * (a @ b) */
  addmm(a: Tensor, b: Tensor, beta = 1, alpha = 1): Tensor {
    return w(ops.addmm(this.h, a.h, b.h, beta, alpha));
  }
  baddbmm(a: Tensor, b: Tensor, beta = 1, alpha = 1): Tensor {
    return w(ops.baddbmm(this.h, a.h, b.h, beta, alpha));
  }

  // --- shape ---
  transpose(d0: number, d1: number): Tensor { return w(ops.transpose_int(this.h, d0, d1)); }
  /** 2-D transpose */
  t(): Tensor { return w(ops.t(this.h)); }
  permute(dims: number[]): Tensor { return w(ops.permute(this.h, dims)); }
  reshape(shape: number[]): Tensor { return w(ops.reshape(this.h, shape)); }
  view(shape: number[]): Tensor { return w(ops.view(this.h, shape)); }
  contiguous(): Tensor { return w(ops.contiguous(this.h)); }
  expand(shape: number[]): Tensor { return w(ops.expand(this.h, shape)); }
  expandAs(o: Tensor): Tensor { return w(ops.expand_as(this.h, o.h)); }
  unsqueeze(d: number): Tensor { return w(ops.unsqueeze(this.h, d)); }
  squeeze(d?: number): Tensor {
    return w(d === undefined ? ops.squeeze(this.h) : ops.squeeze_dim(this.h, d));
  }
  flatten(start = 0, end = -1): Tensor { return w(ops.flatten_using_ints(this.h, start, end)); }
  /** Elements start..end (exclusive; end omitted or null = to the end) along dim. */
  slice(dim: number, start: number | null, end?: number | null, step = 1): Tensor {
    return w(ops.slice_Tensor(this.h, dim, start, end ?? null, step));
  }
  narrow(dim: number, start: number, length: number): Tensor { return w(ops.narrow(this.h, dim, start, length)); }
  select(dim: number, index: number): Tensor { return w(ops.select_int(this.h, dim, index)); }
  repeat(times: number[]): Tensor { return w(ops.repeat(this.h, times)); }
  repeatInterleave(repeats: number, dim?: number): Tensor {
    return w(ops.repeat_interleave_self_int(this.h, repeats, dim ?? null));
  }
  flip(dims: Dims): Tensor { return w(ops.flip(this.h, dims)); }
  roll(shifts: Dims, dims: Dims = []): Tensor { return w(ops.roll(this.h, shifts, dims)); }
  split(size: number, dim = 0): Tensor[] { return wl(ops.split_Tensor(this.h, size, dim)); }
  chunk(chunks: number, dim = 0): Tensor[] { return wl(ops.chunk(this.h, chunks, dim)); }
  unbind(dim = 0): Tensor[] { return wl(ops.unbind_int(this.h, dim)); }
  tril(k = 0): Tensor { return w(ops.tril(this.h, k)); }
  triu(k = 0): Tensor { return w(ops.triu(this.h, k)); }
  /** Constant padding; pad lists (before, after) pairs starting from the last dim. */
  pad(pad: number[], value = 0): Tensor { return w(ops.constant_pad_nd(this.h, pad, value)); }

  // --- indexing ---
  indexSelect(dim: number, index: Tensor): Tensor { return w(ops.index_select(this.h, dim, index.h)); }
  gather(dim: number, index: Tensor): Tensor { return w(ops.gather(this.h, dim, index.h)); }
  scatter(dim: number, index: Tensor, src: TensorOrNumber): Tensor {
    return w(src instanceof Tensor ? ops.scatter_src(this.h, dim, index.h, src.h) : ops.scatter_value(this.h, dim, index.h, src));
  }
  scatterAdd(dim: number, index: Tensor, src: Tensor): Tensor { return w(ops.scatter_add(this.h, dim, index.h, src.h)); }
  indexAdd(dim: number, index: Tensor, src: Tensor, alpha = 1): Tensor {
    return w(ops.index_add(this.h, dim, index.h, src.h, alpha));
  }
  maskedFill(mask: Tensor, value: TensorOrNumber): Tensor {
    return w(value instanceof Tensor ? ops.masked_fill_Tensor(this.h, mask.h, value.h) : ops.masked_fill_Scalar(this.h, mask.h, value));
  }
  /** cond ? this : other */
  where(cond: Tensor, other: TensorOrNumber): Tensor {
    return w(other instanceof Tensor ? ops.where_self(cond.h, this.h, other.h) : ops.where_ScalarOther(cond.h, this.h, other));
  }
  oneHot(numClasses = -1): Tensor { return w(ops.one_hot(this.h, numClasses)); }
  nonzero(): Tensor { return w(ops.nonzero(this.h)); }

  // --- reductions ---
  sum(dims?: Dims, keepdim = false): Tensor {
    return w(dims === undefined ? ops.sum(this.h) : ops.sum_dim_IntList(this.h, dims, keepdim));
  }
  mean(dims?: Dims, keepdim = false): Tensor {
    return w(dims === undefined ? ops.mean(this.h) : ops.mean_dim(this.h, dims, keepdim));
  }
  prod(): Tensor { return w(ops.prod(this.h)); }
  /** Max along dim with its indices. */
  max(dim: number, keepdim = false): { values: Tensor; indices: Tensor } {
    const [v, i] = ops.max_dim(this.h, dim, keepdim);
    return { values: w(v), indices: w(i) };
  }
  min(dim: number, keepdim = false): { values: Tensor; indices: Tensor } {
    const [v, i] = ops.min_dim(this.h, dim, keepdim);
    return { values: w(v), indices: w(i) };
  }
  /** Max over all elements. */
  maxAll(): Tensor { return w(ops.max(this.h)); }
  minAll(): Tensor { return w(ops.min(this.h)); }
  amax(dims: Dims = [], keepdim = false): Tensor { return w(ops.amax(this.h, dims, keepdim)); }
  amin(dims: Dims = [], keepdim = false): Tensor { return w(ops.amin(this.h, dims, keepdim)); }
  argmax(dim?: number, keepdim = false): Tensor { return w(ops.argmax(this.h, dim ?? null, keepdim)); }
  argmin(dim?: number, keepdim = false): Tensor { return w(ops.argmin(this.h, dim ?? null, keepdim)); }
  logsumexp(dims: Dims, keepdim = false): Tensor { return w(ops.logsumexp(this.h, dims, keepdim)); }
  cumsum(dim: number): Tensor { return w(ops.cumsum(this.h, dim)); }
  /** Variance with Bessel's correction by default (correction=1), like torch.var. */
  var(dims?: Dims, keepdim = false, correction = 1): Tensor {
    return w(ops.var_correction(this.h, dims ?? null, correction, keepdim));
  }
  std(dims?: Dims, keepdim = false, correction = 1): Tensor {
    return w(ops.std_correction(this.h, dims ?? null, correction, keepdim));
  }
  /** Vector p-norm over dims (all elements when omitted). */
  norm(p = 2, dims?: Dims, keepdim = false): Tensor {
    return w(ops.linalg_vector_norm(this.h, p, dims ?? null, keepdim));
  }
  any(dim?: number, keepdim = false): Tensor {
    return w(dim === undefined ? ops.any(this.h) : ops.any_dim(this.h, dim, keepdim));
  }
  all(dim?: number, keepdim = false): Tensor {
    return w(dim === undefined ? ops.all(this.h) : ops.all_dim(this.h, dim, keepdim));
  }
  topk(k: number, dim = -1, largest = true, sorted = true): { values: Tensor; indices: Tensor } {
    const [v, i] = ops.topk(this.h, k, dim, largest, sorted);
    return { values: w(v), indices: w(i) };
  }
  sort(dim = -1, descending = false): { values: Tensor; indices: Tensor } {
    const [v, i] = ops.sort(this.h, dim, descending);
    return { values: w(v), indices: w(i) };
  }

  // --- comparison and logic ---
  eq(o: TensorOrNumber): Tensor { return w(o instanceof Tensor ? ops.eq_Tensor(this.h, o.h) : ops.eq_Scalar(this.h, o)); }
  ne(o: TensorOrNumber): Tensor { return w(o instanceof Tensor ? ops.ne_Tensor(this.h, o.h) : ops.ne_Scalar(this.h, o)); }
  lt(o: TensorOrNumber): Tensor { return w(o instanceof Tensor ? ops.lt_Tensor(this.h, o.h) : ops.lt_Scalar(this.h, o)); }
  le(o: TensorOrNumber): Tensor { return w(o instanceof Tensor ? ops.le_Tensor(this.h, o.h) : ops.le_Scalar(this.h, o)); }
  gt(o: TensorOrNumber): Tensor { return w(o instanceof Tensor ? ops.gt_Tensor(this.h, o.h) : ops.gt_Scalar(this.h, o)); }
  ge(o: TensorOrNumber): Tensor { return w(o instanceof Tensor ? ops.ge_Tensor(this.h, o.h) : ops.ge_Scalar(this.h, o)); }
  logicalNot(): Tensor { return w(ops.logical_not(this.h)); }
  logicalAnd(o: Tensor): Tensor { return w(ops.logical_and(this.h, o.h)); }
  logicalOr(o: Tensor): Tensor { return w(ops.logical_or(this.h, o.h)); }
  isnan(): Tensor { return w(ops.isnan(this.h)); }
  isfinite(): Tensor { return w(ops.isfinite(this.h)); }
  /** Same shape and elements. */
  equal(o: Tensor): boolean { return ops.equal(this.h, o.h); }
  allclose(o: Tensor, rtol = 1e-5, atol = 1e-8): boolean { return ops.allclose(this.h, o.h, rtol, atol); }

  // --- conversion and copies ---
  to(dtype: DType): Tensor { return w(ops.to_dtype(this.h, dtypeCode(dtype))); }
  toDevice(d: Device): Tensor {
    checkDevice(d);
    return w(ops.to_device(this.h, d, N.dtype(this.h)));
  }
  float(): Tensor { return this.to('float32'); }
  long(): Tensor { return this.to('int64'); }
  bool(): Tensor { return this.to('bool'); }
  bfloat16(): Tensor { return this.to('bfloat16'); }
  detach(): Tensor { return w(ops.detach(this.h)); }
  clone(): Tensor { return w(ops.clone(this.h)); }

  // --- in place (return this) ---
  add_(o: TensorOrNumber, alpha = 1): this {
    if (o instanceof Tensor) ops.add__Tensor(this.h, o.h, alpha);
    else ops.add__Scalar(this.h, o, alpha);
    return this;
  }
  sub_(o: Tensor, alpha = 1): this {
    ops.sub__Tensor(this.h, o.h, alpha);
    return this;
  }
  mul_(o: TensorOrNumber): this {
    if (o instanceof Tensor) ops.mul__Tensor(this.h, o.h);
    else ops.mul__Scalar(this.h, o);
    return this;
  }
  div_(o: TensorOrNumber): this {
    if (o instanceof Tensor) ops.div__Tensor(this.h, o.h);
    else ops.div__Scalar(this.h, o);
    return this;
  }
  copy_(src: Tensor): this {
    ops.copy_(this.h, src.h);
    return this;
  }
  zero_(): this {
    ops.zero_(this.h);
    return this;
  }
  fill_(value: number): this {
    ops.fill__Scalar(this.h, value);
    return this;
  }
  addcmul_(t1: Tensor, t2: Tensor, value = 1): this {
    ops.addcmul_(this.h, t1.h, t2.h, value);
    return this;
  }
  addcdiv_(t1: Tensor, t2: Tensor, value = 1): this {
    ops.addcdiv_(this.h, t1.h, t2.h, value);
    return this;
  }
  lerp_(end: Tensor, weight: number): this {
    ops.lerp__Scalar(this.h, end.h, weight);
    return this;
  }
  sqrt_(): this {
    ops.sqrt_(this.h);
    return this;
  }
  clamp_(min?: number | null, max?: number | null): this {
    ops.clamp_(this.h, min ?? null, max ?? null);
    return this;
  }
  maskedFill_(mask: Tensor, value: number): this {
    ops.masked_fill__Scalar(this.h, mask.h, value);
    return this;
  }
}

/** @internal wraps a native result. */
export function w(h: Handle): Tensor {
  return new Tensor(h);
}
/** @internal */
export function wl(hs: Handle[]): Tensor[] {
  return hs.map((h) => new Tensor(h));
}
function wrapOrNull(h: Handle | null): Tensor | null {
  return h === null ? null : new Tensor(h);
}

/** Throws a clear error for a CUDA device when this libtorch has no CUDA (or no GPU is visible). */
export function checkDevice(d: Device | string): void {
  if (d === 'cpu') return;
  if (!/^cuda(:\d+)?$/.test(d)) throw new TypeError(`unknown device '${d}'; expected 'cpu', 'cuda' or 'cuda:N'`);
  if (!N.cudaAvailable()) {
    throw new Error(
      `device '${d}' requested but CUDA is not available: this libtorch (${N.buildInfo().torchVersion}) was built without ` +
        'CUDA or no GPU is visible. Use device "cpu", or rebuild the addon against a CUDA libtorch (LIBTORCH=<dir> npm run install).',
    );
  }
}
