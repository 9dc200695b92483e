import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { attachNewAdapter, ChatTemplate, loadModel, WEIGHT_DTYPES, type CausalLM, type LoraSpec } from '../model/index.js';
import type { PairRecord, RunStore } from '../store/run-store.js';
import type { Device } from '../tensor/index.js';
import { PpoTrainer } from '../train/ppo.js';
import { Rng, hashSeed } from '../util/rng.js';
import { BowDiscriminator } from './bow-discriminator.js';
import { RandomDiscriminator } from './random-discriminator.js';
import type { BudgetPlan } from './budget.js';
import { ConfigError, loraSpecOf, preferenceOptions, type RunConfig } from './config.js';
import { DpoDiscriminator, RmDiscriminator, SelfDiscriminator, type Discriminator } from './discriminator.js';
import { trainedFiles } from './optimizer-state.js';
import { DpoUpdater, PpoUpdater, type PolicyUpdater } from './policy-updater.js';
import { FrozenLogprobs, PreferenceTrainer } from './preference-trainer.js';
import { TextCodec } from './rollout.js';
import { isGoldCandidate, selectForGold, type Candidate } from './selection.js';
import { EpinetDiscriminator } from './epinet-discriminator.js';

/** Stream ids for hashSeed, so that every random choice has its own reproducible stream. */
export const S = { prompts: 11, sample: 13, select: 17, disc: 19, policy: 23, replay: 37, lora: 41, valueHead: 101 } as const;

/** Picks a gold round's pairs from its candidates, best first (round r is 0-based; `lastBatch`: the step's own pairs; `n`: how many, the round's budget by default). */
export type GoldSelection = (r: number, lastBatch: PairRecord[], n?: number) => PairRecord[];

/** What a run is made of, built from its config. */
export interface RunComponents {
  policy: CausalLM;
  /** the DPO reference and PPO's KL reference: the initial policy */
  ref: CausalLM;
  refLp: FrozenLogprobs;
  codec: TextCodec;
  disc: Discriminator | null;
  updater: PolicyUpdater;
  selectGold: GoldSelection;
  /** frees every model and optimizer state */
  dispose(): void;
}

/** The files of a checkpoint folder that a restore needs, for this config: the policy, its updater's state, the discriminator's folder. */
export function checkpointFiles(c: RunConfig): string[] {
  const files = [...trainedFiles('policy', c.lora.r > 0), ...(c.policy.loss === 'ppo' ? PpoUpdater.FILES : DpoUpdater.FILES)];
  if (c.discriminator.kind !== 'none') files.push('discriminator');
  return files;
}

/**
 * Loads the policy (with LoRA adapters when asked) and its reference, and builds the
 * discriminator, the policy updater and the gold selection the config names, in a fixed
 * order (seeded draws depend on it). On failure what was built is freed.
 */
export async function buildComponents(c: RunConfig, store: RunStore, plan: BudgetPlan): Promise<RunComponents> {
  const held: { dispose(): void }[] = [];
  const dispose = () => {
    for (const h of held.reverse()) h.dispose();
  };
  try {
    const device = c.device as Device;
    const dtype = WEIGHT_DTYPES[c.dtype];
    const base = await loadModel(c.model, { device, dtype });
    if (!base.tokenizer) throw new Error(`model ${c.model} has no tokenizer.json`);
    const policy = base.model;
    held.push(policy);
    policy.train(false);
    policy.gradCheckpointing = c.gradCheckpoint;
    const lora = loraSpecOf(c);
    if (lora) attachNewAdapter(policy, lora, hashSeed(c.seed, S.lora), 'lora.targets');
    // with LoRA the reference is the same weights without the adapters: no second copy
    const ref = lora ? policy.baseModel() : policy.frozenCopy();
    held.push(ref);
    const chat = c.chatTemplate ? await ChatTemplate.of(base.tokenizer) : null;
    const codec = new TextCodec(base.tokenizer, policy.contextLength, c.rollout.maxNewTokens, base.config.bos_token_id ?? null, chat);
    // kept in the store: a resumed run reads the values the cut one computed, bit for bit
    const refLp = new FrozenLogprobs(ref, undefined, undefined, store);
    const disc = await discriminatorOf(c, policy, refLp, base.config.vocab_size, lora);
    if (disc) held.push(disc);
    const updater =
      c.policy.loss === 'ppo'
        ? new PpoUpdater(new PpoTrainer(policy, ref, { ...c.ppo, maxGradNorm: c.policy.maxGradNorm }, hashSeed(c.seed, S.valueHead)), c.policy.lr)
        : new DpoUpdater(new PreferenceTrainer(policy, refLp, preferenceOptions(c)));
    held.push(updater);
    return { policy, ref, refLp, codec, disc, updater, selectGold: goldSelection(c, store, plan), dispose };
  } catch (e) {
    dispose();
    throw e;
  }
}

/** The discriminator of `discriminator.kind` (null for none). */
async function discriminatorOf(c: RunConfig, policy: CausalLM, refLp: FrozenLogprobs, vocabSize: number, lora: LoraSpec | null): Promise<Discriminator | null> {
  const d = c.discriminator;
  const device = c.device as Device;
  const dtype = WEIGHT_DTYPES[c.dtype];
  if (d.model && d.kind !== 'self' && d.kind !== 'none') await assertSameTokenizer(c.model, d.model);
  const discLora = c.lora.discriminator ? lora : null;
  switch (d.kind) {
    case 'rm-epinet':
      return EpinetDiscriminator.create(d.model || c.model, { heads: d.ensembleSize, pooling: d.pooling, priorScale: d.priorScale, frozenBackbone: d.frozenBackbone, seed: c.seed, lr: d.lr, batchSize: d.batchSize, device, dtype });
    case 'rm':
    case 'rm-ensemble':
      return RmDiscriminator.create(d.model || c.model, d.kind === 'rm' ? 1 : d.ensembleSize, d.pooling, c.seed, { lr: d.lr, batchSize: d.batchSize, ties: d.ties, frozenBackbone: d.frozenBackbone, device, dtype, lora: discLora });
    case 'dpo': {
      const m = (await loadModel(d.model || c.model, { device, dtype })).model;
      m.train(false);
      if (discLora) attachNewAdapter(m, discLora, hashSeed(c.seed, S.lora, 1), 'lora.targets');
      return new DpoDiscriminator(m, refLp, { beta: d.beta, lr: d.lr, batchSize: d.batchSize, baseModel: d.model || c.model });
    }
    case 'bow':
      return new BowDiscriminator(vocabSize, { lr: d.bowLr, l2: d.l2, batchSize: d.batchSize });
    case 'random':
      return new RandomDiscriminator(hashSeed(c.seed, S.disc));
    case 'self':
      return new SelfDiscriminator(policy, refLp, c.policy.beta, d.batchSize * 2);
    case 'none':
      return null;
  }
}

/** Gold selection by `selection`: from every candidate of the round (global) or the step's batch, by strategy, seeded per round. */
function goldSelection(c: RunConfig, store: RunStore, plan: BudgetPlan): GoldSelection {
  return (r, lastBatch, n = plan.goldPerRound[r]) => {
    const uncertain = c.selection.goldPair === 'uncertain';
    // the pairs a prompt offers to gold: its silver pair, or (uncertain) its least separated one
    const pool = (c.selection.scope === 'global' ? store.pairsOfRound(r + 1) : lastBatch).filter((p) => isGoldCandidate(p.id) === uncertain);
    const byId = new Map(pool.map((p) => [p.id, p]));
    const cands: Candidate[] = pool.map((p) => ({ id: p.id, margins: p.scoresA!.map((s, m) => s - p.scoresB![m]), identical: p.a === p.b }));
    return selectForGold(cands, n, c.selection.strategy, new Rng(hashSeed(c.seed, S.select, r))).map((x) => byId.get(x.id)!);
  };
}

/** A discriminator scores the policy's token ids, so its backbone must share the tokenizer. */
async function assertSameTokenizer(policyDir: string, discDir: string): Promise<void> {
  const read = (dir: string) =>
    readFile(join(dir, 'tokenizer.json'), 'utf8').catch(() => {
      throw new ConfigError(`discriminator.model: no tokenizer.json in ${dir}`);
    });
  if ((await read(policyDir)) !== (await read(discDir)))
    throw new ConfigError(`discriminator.model: ${discDir} has a different tokenizer.json from the policy model ${policyDir}; the discriminator must share the policy's tokenizer`);
}
