import { DEFAULT_USER_CALL_TIMEOUT_MS } from '../tasks/user-call.js';
import { cpuHasFastBf16, readCpuinfo } from '../tensor/cpu-features.js';
import { BOW_DEFAULTS, LORA_OFF, deepMerge, validateConfig, METHODS, ConfigError, type Method, type RunConfig } from './config.js';

/**
 * Defaults shared by every method, sized for a small model on a CPU (a prototype's settings).
 * Every method starts from a policy warm-started with DPO on its initial gold set (paper
 * appendix A), so all methods share the same start.
 */
export const BASE_DEFAULTS: Omit<RunConfig, 'method'> = {
  task: '',
  model: '',
  chatTemplate: false,
  gradCheckpoint: false,
  out: '',
  seed: 0,
  device: 'cpu',
  threads: 0,
  taskTimeoutMs: DEFAULT_USER_CALL_TIMEOUT_MS,
  // bf16 autocast: about 4x faster on CPUs with AMX/AVX-512 bf16, several times slower on CPUs
  // without them; resolveConfig turns it off there unless the user sets it
  autocast: true,
  dtype: 'fp32',
  gold: { type: 'task' },
  budget: { gold: 320, initial: 128, rounds: 6, steps: 240, maxSilverAhead: 0 },
  rollout: {
    source: 'policy',
    labeller: 'discriminator',
    samplesPerPrompt: 2,
    batchSize: 16,
    maxNewTokens: 0,
    minNewTokens: 0,
    temperature: 1,
    topK: 0,
    topP: 1,
  },
  discriminator: {
    kind: 'rm',
    model: '',
    online: true,
    // the authors' RM (a sequence classifier) scores the last token
    pooling: 'last',
    ensembleSize: 3,
    lr: 1e-4,
    epochs: 3,
    batchSize: 16,
    trainOn: 'all',
    replaySize: 256,
    ties: 'ignore',
    frozenBackbone: false,
    startFrom: 'base',
    priorScale: 1,
    beta: 0.1,
    bowLr: BOW_DEFAULTS.lr,
    l2: BOW_DEFAULTS.l2,
  },
  policy: {
    loss: 'dpo',
    beta: 0.1,
    labelSmoothing: 0,
    lr: 5e-5,
    weightDecay: 0,
    maxGradNorm: 0,
    batchSize: 16,
    goldEpochs: 4,
  },
  init: { warmPolicy: true, policyEpochs: 4, policyLr: 2e-4, discriminatorEpochs: 6, holdout: 0 },
  selection: { strategy: 'confidence', scope: 'global', goldPair: 'silver' },
  silver: { marginThreshold: 0, skipDisagreement: false, soft: false },
  ppo: { klCoef: 0.05, gamma: 1, lam: 0.95, clip: 0.2, valueClip: 0.2, vfCoef: 0.1, epochs: 2, lr: 1e-5 },
  eval: { every: 40, prompts: 64, temperature: 0.9, topP: 0.9, accuracyPairs: 32 },
  checkpoint: { every: 40 },
  lora: LORA_OFF,
};

type Overrides = { [K in keyof RunConfig]?: RunConfig[K] extends object ? Partial<RunConfig[K]> : RunConfig[K] };

/** All gold offline (P = |D0|) over initial-policy samples: no online gold. */
const OFFLINE_BUDGET = { initial: 'all' as const, rounds: 0 };

/** What each Table 1 row changes from the defaults, with the row's description. */
export const PRESETS: Record<Method, { description: string; overrides: Overrides }> = {
  dpo: {
    description: 'DPO: all P gold labels offline on initial-policy samples; no online rollouts',
    overrides: {
      budget: { ...OFFLINE_BUDGET, steps: 0 },
      rollout: { source: 'initial', labeller: 'gold' },
      discriminator: { kind: 'none', online: false },
    },
  },
  'ppo-static-rm': {
    description: 'PPO with a reward model trained once on all P offline gold labels',
    overrides: {
      budget: OFFLINE_BUDGET,
      discriminator: { kind: 'rm', online: false },
      policy: { loss: 'ppo', goldEpochs: 0 },
    },
  },
  'opo-static-rm': {
    description: 'online DPO on silver labels from a reward model trained once on all P offline gold labels',
    overrides: { budget: OFFLINE_BUDGET, discriminator: { kind: 'rm', online: false } },
  },
  'opo-gold': {
    description: 'online DPO on gold labels only: each round samples fresh pairs, buys gold for all, trains goldEpochs (4) epochs',
    overrides: {
      rollout: { labeller: 'gold' },
      discriminator: { kind: 'none', online: false },
      policy: { goldEpochs: 4, lr: 2e-4 },
    },
  },
  d2po: {
    description: 'D2PO: silver labels from a Bradley-Terry reward model that learns online from gold rounds',
    overrides: {},
  },
  'd2po-dpo-discrim': {
    description: "D2PO with a separately DPO-trained model's implicit reward as the discriminator",
    overrides: { discriminator: { kind: 'dpo' } },
  },
  'd2po-self': {
    description: "D2PO with the policy's own implicit reward as the discriminator (it also learns from silver)",
    overrides: { discriminator: { kind: 'self' } },
  },
  'd2po-ppo': {
    description: 'D2PO with PPO policy updates on the online reward model (gold trains the reward model only)',
    overrides: { discriminator: { kind: 'rm' }, policy: { loss: 'ppo', goldEpochs: 0 } },
  },
};

export function isMethod(x: string): x is Method {
  return (METHODS as readonly string[]).includes(x);
}

/** The preset's complete config (still without task/model/out). */
export function presetConfig(method: Method): RunConfig {
  return deepMerge({ ...BASE_DEFAULTS, method } as RunConfig, PRESETS[method].overrides);
}

/**
 * preset(user.method) <- user: merges and validates. `user` may come from a JSON file and flags;
 * unknown methods and fields are reported by name.
 */
export function resolveConfig(user: Record<string, unknown>, source = 'config'): RunConfig {
  const method = user.method;
  if (typeof method !== 'string' || !isMethod(method))
    throw new ConfigError(`invalid run config (${source}):\n  method: expected one of ${METHODS.join(', ')}${method === undefined ? '' : `, got ${JSON.stringify(method)}`}`);
  const merged = deepMerge(presetConfig(method), user);
  if (user.autocast === undefined && merged.device === 'cpu') merged.autocast = cpuHasFastBf16(readCpuinfo());
  return validateConfig(merged, source);
}
