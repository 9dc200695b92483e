import { join } from 'node:path';
import type { PairBatch } from '../model/index.js';
import { Rng, hashSeed } from '../util/rng.js';
import type { Discriminator } from './discriminator.js';
import type { PrefExample } from './preference-trainer.js';
import { loadVectors, saveVectors } from './optimizer-state.js';

const BETA1 = 0.9;
const BETA2 = 0.999;
const EPS = 1e-8;
const FILE = 'bow.safetensors';

/** The distinct token ids of a response, ascending: its bag of tokens as a 0/1 feature vector. */
export function tokenSet(ids: readonly number[], vocabSize: number): number[] {
  const set = [...new Set(ids)].sort((a, b) => a - b);
  const bad = set.find((t) => !Number.isInteger(t) || t < 0 || t >= vocabSize);
  if (bad !== undefined) throw new Error(`bow discriminator: token id ${bad} is outside the vocabulary (size ${vocabSize})`);
  return set;
}

function softplus(x: number): number {
  return x > 0 ? x + Math.log1p(Math.exp(-x)) : Math.log1p(Math.exp(x));
}

/**
 * The floor every learned discriminator must beat: a Bradley-Terry model on token presence,
 * r(x, y) = sum of w[t] over the distinct tokens t of y (the prompt is not read), trained with
 * Adam on the BT loss plus (l2 / 2) |w|^2. No network, so no autocast and no device: plain
 * float32 weights in JavaScript.
 */
export class BowDiscriminator implements Discriminator {
  readonly kind = 'bow';
  readonly members = 1;
  readonly sharesPolicyWeights = false;
  private w: Float32Array;
  private m: Float32Array;
  private v: Float32Array;
  private steps = 0;

  constructor(
    readonly vocabSize: number,
    readonly opts: { lr: number; l2: number; batchSize: number },
  ) {
    this.w = new Float32Array(vocabSize);
    this.m = new Float32Array(vocabSize);
    this.v = new Float32Array(vocabSize);
  }

  /** A copy of the per-token weights. */
  weights(): Float32Array {
    return this.w.slice();
  }

  /** r(y): the weights of y's distinct tokens, summed in ascending token order. */
  scoreOne(responseIds: readonly number[]): number {
    let s = 0;
    for (const t of tokenSet(responseIds, this.vocabSize)) s += this.w[t];
    return s;
  }

  score(batch: PairBatch): number[][] {
    return [batch.responseIds.map((ids) => this.scoreOne(ids))];
  }

  train(ex: PrefExample[], epochs: number, seed: number): number {
    if (ex.length === 0 || epochs === 0) return NaN;
    // phi(chosen) - phi(rejected) as sparse (token, +-1) lists: tokens in both cancel
    const diffs = ex.map((e) => {
      const c = new Set(tokenSet(e.chosenIds, this.vocabSize));
      const r = new Set(tokenSet(e.rejectedIds, this.vocabSize));
      return [...[...c].filter((t) => !r.has(t)).map((t) => [t, 1]), ...[...r].filter((t) => !c.has(t)).map((t) => [t, -1])] as [number, number][];
    });
    const rng = new Rng(hashSeed(seed, 0));
    const order = diffs.map((_, i) => i);
    const grad = new Float64Array(this.vocabSize);
    let total = 0;
    let batches = 0;
    for (let e = 0; e < epochs; e++) {
      const shuffled = rng.shuffle(order);
      for (let b = 0; b < shuffled.length; b += this.opts.batchSize) {
        const idx = shuffled.slice(b, b + this.opts.batchSize);
        grad.fill(0);
        let loss = 0;
        for (const i of idx) {
          let margin = 0;
          for (const [t, s] of diffs[i]) margin += s * this.w[t];
          loss += softplus(-margin);
          // d softplus(-margin) / d margin = -sigmoid(-margin)
          const g = -1 / (1 + Math.exp(margin)) / idx.length;
          for (const [t, s] of diffs[i]) grad[t] += g * s;
        }
        total += loss / idx.length;
        batches++;
        this.adamStep(grad);
      }
    }
    return total / batches;
  }

  /** One Adam step on grad + l2 * w (the L2 penalty's gradient, over every weight). */
  private adamStep(grad: Float64Array): void {
    this.steps++;
    const { lr, l2 } = this.opts;
    const c1 = 1 - BETA1 ** this.steps;
    const c2 = 1 - BETA2 ** this.steps;
    for (let t = 0; t < this.vocabSize; t++) {
      const g = grad[t] + l2 * this.w[t];
      this.m[t] = BETA1 * this.m[t] + (1 - BETA1) * g;
      this.v[t] = BETA2 * this.v[t] + (1 - BETA2) * g * g;
      this.w[t] -= (lr * (this.m[t] / c1)) / (Math.sqrt(this.v[t] / c2) + EPS);
    }
  }

  async save(dir: string): Promise<void> {
    await saveVectors(join(dir, FILE), { weight: this.w, adam_m: this.m, adam_v: this.v }, { format: 'pt', kind: 'bow', step: String(this.steps) });
  }

  async load(dir: string): Promise<void> {
    const path = join(dir, FILE);
    const { vectors, metadata } = await loadVectors(path, { what: 'bow discriminator state', names: ['weight', 'adam_m', 'adam_v'], length: this.vocabSize, lengthName: 'the vocabulary size' });
    const steps = Number(metadata.step);
    if (!Number.isInteger(steps) || steps < 0) throw new Error(`${path}: metadata step: expected a non-negative integer, got ${JSON.stringify(metadata.step)}`);
    [this.w, this.m, this.v, this.steps] = [vectors.weight, vectors.adam_m, vectors.adam_v, steps];
  }

  dispose(): void {}
}
