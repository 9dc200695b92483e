import { stack, zerosLike } from './create.js';
import { noGrad, weightsChanged } from './modes.js';
import { scope } from './scope.js';
import type { Tensor } from './tensor.js';

export interface AdamWOpts {
  lr: number;
  betas?: [number, number];
  eps?: number;
  weightDecay?: number;
}

export interface OptimizerState {
  step: number;
  tensors: Record<string, Tensor>;
}

/**
 * AdamW with decoupled weight decay, the same update as torch.optim.AdamW (non-amsgrad):
 *   p *= 1 - lr*wd;  m = lerp(m, g, 1-b1);  v = b2*v + (1-b2)*g^2;
 *   p -= lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps)
 * Built from in-place ATen ops; its state is plain tensors (exp_avg.i, exp_avg_sq.i) for checkpoints.
 */
export class AdamW {
  lr: number;
  readonly betas: [number, number];
  readonly eps: number;
  readonly weightDecay: number;
  private readonly params: Tensor[];
  private stepCount = 0;
  private readonly expAvg: (Tensor | null)[];
  private readonly expAvgSq: (Tensor | null)[];

  constructor(params: Tensor[], opts: AdamWOpts) {
    this.params = params;
    this.lr = opts.lr;
    this.betas = opts.betas ?? [0.9, 0.999];
    this.eps = opts.eps ?? 1e-8;
    this.weightDecay = opts.weightDecay ?? 0.01;
    this.expAvg = params.map(() => null);
    this.expAvgSq = params.map(() => null);
  }

  step(): void {
    const [b1, b2] = this.betas;
    this.stepCount++;
    const bc1 = 1 - b1 ** this.stepCount;
    const bc2Sqrt = Math.sqrt(1 - b2 ** this.stepCount);
    noGrad(() => {
      this.params.forEach((p, i) => {
        const g = p.grad;
        if (!g) return;
        const m = (this.expAvg[i] ??= zerosLike(p).keep());
        const v = (this.expAvgSq[i] ??= zerosLike(p).keep());
        if (this.weightDecay !== 0) p.mul_(1 - this.lr * this.weightDecay);
        m.lerp_(g, 1 - b1);
        v.mul_(b2).addcmul_(g, g, 1 - b2);
        const denom = v.sqrt().div_(bc2Sqrt).add_(this.eps);
        p.addcdiv_(m, denom, -this.lr / bc1);
        denom.dispose();
        g.dispose();
      });
    });
    weightsChanged();
  }

  zeroGrad(): void {
    for (const p of this.params) p.zeroGrad();
  }

  /** Copies of the state (the caller disposes them, or lets the enclosing scope do it). */
  stateDict(): OptimizerState {
    const tensors: Record<string, Tensor> = {};
    this.params.forEach((_, i) => {
      const m = this.expAvg[i];
      const v = this.expAvgSq[i];
      // the moments never require grad: a clone is the whole copy (no intermediate handle to free)
      if (m) tensors[`exp_avg.${i}`] = m.clone();
      if (v) tensors[`exp_avg_sq.${i}`] = v.clone();
    });
    return { step: this.stepCount, tensors };
  }

  /** Restores state saved by stateDict() (tensors are copied; the caller keeps ownership). */
  loadStateDict(s: OptimizerState): void {
    if (!Number.isInteger(s.step) || s.step < 0) throw new Error(`AdamW.loadStateDict: bad step ${s.step}`);
    for (const key of Object.keys(s.tensors)) {
      const m = /^(exp_avg|exp_avg_sq)\.(\d+)$/.exec(key);
      if (!m || Number(m[2]) >= this.params.length) {
        throw new Error(`AdamW.loadStateDict: unexpected state tensor '${key}' (optimizer has ${this.params.length} params)`);
      }
      const i = Number(m[2]);
      const src = s.tensors[key];
      const want = this.params[i].shape;
      if (src.shape.join() !== want.join()) {
        throw new Error(`AdamW.loadStateDict: '${key}' has shape [${src.shape}] but param ${i} has [${want}]`);
      }
      const list = m[1] === 'exp_avg' ? this.expAvg : this.expAvgSq;
      list[i]?.dispose();
      // saved state is read onto the CPU; a parameter on a GPU needs its state there too
      const p = this.params[i];
      list[i] = scope(() => noGrad(() => src.to(p.dtype).toDevice(p.device).clone())).keep();
    }
    this.stepCount = s.step;
  }

  /** Frees the optimizer state. */
  dispose(): void {
    for (const t of [...this.expAvg, ...this.expAvgSq]) t?.dispose();
    this.expAvg.fill(null);
    this.expAvgSq.fill(null);
  }
}

/**
 * Scales all gradients in place so that their joint L2 norm is at most maxNorm; returns the
 * norm before clipping (as torch.nn.utils.clip_grad_norm_).
 */
export function clipGradNorm(params: Tensor[], maxNorm: number): number {
  return noGrad(() => {
    const grads = params.map((p) => p.grad).filter((g): g is Tensor => g !== null);
    if (grads.length === 0) return 0;
    const norms = grads.map((g) => g.norm(2));
    const all = stack(norms);
    const totalT = all.norm(2);
    const total = totalT.item();
    const coef = maxNorm / (total + 1e-6);
    if (coef < 1) for (const g of grads) g.mul_(coef);
    for (const t of [...grads, ...norms, all, totalT]) t.dispose();
    return total;
  });
}
