import { z } from 'zod';
import { parseGoldConfig } from '../gold/config.js';
import { DEFAULT_USER_CALL_TIMEOUT_MS } from '../tasks/user-call.js';
import { MAX_SEED } from '../util/rng.js';
import type { LoraSpec } from '../model/index.js';
import type { PreferenceOptions } from './preference-trainer.js';

const DISCRIMINATOR_KINDS = ['rm', 'rm-ensemble', 'rm-epinet', 'dpo', 'self', 'bow', 'random', 'none'] as const;
export type DiscriminatorKind = (typeof DISCRIMINATOR_KINDS)[number];

/** Whether gold trains a discriminator of this kind's own weights (its warm start and its gold rounds). */
export function trainsOnGold(kind: DiscriminatorKind): boolean {
  return kind !== 'self' && kind !== 'random' && kind !== 'none';
}

/** The eight rows of the paper's Table 1, by name. */
export const METHODS = [
  'dpo',
  'ppo-static-rm',
  'opo-static-rm',
  'opo-gold',
  'd2po',
  'd2po-dpo-discrim',
  'd2po-self',
  'd2po-ppo',
] as const;
export type Method = (typeof METHODS)[number];

const int = z.number().int();
const posInt = int.positive();
const nonNegInt = int.nonnegative();
const posNum = z.number().positive();
const prob = z.number().gt(0).lte(1);

/** The bow discriminator's settings; the defaults also fill in runs stored before the fields existed. */
export const BOW_DEFAULTS = { lr: 0.05, l2: 1e-3 };

/** LoRA off (r = 0); also what runs stored before the field existed take. */
export const LORA_OFF = { r: 0, alpha: 16, dropout: 0, targets: [] as string[], discriminator: false };

const device = z
  .string()
  .regex(/^(cpu|cuda|cuda:\d+)$/, "expected 'cpu', 'cuda' or 'cuda:N'");

/**
 * The complete, resolved configuration of one run (a preset merged with the user's file and
 * flags). Every field is required here; defaults live in the presets, so a stored config says
 * exactly what ran.
 */
export const runConfigSchema = z.strictObject({
  method: z.enum(METHODS),
  task: z.string().min(1),
  /** policy base model folder (config.json + model.safetensors + tokenizer.json) */
  model: z.string().min(1),
  /**
   * wrap each prompt in the model's chat template (one user turn, add_generation_prompt) before
   * encoding; the default fills it in for runs stored before the field existed
   */
  chatTemplate: z.boolean().default(false),
  out: z.string().min(1),
  seed: int.min(0, `expected an integer in 0..${MAX_SEED}`).max(MAX_SEED, `expected an integer in 0..${MAX_SEED}`),
  device,
  /** libtorch threads; 0 = leave libtorch's default */
  threads: nonNegInt,
  /**
   * most milliseconds one call into a custom task module may take; the default fills it in for
   * runs stored before the field existed
   */
  taskTimeoutMs: posInt.default(DEFAULT_USER_CALL_TIMEOUT_MS),
  /** bf16 autocast for forward passes */
  autocast: z.boolean(),
  /** how model weights are held (policy, reference, discriminator backbones); runs stored before the field held fp32 */
  dtype: z.enum(['fp32', 'bf16']).default('fp32'),
  /**
   * gradient checkpointing of the policy: each decoder layer recomputed in the backward pass
   * instead of keeping its activations (less memory, one more forward pass of time per step); runs
   * stored before the field existed had it off
   */
  gradCheckpoint: z.boolean().default(false),
  /** passed to createGoldSource; `{type:'task'}` = the task's gold reward */
  gold: z.looseObject({ type: z.string().min(1) }),
  budget: z.strictObject({
    /** P: total gold labels, initial offline set included */
    gold: posInt,
    /** |D0|: gold labels spent on the initial offline set (counted in P); 'all' = P */
    initial: z.union([nonNegInt, z.literal('all')]),
    /** T_P: online gold rounds */
    rounds: nonNegInt,
    /** N: online policy steps (silver batches); ignored by methods whose labeller is gold */
    steps: nonNegInt,
    /**
     * silver steps the policy may take past a gold round whose answers have not all come (people,
     * slow judges); the answers are folded in at the first step boundary after they are in, and
     * the loop waits, visibly, when the oldest open round is this many steps behind. 0 = wait at
     * the round, as Algorithm 1 does
     */
    maxSilverAhead: nonNegInt.default(0),
  }),
  rollout: z.strictObject({
    /** where online rollouts come from: the current policy, or the initial policy (offline) */
    source: z.enum(['policy', 'initial']),
    /** who labels the online pairs the policy trains on */
    labeller: z.enum(['discriminator', 'gold']),
    /** samples per prompt; k > 2 pairs best against worst by the labeller */
    samplesPerPrompt: int.min(2),
    /** prompts per online step */
    batchSize: posInt,
    /** 0 = the task's generation.maxNewTokens (or 48) */
    maxNewTokens: nonNegInt,
    minNewTokens: nonNegInt,
    temperature: posNum,
    topK: nonNegInt,
    topP: prob,
  }),
  discriminator: z.strictObject({
    /** 'bow': a Bradley-Terry model on token presence, the floor a learned discriminator must beat */
    /** 'random': a fair coin per pair, the control that knows nothing */
    kind: z.enum(DISCRIMINATOR_KINDS),
    /** backbone folder for rm kinds; '' = the policy base model */
    model: z.string(),
    /** learns from gold labels after each gold round */
    online: z.boolean(),
    /** reward-model pooling over the response: last token, mean or sum of per-token scores */
    pooling: z.enum(['last', 'mean', 'sum']),
    ensembleSize: posInt,
    lr: posNum,
    /** epochs over gold labels at each gold round */
    epochs: posInt,
    batchSize: posInt,
    /**
     * which gold each round's update covers: all gold so far, the new round only, or the new
     * round plus `replaySize` earlier gold labels drawn afresh each round (cost independent of
     * the gold so far)
     */
    trainOn: z.enum(['all', 'round', 'replay']),
    /** earlier gold examples replayed with each round's new gold when trainOn is 'replay' */
    replaySize: nonNegInt.default(256),
    /**
     * what a reward model makes of a gold tie: 'ignore' (Bradley-Terry, ties train nothing) or
     * 'davidson' (Davidson's ties-aware likelihood, nu = 1: a tie is evidence the two are close)
     */
    ties: z.enum(['ignore', 'davidson']).default('ignore'),
    /** a reward model as a linear probe: its head trains on the backbone's features, the backbone stays as loaded */
    frozenBackbone: z.boolean().default(false),
    /**
     * where a reward model's backbone starts: the base model ('base'), or the warm-started policy
     * ('warm-policy': its weights copied in after the policy's warm start, before the reward model's)
     */
    startFrom: z.enum(['base', 'warm-policy']).default('base'),
    /** rm-epinet: weight of each head's fixed random prior head (0: a plain multi-head ensemble) */
    priorScale: z.number().min(0).default(1),
    /** beta of the implicit reward of a dpo discriminator */
    beta: posNum,
    /** Adam learning rate of a bow discriminator (its weights are per token, not a network's) */
    bowLr: posNum.default(BOW_DEFAULTS.lr),
    /** L2 penalty (l2 / 2) |w|^2 on a bow discriminator's weights */
    l2: z.number().min(0).default(BOW_DEFAULTS.l2),
  }),
  policy: z.strictObject({
    loss: z.enum(['dpo', 'ipo', 'smoothed', 'ppo']),
    beta: posNum,
    /** label smoothing for loss 'smoothed' (conservative DPO); must be 0 otherwise */
    labelSmoothing: z.number().min(0).lt(0.5),
    lr: posNum,
    weightDecay: z.number().min(0),
    /** 0 = no clipping */
    maxGradNorm: z.number().min(0),
    /** minibatch (pairs) for gold-batch and warm-start updates */
    batchSize: posInt,
    /** policy epochs over each gold round's pairs (OPO-gold: 4) */
    goldEpochs: nonNegInt,
  }),
  init: z.strictObject({
    /** DPO warm start of the policy on the initial gold set */
    warmPolicy: z.boolean(),
    policyEpochs: nonNegInt,
    policyLr: posNum,
    /** Bradley-Terry (or DPO) epochs of the discriminator on the initial gold set */
    discriminatorEpochs: nonNegInt,
    /**
     * share of the initial gold held out to early-stop both warm starts: policyEpochs and
     * discriminatorEpochs become maxima, and the epoch best on the held-out pairs is kept
     * (0 = train every epoch on all of it)
     */
    holdout: z.number().min(0).max(0.5).default(0),
  }),
  selection: z.strictObject({
    strategy: z.enum(['confidence', 'random', 'disagreement', 'variance']),
    /** candidates: all since the last gold round (the paper) or the last batch only (authors' code) */
    scope: z.enum(['global', 'batch']),
    /**
     * with k > 2 samples per prompt, the pair of a prompt that may go to gold: its silver pair
     * (the discriminator's best against its worst, the surest pair), or 'uncertain': the pair of
     * its k(k-1)/2 that the discriminator tells apart least (the silver pair still trains the policy)
     */
    goldPair: z.enum(['silver', 'uncertain']).default('silver'),
  }),
  silver: z.strictObject({
    /** silver pairs whose |margin| is below this train nothing */
    marginThreshold: z.number().min(0),
    /** skip silver pairs on which ensemble members disagree in sign */
    skipDisagreement: z.boolean(),
    /**
     * soft silver labels: each silver pair trains the policy toward the discriminator's
     * probability sigmoid(|margin|) that its choice is right (DPO with that pair's label
     * smoothing 1 - p), not toward certainty
     */
    soft: z.boolean().default(false),
  }),
  ppo: z.strictObject({
    klCoef: z.number().min(0),
    gamma: z.number().gt(0).lte(1),
    lam: z.number().min(0).lte(1),
    clip: posNum,
    valueClip: posNum,
    vfCoef: z.number().min(0),
    epochs: posInt,
    lr: posNum,
  }),
  eval: z.strictObject({
    /** evaluate every this many steps (0 = only at start and end) */
    every: nonNegInt,
    prompts: posInt,
    temperature: posNum,
    topP: prob,
    /** fresh current-policy pairs for discriminator / implicit-reward accuracy */
    accuracyPairs: nonNegInt,
  }),
  checkpoint: z.strictObject({
    /** checkpoint every this many steps (0 = only after warm start and at the end) */
    every: nonNegInt,
  }),
  /**
   * LoRA adapters (PEFT's) train instead of the whole policy; the DPO reference is then the base
   * weights without adapters, and checkpoints hold the adapters only
   */
  lora: z
    .strictObject({
      /** rank; 0 = off (full fine-tuning) */
      r: nonNegInt,
      alpha: posNum,
      dropout: z.number().min(0).lt(1),
      /** module names as PEFT's target_modules spells them: q_proj, v_proj (OPT); c_attn (GPT-2) */
      targets: z.array(z.string().min(1)),
      /** adapters on the discriminator's backbone too (rm, rm-ensemble, dpo); a reward model's head trains fully */
      discriminator: z.boolean(),
    })
    .default(LORA_OFF),
});

export type RunConfig = z.infer<typeof runConfigSchema>;

/** A user's partial config: any subset of the fields; `method` picks the preset beneath it. */
export type PartialConfig = { [K in keyof RunConfig]?: RunConfig[K] extends object ? Partial<RunConfig[K]> : RunConfig[K] } & {
  method?: Method;
};

/** Thrown for an invalid config; the message names the source and every offending field. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

function describeIssues(issues: z.core.$ZodIssue[], source: string): string {
  const lines = issues.map((i) => {
    const path = i.path.length ? i.path.join('.') : '(root)';
    if (i.code === 'unrecognized_keys') {
      const keys = i.keys.map((k) => (i.path.length ? `${path}.${k}` : k));
      return `  ${keys.join(', ')}: unknown field`;
    }
    return `  ${path}: ${i.message}`;
  });
  return `invalid run config (${source}):\n${lines.join('\n')}`;
}

/** Validates a complete config, then the rules that tie fields together. */
export function validateConfig(raw: unknown, source = 'config'): RunConfig {
  const r = runConfigSchema.safeParse(raw);
  if (!r.success) throw new ConfigError(describeIssues(r.error.issues, source));
  const c = r.data;
  const problems: string[] = [];
  const bad = (field: string, msg: string) => problems.push(`  ${field}: ${msg}`);
  const initial = c.budget.initial === 'all' ? c.budget.gold : c.budget.initial;
  if (initial > c.budget.gold) bad('budget.initial', `initial gold set (${initial}) exceeds the gold budget budget.gold (${c.budget.gold})`);
  const online = c.budget.gold - initial;
  if (online > 0 && c.budget.rounds === 0) bad('budget.rounds', `${online} online gold labels need at least one gold round`);
  if (online === 0 && c.budget.rounds > 0) bad('budget.rounds', `no online gold left (budget.gold = budget.initial) but ${c.budget.rounds} rounds requested`);
  if (c.budget.rounds > 0 && online > 0 && online < c.budget.rounds)
    bad('budget.rounds', `${online} online gold labels cannot fill ${c.budget.rounds} rounds`);
  const silver = c.rollout.labeller === 'discriminator';
  if (silver) {
    if (c.discriminator.kind === 'none') bad('discriminator.kind', "labeller 'discriminator' needs a discriminator");
    if (c.budget.steps === 0) bad('budget.steps', 'a discriminator-labelled method needs at least one step');
    if (c.budget.rounds > c.budget.steps) bad('budget.rounds', `more gold rounds (${c.budget.rounds}) than steps (${c.budget.steps})`);
    if (c.budget.rounds > 0 && c.selection.scope === 'global') {
      const pool = Math.floor(c.budget.steps / c.budget.rounds) * c.rollout.batchSize;
      const perRound = Math.ceil(online / c.budget.rounds);
      if (perRound > pool)
        bad('budget.gold', `a round needs ${perRound} gold pairs but only ${pool} candidates are sampled per round (steps/rounds x rollout.batchSize)`);
    }
    if (c.budget.rounds > 0 && c.selection.scope === 'batch' && Math.ceil(online / c.budget.rounds) > c.rollout.batchSize)
      bad('selection.scope', `'batch' selection draws from one batch of ${c.rollout.batchSize} pairs, fewer than a round's gold`);
  }
  if (!silver && c.rollout.samplesPerPrompt !== 2)
    bad('rollout.samplesPerPrompt', 'best-vs-worst of k > 2 samples needs a discriminator to rank them; gold labels pairs');
  const ensemble = c.discriminator.kind === 'rm-ensemble' || c.discriminator.kind === 'rm-epinet';
  if ((c.selection.strategy === 'disagreement' || c.selection.strategy === 'variance') && !ensemble)
    bad('selection.strategy', `'${c.selection.strategy}' needs several members: discriminator.kind 'rm-ensemble' or 'rm-epinet'`);
  if (c.silver.skipDisagreement && !ensemble) bad('silver.skipDisagreement', "needs discriminator.kind 'rm-ensemble' or 'rm-epinet'");
  if (c.selection.goldPair === 'uncertain' && c.rollout.samplesPerPrompt < 3)
    bad('selection.goldPair', `'uncertain' chooses among a prompt's k(k-1)/2 pairs; with rollout.samplesPerPrompt ${c.rollout.samplesPerPrompt} there is one`);
  if (c.silver.soft && c.policy.loss !== 'dpo') bad('silver.soft', `soft silver labels are DPO's per-pair label smoothing; policy.loss is '${c.policy.loss}'`);
  if (c.discriminator.ties === 'davidson' && c.discriminator.kind !== 'rm' && c.discriminator.kind !== 'rm-ensemble')
    bad('discriminator.ties', `'davidson' is a reward model's likelihood; discriminator.kind '${c.discriminator.kind}' ignores ties`);
  if (c.discriminator.frozenBackbone && !['rm', 'rm-ensemble', 'rm-epinet'].includes(c.discriminator.kind))
    bad('discriminator.frozenBackbone', `only a reward model has a head to probe with; discriminator.kind is '${c.discriminator.kind}'`);
  if (c.discriminator.frozenBackbone && c.lora.discriminator) bad('lora.discriminator', 'a frozen backbone takes no adapters (discriminator.frozenBackbone is on)');
  if (c.discriminator.startFrom === 'warm-policy') {
    const why = 'starts the reward model from the warm-started policy';
    if (c.discriminator.kind !== 'rm' && c.discriminator.kind !== 'rm-ensemble')
      bad('discriminator.startFrom', `'warm-policy' is a reward model's backbone (rm or rm-ensemble); discriminator.kind is '${c.discriminator.kind}'`);
    if (!c.init.warmPolicy || c.init.policyEpochs === 0) bad('discriminator.startFrom', `'warm-policy' ${why}, but there is no policy warm start (init.warmPolicy, init.policyEpochs)`);
    if (c.discriminator.model && c.discriminator.model !== c.model)
      bad('discriminator.model', `'warm-policy' (discriminator.startFrom) ${why}; the backbone must be the policy's model, not '${c.discriminator.model}'`);
    if (c.lora.r > 0) bad('lora.r', `discriminator.startFrom 'warm-policy' ${why}, whose warm start under LoRA is an adapter, not the whole weights`);
  }
  if (ensemble && c.discriminator.ensembleSize < 2) bad('discriminator.ensembleSize', 'an ensemble needs at least 2 members');
  if (c.discriminator.kind === 'rm-epinet' && c.lora.discriminator) bad('lora.discriminator', "'rm-epinet' trains its heads on the whole backbone or a frozen one, not adapters");
  if (c.policy.loss !== 'smoothed' && c.policy.labelSmoothing !== 0)
    bad('policy.labelSmoothing', "only used with policy.loss 'smoothed'; set it to 0 or change the loss");
  if (c.policy.loss === 'ppo' && c.discriminator.kind !== 'rm' && c.discriminator.kind !== 'rm-ensemble')
    bad('policy.loss', "'ppo' needs a reward model discriminator (rm or rm-ensemble)");
  if (c.policy.loss === 'ppo' && c.policy.goldEpochs > 0)
    bad('policy.goldEpochs', "PPO learns from the reward model; gold trains the reward model only: set it to 0");
  if (c.policy.loss === 'ppo' && !silver) bad('policy.loss', "'ppo' needs rollout.labeller 'discriminator' (rewards come from the RM)");
  if (c.discriminator.kind === 'self' && c.rollout.source !== 'policy')
    bad('discriminator.kind', "'self' scores with the policy; use rollout.source 'policy'");
  if (!silver && c.rollout.source === 'initial' && online > 0)
    bad('rollout.source', "online gold rounds with rollout.source 'initial' are offline DPO; put the gold in budget.initial");
  if (initial === 0 && c.init.warmPolicy) bad('init.warmPolicy', 'no initial gold set (budget.initial = 0) to warm start on');
  if (c.lora.r > 0 && c.lora.targets.length === 0) bad('lora.targets', 'LoRA (lora.r > 0) needs target modules, e.g. ["q_proj", "v_proj"] for OPT or ["c_attn"] for GPT-2');
  if (c.lora.r === 0 && c.lora.discriminator) bad('lora.discriminator', 'needs LoRA on (lora.r > 0)');
  if (c.lora.discriminator && !['rm', 'rm-ensemble', 'dpo'].includes(c.discriminator.kind))
    bad('lora.discriminator', `discriminator.kind '${c.discriminator.kind}' has no backbone of its own to adapt (rm, rm-ensemble and dpo do)`);
  try {
    parseGoldConfig(c.gold, 'gold');
  } catch (e) {
    problems.push(`  ${(e as Error).message}`);
  }
  if (problems.length) throw new ConfigError(`invalid run config (${source}):\n${problems.join('\n')}`);
  return c;
}

function isPlainObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

/** Deep merge of plain objects (arrays and scalars in `over` replace those in `base`). */
export function deepMerge<T>(base: T, over: unknown): T {
  if (!isPlainObject(base) || !isPlainObject(over)) return (over === undefined ? base : over) as T;
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) {
    if (v === undefined) continue;
    out[k] = k in base ? deepMerge((base as Record<string, unknown>)[k], v) : v;
  }
  return out as T;
}

/** Sets `a.b.c` = value in a nested plain object (for --set style flags). */
export function setPath(obj: Record<string, unknown>, path: string, value: unknown): void {
  const keys = path.split('.');
  let cur: Record<string, unknown> = obj;
  for (const k of keys.slice(0, -1)) {
    if (!isPlainObject(cur[k])) cur[k] = {};
    cur = cur[k] as Record<string, unknown>;
  }
  cur[keys[keys.length - 1]] = value;
}

/** The initial gold set size with 'all' resolved. */
export function initialGold(c: RunConfig): number {
  return c.budget.initial === 'all' ? c.budget.gold : c.budget.initial;
}

/** The run's LoRA settings as adapters take them, or null when LoRA is off. */
export function loraSpecOf(c: RunConfig): LoraSpec | null {
  const l = c.lora;
  return l.r > 0 ? { r: l.r, alpha: l.alpha, dropout: l.dropout, targets: l.targets, rslora: false } : null;
}

/** The policy's DPO-family settings (PPO runs warm-start their policy with DPO). */
export function preferenceOptions(c: RunConfig): PreferenceOptions {
  const p = c.policy;
  return { loss: p.loss === 'ppo' ? 'dpo' : p.loss, beta: p.beta, labelSmoothing: p.labelSmoothing, lr: p.lr, weightDecay: p.weightDecay, maxGradNorm: p.maxGradNorm };
}
