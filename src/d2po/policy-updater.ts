import { join } from 'node:path';
import type { PpoTrainer } from '../train/ppo.js';
import type { Rng } from '../util/rng.js';
import { loadOptimizer, loadParameters, saveOptimizer, saveOptimizerState, saveParameters } from './optimizer-state.js';
import type { PreferenceTrainer, PrefExample, StepStats } from './preference-trainer.js';

/** One online step's rollouts as the policy learns from them. */
export interface SilverBatch {
  /** every sample: its prompt's ids, its own ids and the discriminator's score (mean over members) */
  promptIds: number[][];
  responseIds: number[][];
  scores: number[];
  /** the step's labelled pairs that train (skipped ones left out) */
  preferences: PrefExample[];
  /** how many pairs the step made, skipped ones included */
  pairs: number;
}

/** Fails the run on a NaN or infinite value, naming it (the loop's check, which knows the step). */
export type FiniteCheck = (what: string, value: number) => number;

/** How the policy learns online: DPO on labelled pairs or PPO on scores, each with its own checkpoint state. */
export interface PolicyUpdater {
  /** whether a silver step trains on the pairs' labels (recorded as uses), rather than on every sample's score */
  readonly learnsFromLabels: boolean;
  /** one update from a step's batch; its loss and the metrics to log (train/*) */
  silverStep(batch: SilverBatch, finite: FiniteCheck): { loss: number; metrics: Record<string, number> };
  /** epochs over gold preferences; absent when the policy does not learn from gold pairs (PPO: gold trains the reward model only) */
  trainOnGold?(ex: PrefExample[], epochs: number, batchSize: number, rng: Rng): StepStats;
  save(dir: string): Promise<void>;
  load(dir: string): Promise<void>;
  dispose(): void;
}

/** DPO (or IPO, smoothed DPO) on the step's silver pairs and on gold. */
export class DpoUpdater implements PolicyUpdater {
  /** the files `save` writes in a checkpoint folder, for checking that one is whole */
  static readonly FILES = ['policy-optimizer.safetensors'];
  readonly learnsFromLabels = true;
  constructor(readonly trainer: PreferenceTrainer) {}

  silverStep(batch: SilverBatch, finite: FiniteCheck): { loss: number; metrics: Record<string, number> } {
    const st = this.trainer.step(batch.preferences);
    const soft = batch.preferences.flatMap((p) => (p.confidence === undefined ? [] : [p.confidence]));
    if (batch.preferences.length > 0) finite('policy loss on silver pairs', st.loss);
    return {
      loss: st.loss,
      metrics: {
        'train/loss': st.loss,
        'train/accuracy': st.accuracy,
        'train/silver_used': batch.preferences.length,
        'train/silver_skipped': batch.pairs - batch.preferences.length,
        ...(soft.length && { 'train/silver_confidence': soft.reduce((a, b) => a + b, 0) / soft.length }),
      },
    };
  }

  trainOnGold(ex: PrefExample[], epochs: number, batchSize: number, rng: Rng): StepStats {
    return this.trainer.epochs(ex, epochs, batchSize, rng);
  }

  async save(dir: string): Promise<void> {
    await saveOptimizer(join(dir, 'policy-optimizer.safetensors'), this.trainer.optimizer);
  }

  async load(dir: string): Promise<void> {
    await loadOptimizer(join(dir, 'policy-optimizer.safetensors'), this.trainer.optimizer);
  }

  dispose(): void {
    this.trainer.dispose();
  }
}

/** PPO on the discriminator's score of every sample (not on the pairs' labels), with its value head. */
export class PpoUpdater implements PolicyUpdater {
  /** the files `save` writes in a checkpoint folder, for checking that one is whole */
  static readonly FILES = ['policy-optimizer.safetensors', 'value-head.safetensors', 'ppo-optimizer.safetensors'];
  readonly learnsFromLabels = false;

  constructor(
    readonly ppo: PpoTrainer,
    /** the configured policy.lr, recorded in the empty policy-optimizer file */
    readonly policyLr: number,
  ) {}

  silverStep(batch: SilverBatch, finite: FiniteCheck): { loss: number; metrics: Record<string, number> } {
    const st = this.ppo.step({ promptIds: batch.promptIds, responseIds: batch.responseIds, scores: batch.scores });
    finite('PPO loss', st.loss);
    finite('PPO KL (log-probs of the policy against the initial policy)', st.kl);
    return {
      loss: st.loss,
      metrics: {
        'train/loss': st.loss,
        'train/ppo_policy_loss': st.policyLoss,
        'train/ppo_value_loss': st.valueLoss,
        'train/ppo_kl': st.kl,
        'train/ppo_score': st.meanScore,
        'train/ppo_clip_fraction': st.clipFraction,
      },
    };
  }

  async save(dir: string): Promise<void> {
    // PPO runs' checkpoints have always held an empty DPO optimizer state beside PPO's own;
    // written still, so that they stay byte for byte what they were
    await saveOptimizerState(join(dir, 'policy-optimizer.safetensors'), { step: 0, tensors: {} }, this.policyLr);
    await saveParameters(join(dir, 'value-head.safetensors'), this.ppo.namedParameters());
    await saveOptimizer(join(dir, 'ppo-optimizer.safetensors'), this.ppo.optimizer);
  }

  async load(dir: string): Promise<void> {
    await loadParameters(join(dir, 'value-head.safetensors'), this.ppo.namedParameters());
    await loadOptimizer(join(dir, 'ppo-optimizer.safetensors'), this.ppo.optimizer);
  }

  dispose(): void {
    this.ppo.dispose();
  }
}
