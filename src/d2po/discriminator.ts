import { join } from 'node:path';
import { AdamW, noGrad, scope, tensor, weightsChanged, type DType } from '../tensor/index.js';
import { attachNewAdapter, loadModel, type CausalLM, type LoraSpec, type PairBatch } from '../model/index.js';
import { RewardModel, type Pooling } from '../train/reward-model.js';
import { btLoss, davidsonLoss } from '../train/losses.js';
import { Rng, hashSeed } from '../util/rng.js';
import { PreferenceTrainer, implicitRewards, type FrozenLogprobs, type PrefExample } from './preference-trainer.js';
import { loadOptimizer, loadParameters, restoreTrained, saveOptimizer, saveParameters, saveTrained } from './optimizer-state.js';
import type { DiscriminatorKind } from './config.js';

/**
 * Scores responses for silver labelling and gold selection (R in Algorithm 1) and learns from
 * gold preferences. `score` gives one row per member (ensembles have several).
 */
export interface Discriminator {
  readonly kind: Exclude<DiscriminatorKind, 'none'>;
  readonly members: number;
  /** it is the policy itself: the policy's updates (gold and silver) are its updates, and it stores nothing of its own */
  readonly sharesPolicyWeights: boolean;
  score(batch: PairBatch): number[][];
  /** trains on gold preferences; returns the mean loss */
  train(ex: PrefExample[], epochs: number, seed: number): number;
  save(dir: string): Promise<void>;
  load(dir: string): Promise<void>;
  dispose(): void;
}

/** `xs` in consecutive slices of at most `n`. */
export function chunks<T>(xs: T[], n: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < xs.length; i += n) out.push(xs.slice(i, i + n));
  return out;
}

/** One Bradley-Terry reward model, or K of them trained on bootstrap resamples of the gold. */
export class RmDiscriminator implements Discriminator {
  readonly kind: 'rm' | 'rm-ensemble';
  readonly sharesPolicyWeights = false;
  private readonly optimizers: AdamW[];

  constructor(
    readonly rms: RewardModel[],
    /** baseModel: the backbone folder, recorded in LoRA adapters' configs */
    /** ties: 'davidson' trains on gold ties too (examples marked `tie`), 'ignore' drops them */
    readonly opts: { lr: number; batchSize: number; ties?: 'ignore' | 'davidson'; baseModel?: string },
  ) {
    this.kind = rms.length > 1 ? 'rm-ensemble' : 'rm';
    this.optimizers = rms.map((rm) => new AdamW(rm.parameters(), { lr: opts.lr }));
  }

  /** `lora`: adapters on each backbone (only they and the head train), else the whole backbone trains. */
  static async create(
    backboneDir: string,
    k: number,
    pooling: Pooling,
    seed: number,
    opts: { lr: number; batchSize: number; ties?: 'ignore' | 'davidson'; frozenBackbone?: boolean; device?: string; dtype?: DType; lora?: LoraSpec | null },
  ): Promise<RmDiscriminator> {
    const rms: RewardModel[] = [];
    for (let m = 0; m < k; m++) {
      const { model } = await loadModel(backboneDir, { device: opts.device as never, dtype: opts.dtype });
      model.train(false);
      if (opts.lora) attachNewAdapter(model, opts.lora, hashSeed(seed, 7919, m, 1), 'lora.targets');
      rms.push(new RewardModel(model, pooling, { seed: hashSeed(seed, 7919, m), frozenBackbone: opts.frozenBackbone }));
    }
    return new RmDiscriminator(rms, { lr: opts.lr, batchSize: opts.batchSize, ties: opts.ties, baseModel: backboneDir });
  }

  /** Every member's backbone takes `model`'s weights (same architecture and names); heads and optimizer state stay as they are. */
  startFrom(model: CausalLM): void {
    const source = new Map(model.namedParameters());
    noGrad(() => {
      for (const rm of this.rms) {
        for (const [name, p] of rm.backbone.namedParameters()) {
          const t = source.get(name);
          if (!t) throw new Error(`discriminator.startFrom: the policy has no parameter '${name}' of the reward model's backbone`);
          p.copy_(t);
        }
      }
    });
    weightsChanged();
  }

  get members(): number {
    return this.rms.length;
  }

  score(batch: PairBatch): number[][] {
    const idx = batch.promptIds.map((_, i) => i);
    return this.rms.map((rm) =>
      chunks(idx, this.opts.batchSize * 2).flatMap((c) =>
        noGrad(() => scope(() => rm.score({ promptIds: c.map((i) => batch.promptIds[i]), responseIds: c.map((i) => batch.responseIds[i]) }).toArray())),
      ),
    );
  }

  train(examples: PrefExample[], epochs: number, seed: number): number {
    const davidson = this.opts.ties === 'davidson';
    const ex = davidson ? examples : examples.filter((x) => !x.tie);
    if (ex.length === 0 || epochs === 0) return NaN;
    let total = 0;
    let steps = 0;
    this.rms.forEach((rm, m) => {
      const rng = new Rng(hashSeed(seed, m));
      // an ensemble member sees a bootstrap resample of the gold; a single RM sees it all
      const data = this.rms.length > 1 ? ex.map(() => ex[rng.int(ex.length)]) : ex;
      for (let e = 0; e < epochs; e++) {
        for (const b of chunks(rng.shuffle(data), this.opts.batchSize)) {
          total += scope(() => {
            const n = b.length;
            const s = rm.score({
              promptIds: [...b.map((x) => x.promptIds), ...b.map((x) => x.promptIds)],
              responseIds: [...b.map((x) => x.chosenIds), ...b.map((x) => x.rejectedIds)],
            });
            const [chosen, rejected] = [s.narrow(0, 0, n), s.narrow(0, n, n)];
            const loss = davidson
              ? davidsonLoss(chosen, rejected, tensor(b.map((x) => (x.tie ? 1 : 0)), { shape: [n], dtype: 'float32', device: rm.backbone.device }))
              : btLoss(chosen, rejected);
            this.optimizers[m].zeroGrad();
            loss.backward();
            this.optimizers[m].step();
            return loss.item();
          });
          steps++;
        }
      }
    });
    return total / steps;
  }

  /** Per member: the backbone and head (rm-M.safetensors), or with LoRA an adapter folder rm-M/ whose modules_to_save is the head. */
  async save(dir: string): Promise<void> {
    for (let m = 0; m < this.rms.length; m++) {
      const rm = this.rms[m];
      if (rm.backbone.adapter) await saveTrained(join(dir, `rm-${m}`), rm.backbone, { baseModel: this.opts.baseModel ?? null, taskType: 'SEQ_CLS', extra: rm.headParameters() });
      else await saveParameters(join(dir, `rm-${m}.safetensors`), rm.namedParameters(), { format: 'pt', pooling: rm.pooling });
      await saveOptimizer(join(dir, `rm-${m}-optimizer.safetensors`), this.optimizers[m]);
    }
  }

  async load(dir: string): Promise<void> {
    for (let m = 0; m < this.rms.length; m++) {
      const rm = this.rms[m];
      if (rm.backbone.adapter) await restoreTrained(join(dir, `rm-${m}`), rm.backbone, rm.headParameters());
      else await loadParameters(join(dir, `rm-${m}.safetensors`), rm.namedParameters());
      await loadOptimizer(join(dir, `rm-${m}-optimizer.safetensors`), this.optimizers[m]);
    }
  }

  dispose(): void {
    for (const o of this.optimizers) o.dispose();
    for (const rm of this.rms) rm.dispose();
  }
}

/** The implicit reward of a model trained with DPO on gold only (a separate copy of the policy). */
export class DpoDiscriminator implements Discriminator {
  readonly kind = 'dpo';
  readonly members = 1;
  readonly sharesPolicyWeights = false;
  readonly trainer: PreferenceTrainer;

  constructor(
    readonly model: CausalLM,
    readonly ref: FrozenLogprobs,
    /** baseModel: the model folder `model` was loaded from, recorded in a LoRA adapter's config */
    readonly opts: { beta: number; lr: number; batchSize: number; baseModel: string },
  ) {
    this.trainer = new PreferenceTrainer(model, ref, { loss: 'dpo', beta: opts.beta, labelSmoothing: 0, lr: opts.lr, weightDecay: 0, maxGradNorm: 0 });
  }

  score(batch: PairBatch): number[][] {
    return [implicitRewards(this.model, this.ref, this.opts.beta, batch.promptIds, batch.responseIds, this.opts.batchSize * 2)];
  }

  train(ex: PrefExample[], epochs: number, seed: number): number {
    if (ex.length === 0 || epochs === 0) return NaN;
    return this.trainer.epochs(ex, epochs, this.opts.batchSize, new Rng(seed)).loss;
  }

  async save(dir: string): Promise<void> {
    await saveTrained(join(dir, 'dpo-discriminator'), this.model, { baseModel: this.opts.baseModel });
    await saveOptimizer(join(dir, 'dpo-discriminator-optimizer.safetensors'), this.trainer.optimizer);
  }

  async load(dir: string): Promise<void> {
    await restoreTrained(join(dir, 'dpo-discriminator'), this.model);
    await loadOptimizer(join(dir, 'dpo-discriminator-optimizer.safetensors'), this.trainer.optimizer);
  }

  dispose(): void {
    this.trainer.dispose();
    this.model.dispose();
  }
}

/** The policy's own implicit reward: it learns whatever the policy learns (gold and silver). */
export class SelfDiscriminator implements Discriminator {
  readonly kind = 'self';
  readonly members = 1;
  readonly sharesPolicyWeights = true;
  constructor(
    readonly policy: CausalLM,
    readonly ref: FrozenLogprobs,
    readonly beta: number,
    readonly chunk: number,
  ) {}
  score(batch: PairBatch): number[][] {
    return [implicitRewards(this.policy, this.ref, this.beta, batch.promptIds, batch.responseIds, this.chunk)];
  }
  /** Nothing of its own to train: the policy's updates are this discriminator's updates. */
  train(): number {
    return NaN;
  }
  async save(): Promise<void> {}
  async load(): Promise<void> {}
  dispose(): void {}
}
