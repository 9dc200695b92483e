import { join } from 'node:path';
import { AdamW, noGrad, scope, tensor, type DType } from '../tensor/index.js';
import { loadModel, type PairBatch } from '../model/index.js';
import { EpinetRewardModel } from '../train/epinet-reward-model.js';
import type { Pooling } from '../train/reward-model.js';
import { Rng, hashSeed } from '../util/rng.js';
import { chunks, type Discriminator } from './discriminator.js';
import type { PrefExample } from './preference-trainer.js';
import { loadOptimizer, loadParameters, saveOptimizer, saveParameters } from './optimizer-state.js';

/** Share of the gold each head trains on (its bootstrap mask). */
const KEEP = 0.5;

/**
 * The epinet-style ensemble as a discriminator (`rm-epinet`): K heads with random priors on one
 * backbone, one row of scores per head, so the ensemble rules (disagreement, variance, silver
 * skips) read it as K members. Head k trains on a fixed half of the gold: whether an example is
 * in it is a hash of its tokens and k, so it stays the same across rounds and resumes.
 */
export class EpinetDiscriminator implements Discriminator {
  readonly kind = 'rm-epinet';
  readonly sharesPolicyWeights = false;
  private readonly optimizer: AdamW;

  constructor(
    readonly model: EpinetRewardModel,
    readonly opts: { lr: number; batchSize: number; seed: number },
  ) {
    this.optimizer = new AdamW(model.parameters(), { lr: opts.lr });
  }

  static async create(
    backboneDir: string,
    o: { heads: number; pooling: Pooling; priorScale: number; frozenBackbone: boolean; seed: number; lr: number; batchSize: number; device?: string; dtype?: DType },
  ): Promise<EpinetDiscriminator> {
    const { model } = await loadModel(backboneDir, { device: o.device as never, dtype: o.dtype });
    model.train(false);
    return new EpinetDiscriminator(new EpinetRewardModel(model, o.pooling, o.heads, o.priorScale, o.frozenBackbone, hashSeed(o.seed, 7919, 2)), o);
  }

  get members(): number {
    return this.model.heads;
  }

  score(batch: PairBatch): number[][] {
    const rows: number[][] = Array.from({ length: this.members }, () => []);
    for (const c of chunks(batch.promptIds.map((_, i) => i), this.opts.batchSize * 2)) {
      const s = noGrad(() => scope(() => this.model.scores({ promptIds: c.map((i) => batch.promptIds[i]), responseIds: c.map((i) => batch.responseIds[i]) }).toArray()));
      for (let k = 0; k < this.members; k++) rows[k].push(...s.slice(k * c.length, (k + 1) * c.length));
    }
    return rows;
  }

  /** Whether head k trains on `x`: a fixed draw from the example's tokens. */
  private inMask(x: PrefExample, k: number): boolean {
    const h = hashSeed(this.opts.seed, 61, k, ...x.promptIds, -1, ...x.chosenIds, -2, ...x.rejectedIds);
    return h / 4294967296 < KEEP;
  }

  train(examples: PrefExample[], epochs: number, seed: number): number {
    const ex = examples.filter((x) => !x.tie);
    if (ex.length === 0 || epochs === 0) return NaN;
    const K = this.members;
    const rng = new Rng(seed);
    let total = 0;
    let steps = 0;
    for (let e = 0; e < epochs; e++) {
      for (const b of chunks(rng.shuffle(ex), this.opts.batchSize)) {
        const n = b.length;
        const mask = Float32Array.from({ length: K * n }, (_, j) => (this.inMask(b[j % n], Math.floor(j / n)) ? 1 : 0));
        const kept = mask.reduce((a, v) => a + v, 0);
        if (kept === 0) continue;
        total += scope(() => {
          const s = this.model.scores({ promptIds: [...b, ...b].map((x) => x.promptIds), responseIds: [...b.map((x) => x.chosenIds), ...b.map((x) => x.rejectedIds)] });
          // each head's Bradley-Terry loss on its own share of the batch
          const losses = s.narrow(1, 0, n).sub(s.narrow(1, n, n)).logsigmoid().neg();
          const loss = losses.mul(tensor(mask, { shape: [K, n], dtype: 'float32', device: this.model.backbone.device })).sum().div(kept);
          this.optimizer.zeroGrad();
          loss.backward();
          this.optimizer.step();
          return loss.item();
        });
        steps++;
      }
    }
    return steps ? total / steps : NaN;
  }

  async save(dir: string): Promise<void> {
    await saveParameters(join(dir, 'epinet.safetensors'), this.model.namedParameters(), { format: 'pt', pooling: this.model.pooling });
    await saveOptimizer(join(dir, 'epinet-optimizer.safetensors'), this.optimizer);
  }

  async load(dir: string): Promise<void> {
    await loadParameters(join(dir, 'epinet.safetensors'), this.model.namedParameters());
    await loadOptimizer(join(dir, 'epinet-optimizer.safetensors'), this.optimizer);
  }

  dispose(): void {
    this.optimizer.dispose();
    this.model.dispose();
  }
}
