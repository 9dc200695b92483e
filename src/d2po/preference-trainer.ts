import { AdamW, clipGradNorm, noGrad, scope, tensor, type Tensor } from '../tensor/index.js';
import { responseLogprobs, type CausalLM } from '../model/index.js';
import { dpoLoss, ipoLoss, logRatioMargin } from '../train/losses.js';
import type { Rng } from '../util/rng.js';

/** A preference over two responses to one prompt, as token ids. */
export interface PrefExample {
  promptIds: number[];
  chosenIds: number[];
  rejectedIds: number[];
  /** a gold tie (chosen and rejected are then a and b): only a ties-aware reward model reads it */
  tie?: true;
  /** a soft silver label: the labeller's probability that chosen beats rejected (absent: 1) */
  confidence?: number;
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

/** Where reference log-probs outlive a process: the run store keeps them, so a resumed run reads what the cut one computed. */
export interface LogprobMemo {
  refLogprobs(keys: string[]): Map<string, number>;
  putRefLogprobs(entries: [string, number][]): void;
}

/**
 * Summed response log-probs under a frozen model (the reference), memoised: the same pair is
 * scored by a discriminator, trained on as silver and again over the gold epochs. A value is
 * computed once per run: the float result of a batched forward depends on what else is in the
 * batch (its padding and shape), so recomputing it in another batch after a resume, or after the
 * in-memory cache is cleared, would train on other bits than an uncut run. With a `memo` (the
 * run store) every value is kept for the run's life.
 */
export class FrozenLogprobs {
  private readonly cache = new Map<string, number>();
  constructor(
    readonly model: CausalLM,
    readonly maxEntries = 20_000,
    readonly chunk = 64,
    readonly memo: LogprobMemo | null = null,
  ) {}

  get(promptIds: number[][], responseIds: number[][]): number[] {
    const keys = promptIds.map((p, i) => `${p.join(',')}|${responseIds[i].join(',')}`);
    let missing = keys.map((k, i) => (this.cache.has(k) ? -1 : i)).filter((i) => i >= 0);
    if (this.cache.size + missing.length > this.maxEntries) this.cache.clear();
    if (this.memo && missing.length) {
      const stored = this.memo.refLogprobs(missing.map((i) => keys[i]));
      for (const [k, v] of stored) this.cache.set(k, v);
      missing = missing.filter((i) => !stored.has(keys[i]));
    }
    const computed: [string, number][] = [];
    for (let s = 0; s < missing.length; s += this.chunk) {
      const idx = missing.slice(s, s + this.chunk);
      const batch = { promptIds: idx.map((i) => promptIds[i]), responseIds: idx.map((i) => responseIds[i]) };
      const vals = noGrad(() => scope(() => responseLogprobs(this.model, batch).sum.toArray()));
      idx.forEach((i, j) => {
        this.cache.set(keys[i], vals[j]);
        computed.push([keys[i], vals[j]]);
      });
    }
    if (this.memo && computed.length) this.memo.putRefLogprobs(computed);
    return keys.map((k) => this.cache.get(k)!);
  }
}

/**
 * DPO-family training of `model` against a frozen reference (the policy, or a DPO
 * discriminator). Loss is the mean over the pairs of a step.
 */
export class PreferenceTrainer {
  readonly optimizer: AdamW;

  constructor(
    readonly model: CausalLM,
    readonly ref: FrozenLogprobs,
    readonly opts: PreferenceOptions,
  ) {
    this.optimizer = new AdamW(model.parameters(), { lr: opts.lr, weightDecay: opts.weightDecay });
  }

  /** One optimizer step on `ex`. */
  step(ex: PrefExample[]): StepStats {
    if (ex.length === 0) return { loss: NaN, accuracy: NaN, margin: NaN };
    return scope(() => {
      const n = ex.length;
      const refAll = tensor(
        this.ref.get([...ex.map((e) => e.promptIds), ...ex.map((e) => e.promptIds)], [...ex.map((e) => e.chosenIds), ...ex.map((e) => e.rejectedIds)]),
        { dtype: 'float32', device: this.model.device },
      );
      const ref = { chosen: refAll.narrow(0, 0, n), rejected: refAll.narrow(0, n, n) };
      const pol = pairLogprobs(this.model, ex);
      const o = this.opts;
      // soft labels: each pair's own eps, 1 - its confidence
      const soft = ex.some((e) => e.confidence !== undefined) ? tensor(ex.map((e) => 1 - (e.confidence ?? 1)), { dtype: 'float32', device: this.model.device }) : null;
      const loss =
        o.loss === 'ipo'
          ? ipoLoss(pol.chosen, pol.rejected, ref.chosen, ref.rejected, { beta: o.beta })
          : dpoLoss(pol.chosen, pol.rejected, ref.chosen, ref.rejected, { beta: o.beta, labelSmoothing: soft ?? (o.loss === 'smoothed' ? o.labelSmoothing : 0) });
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
export function implicitRewards(model: CausalLM, ref: FrozenLogprobs, beta: number, promptIds: number[][], responseIds: number[][], chunk = 32): number[] {
  const refLp = ref.get(promptIds, responseIds);
  const out: number[] = [];
  for (let i = 0; i < promptIds.length; i += chunk) {
    const batch = { promptIds: promptIds.slice(i, i + chunk), responseIds: responseIds.slice(i, i + chunk) };
    out.push(...noGrad(() => scope(() => responseLogprobs(model, batch).sum.toArray())));
  }
  return out.map((lp, i) => beta * (lp - refLp[i]));
}
