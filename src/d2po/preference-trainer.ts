import { AdamW, clipGradNorm, noGrad, scope, type Tensor } from '../tensor/index.js';
import { responseLogprobs, type CausalLM } from '../model/index.js';
import { dpoLoss, ipoLoss, logRatioMargin } from '../train/losses.js';
import type { Rng } from '../util/rng.js';

/** A preference over two responses to one prompt, as token ids. */
export interface PrefExample {
  promptIds: number[];
  chosenIds: number[];
  rejectedIds: number[];
}

export interface PreferenceOptions {
  loss: 'dpo' | 'ipo' | 'smoothed';
  beta: number;
  labelSmoothing: number;
  lr: number;
  weightDecay: number;
  /** 0 = no clipping */
  maxGradNorm: number;
}

export interface StepStats {
  loss: number;
  /** share of pairs whose implicit reward already ranks chosen above rejected */
  accuracy: number;
  /** mean h (policy-vs-reference log-ratio margin) */
  margin: number;
}

/** Summed log-probs of chosen [n] and rejected [n] in one batched forward pass. */
export function pairLogprobs(model: CausalLM, ex: PrefExample[]): { chosen: Tensor; rejected: Tensor } {
  const n = ex.length;
  const { sum } = responseLogprobs(model, {
    promptIds: [...ex.map((e) => e.promptIds), ...ex.map((e) => e.promptIds)],
    responseIds: [...ex.map((e) => e.chosenIds), ...ex.map((e) => e.rejectedIds)],
  });
  return { chosen: sum.narrow(0, 0, n), rejected: sum.narrow(0, n, n) };
}

/**
 * DPO-family training of `model` against a frozen reference (the policy, or a DPO
 * discriminator). Loss is the mean over the pairs of a step.
 */
export class PreferenceTrainer {
  readonly optimizer: AdamW;

  constructor(
    readonly model: CausalLM,
    readonly ref: CausalLM,
    readonly opts: PreferenceOptions,
  ) {
    this.optimizer = new AdamW(model.parameters(), { lr: opts.lr, weightDecay: opts.weightDecay });
  }

  /** One optimizer step on `ex`. */
  step(ex: PrefExample[]): StepStats {
    if (ex.length === 0) return { loss: NaN, accuracy: NaN, margin: NaN };
    return scope(() => {
      const ref = noGrad(() => pairLogprobs(this.ref, ex));
      const pol = pairLogprobs(this.model, ex);
      const o = this.opts;
      const loss =
        o.loss === 'ipo'
          ? ipoLoss(pol.chosen, pol.rejected, ref.chosen, ref.rejected, { beta: o.beta })
          : dpoLoss(pol.chosen, pol.rejected, ref.chosen, ref.rejected, { beta: o.beta, labelSmoothing: o.loss === 'smoothed' ? o.labelSmoothing : 0 });
      this.optimizer.zeroGrad();
      loss.backward();
      if (o.maxGradNorm > 0) clipGradNorm(this.model.parameters(), o.maxGradNorm);
      this.optimizer.step();
      const h = logRatioMargin(pol.chosen.detach(), pol.rejected.detach(), ref.chosen, ref.rejected).toArray();
      return { loss: loss.item(), accuracy: h.filter((x) => x > 0).length / h.length, margin: h.reduce((a, b) => a + b, 0) / h.length };
    });
  }

  /** `epochs` shuffled passes over `ex` in minibatches of `batchSize`; mean stats over steps. */
  epochs(ex: PrefExample[], epochs: number, batchSize: number, rng: Rng): StepStats & { steps: number } {
    let loss = 0;
    let accuracy = 0;
    let margin = 0;
    let steps = 0;
    for (let e = 0; e < epochs; e++) {
      const order = rng.shuffle(ex);
      for (let i = 0; i < order.length; i += batchSize) {
        const s = this.step(order.slice(i, i + batchSize));
        loss += s.loss;
        accuracy += s.accuracy;
        margin += s.margin;
        steps++;
      }
    }
    return steps ? { loss: loss / steps, accuracy: accuracy / steps, margin: margin / steps, steps } : { loss: NaN, accuracy: NaN, margin: NaN, steps: 0 };
  }

  /** Frees the optimizer state (the models belong to the caller). */
  dispose(): void {
    this.optimizer.dispose();
  }
}

/** Implicit rewards beta (log pi - log pi_ref) of each response, computed in chunks without grad. */
export function implicitRewards(model: CausalLM, ref: CausalLM, beta: number, promptIds: number[][], responseIds: number[][], chunk = 32): number[] {
  const out: number[] = [];
  for (let i = 0; i < promptIds.length; i += chunk) {
    const batch = { promptIds: promptIds.slice(i, i + chunk), responseIds: responseIds.slice(i, i + chunk) };
    out.push(
      ...noGrad(() =>
        scope(() => responseLogprobs(model, batch).sum.sub(responseLogprobs(ref, batch).sum).mul(beta).toArray()),
      ),
    );
  }
  return out;
}
