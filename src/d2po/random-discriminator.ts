import type { PairBatch } from '../model/index.js';
import { Rng, hashSeed } from '../util/rng.js';
import type { Discriminator } from './discriminator.js';

/**
 * The control that carries no information: each response scores a number drawn from a hash of
 * the run's seed, its prompt and its tokens, so every silver label is a fair coin (the same
 * coin on a resume) and gold teaches it nothing. D2PO with it against D2PO with a learned
 * discriminator separates what the silver labels know from what the extra on-policy DPO
 * steps do by themselves.
 */
export class RandomDiscriminator implements Discriminator {
  readonly kind = 'random';
  readonly members = 1;
  readonly sharesPolicyWeights = false;

  constructor(readonly seed: number) {}

  score(batch: PairBatch): number[][] {
    return [batch.responseIds.map((ids, i) => new Rng(hashSeed(this.seed, ...batch.promptIds[i], -1, ...ids)).next())];
  }

  train(): number {
    return NaN;
  }

  async save(): Promise<void> {}

  async load(): Promise<void> {}

  dispose(): void {}
}
