import { AdamW, clipGradNorm, linearFloat32, noGrad, scope, tensor, type Tensor } from '../tensor/index.js';
import type { CausalLM } from '../model/index.js';
import { Rng } from '../util/rng.js';
import { pack, type Packed } from '../model/pack.js';

/**
 * RLHF PPO (Ouyang et al. 2022, as in TRL's PPOTrainer) on sequence rewards: a per-token KL
 * penalty to the frozen reference, a value head on the policy's last hidden state, GAE, and the
 * clipped surrogate with a clipped value loss.
 */
export interface PpoOptions {
  /** KL penalty coefficient per token */
  klCoef: number;
  gamma: number;
  lam: number;
  /** policy ratio clip */
  clip: number;
  /** value clip around the rollout's values */
  valueClip: number;
  vfCoef: number;
  /** optimisation epochs over each rollout batch */
  epochs: number;
  lr: number;
  /** 0 = no clipping */
  maxGradNorm: number;
}

export interface PpoBatch {
  promptIds: number[][];
  responseIds: number[][];
  /** one score per response (the reward model's) */
  scores: number[];
}

export interface PpoStats {
  loss: number;
  policyLoss: number;
  valueLoss: number;
  /** mean summed (log pi - log pi_ref) of the rollouts */
  kl: number;
  meanScore: number;
  /** share of tokens whose ratio was clipped (last epoch) */
  clipFraction: number;
}

/**
 * Generalised advantage estimation over one response's per-token rewards and values
 * (bootstrapping 0 after the last token). Returns advantages and returns (advantage + value).
 */
export function gae(rewards: number[], values: number[], gamma: number, lam: number): { advantages: number[]; returns: number[] } {
  const n = rewards.length;
  const advantages = new Array<number>(n).fill(0);
  let next = 0;
  let nextValue = 0;
  for (let t = n - 1; t >= 0; t--) {
    const delta = rewards[t] + gamma * nextValue - values[t];
    next = delta + gamma * lam * next;
    advantages[t] = next;
    nextValue = values[t];
  }
  return { advantages, returns: advantages.map((a, t) => a + values[t]) };
}

/** max(a, b) elementwise (b + relu(a - b)). */
function maximum(a: Tensor, b: Tensor): Tensor {
  return b.add(a.sub(b).relu());
}

function maskedMean(x: Tensor, mask: Tensor, count: number): Tensor {
  return x.mul(mask).sum().div(count);
}

export class PpoTrainer {
  readonly valueWeight: Tensor;
  readonly valueBias: Tensor;
  readonly optimizer: AdamW;

  constructor(
    readonly policy: CausalLM,
    readonly ref: CausalLM,
    readonly opts: PpoOptions,
    seed = 0,
  ) {
    const D = policy.hiddenSize;
    this.valueWeight = tensor(new Rng(seed).normals(D, 0.02), { shape: [1, D], dtype: 'float32', device: policy.device, requiresGrad: true });
    this.valueBias = tensor([0], { shape: [1], dtype: 'float32', device: policy.device, requiresGrad: true });
    this.optimizer = new AdamW([...policy.parameters(), this.valueWeight, this.valueBias], { lr: opts.lr });
  }

  /** Per-token log-probs [B, R] of the responses and, with `values`, the value head's estimates [B, R]. */
  private forward(model: CausalLM, k: Packed, values: boolean): { logprobs: Tensor; values: Tensor | null } {
    const { B, L, R } = k;
    const device = model.device;
    const hidden = model.hiddenStates(tensor(k.ids, { shape: [B, L], dtype: 'int64', device }), {
      attentionMask: tensor(k.attention, { shape: [B, L], dtype: 'int64', device }),
    });
    // the LM head only where a response token is predicted
    const h = hidden.reshape([B * L, hidden.shape[2]]).indexSelect(0, tensor(k.predictIndex, { shape: [B * R], dtype: 'int64', device }));
    const logprobs = model
      .lmHead(h)
      .to('float32')
      .logSoftmax(1)
      .gather(1, tensor(k.targets, { shape: [B * R, 1], dtype: 'int64', device }))
      .reshape([B, R]);
    const v = values ? linearFloat32(h, this.valueWeight, this.valueBias).reshape([B, R]) : null;
    return { logprobs, values: v };
  }

  /** One PPO update (opts.epochs passes) on a batch of rollouts and their scores. */
  step(batch: PpoBatch): PpoStats {
    const o = this.opts;
    const k = pack(batch.promptIds, batch.responseIds, this.policy.contextLength);
    const { B, R } = k;
    const tokens = k.lengths.reduce((a, b) => a + b, 0);
    if (tokens === 0) return { loss: NaN, policyLoss: NaN, valueLoss: NaN, kl: 0, meanScore: NaN, clipFraction: 0 };
    return scope(() => {
      const device = this.policy.device;
      const mask = tensor(k.responseMask, { shape: [B, R], dtype: 'float32', device });
      // rollout quantities, fixed during the update
      const old = noGrad(() => this.forward(this.policy, k, true));
      const refLp = noGrad(() => this.forward(this.ref, k, false).logprobs);
      const oldLp = old.logprobs.mul(mask);
      const oldV = old.values!.mul(mask);
      const klTok = oldLp.sub(refLp.mul(mask)).toArray();
      const vals = oldV.toArray();
      const adv = new Float32Array(B * R);
      const ret = new Float32Array(B * R);
      let klSum = 0;
      for (let b = 0; b < B; b++) {
        const n = k.lengths[b];
        if (n === 0) continue;
        const rew: number[] = [];
        for (let j = 0; j < n; j++) {
          const kl = klTok[b * R + j];
          klSum += kl;
          rew.push(-o.klCoef * kl + (j === n - 1 ? batch.scores[b] : 0));
        }
        const g = gae(rew, vals.slice(b * R, b * R + n), o.gamma, o.lam);
        for (let j = 0; j < n; j++) {
          adv[b * R + j] = g.advantages[j];
          ret[b * R + j] = g.returns[j];
        }
      }
      // whiten advantages over the real tokens
      let mean = 0;
      for (let i = 0; i < adv.length; i++) mean += adv[i] * k.responseMask[i];
      mean /= tokens;
      let varSum = 0;
      for (let i = 0; i < adv.length; i++) varSum += k.responseMask[i] * (adv[i] - mean) ** 2;
      const sd = Math.sqrt(varSum / tokens) + 1e-8;
      for (let i = 0; i < adv.length; i++) adv[i] = k.responseMask[i] ? (adv[i] - mean) / sd : 0;
      const advT = tensor(adv, { shape: [B, R], dtype: 'float32', device });
      const retT = tensor(ret, { shape: [B, R], dtype: 'float32', device });
      let last = { loss: NaN, pg: NaN, vf: NaN, clipFraction: 0 };
      for (let e = 0; e < o.epochs; e++) {
        last = scope(() => {
          const cur = this.forward(this.policy, k, true);
          const ratio = cur.logprobs.sub(oldLp).mul(mask).exp();
          const pg = maskedMean(maximum(advT.neg().mul(ratio), advT.neg().mul(ratio.clamp(1 - o.clip, 1 + o.clip))), mask, tokens);
          const v = cur.values!;
          const vClipped = oldV.add(v.sub(oldV).clamp(-o.valueClip, o.valueClip));
          const vf = maskedMean(maximum(v.sub(retT).pow(2), vClipped.sub(retT).pow(2)), mask, tokens).mul(0.5);
          const loss = pg.add(vf.mul(o.vfCoef));
          this.optimizer.zeroGrad();
          loss.backward();
          if (o.maxGradNorm > 0) clipGradNorm([...this.policy.parameters(), this.valueWeight, this.valueBias], o.maxGradNorm);
          this.optimizer.step();
          const clipped = ratio.sub(1).abs().gt(o.clip).float().mul(mask).sum().item() / tokens;
          return { loss: loss.item(), pg: pg.item(), vf: vf.item(), clipFraction: clipped };
        });
      }
      return {
        loss: last.loss,
        policyLoss: last.pg,
        valueLoss: last.vf,
        kl: klSum / B,
        meanScore: batch.scores.reduce((a, b) => a + b, 0) / B,
        clipFraction: last.clipFraction,
      };
    });
  }

  /** Value head weights (for checkpoints). */
  namedParameters(): [string, Tensor][] {
    return [
      ['v_head.weight', this.valueWeight],
      ['v_head.bias', this.valueBias],
    ];
  }

  dispose(): void {
    this.optimizer.dispose();
    this.valueWeight.dispose();
    this.valueBias.dispose();
  }
}
