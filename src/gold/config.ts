/** Zod schemas of the gold-source configs, and the error that names the offending field. */
import { z } from 'zod';
import { ASPECTS } from './ultrafeedback-rubric.js';

export class GoldConfigError extends Error {
  override name = 'GoldConfigError';
}

const retryFields = {
  /** Attempts after the first, on 408/429, 5xx, timeouts and network errors. */
  retries: z.int().min(0).max(20).default(5),
  initialBackoffMs: z.number().min(0).default(1000),
  maxBackoffMs: z.number().min(0).default(30_000),
  /** Longest Retry-After honoured as given; longer ones are cut to this. */
  maxRetryAfterMs: z.number().min(0).default(120_000),
  /** Per request, whole body included. */
  timeoutMs: z.number().positive().default(60_000),
};

/** The task's own reward ('task' and 'reward-function' are the same source). */
export const rewardFunctionGoldSchema = z.strictObject({
  type: z.enum(['task', 'reward-function']),
  /** Score differences up to this are ties. */
  tieEpsilon: z.number().min(0).default(0),
});

export const llmJudgeGoldSchema = z.strictObject({
  type: z.literal('llm-judge'),
  /** Else D2PO_JUDGE_BASE_URL. Requests go to `${baseUrl}/chat/completions`. */
  baseUrl: z.url({ protocol: /^https?$/ }).optional(),
  /** Else D2PO_JUDGE_MODEL. */
  model: z.string().min(1).optional(),
  /**
   * Used by this process only and never stored (run.db keeps "[redacted]"): a resumed run reads
   * the key from apiKeyEnv, apiKeyFile, D2PO_JUDGE_API_KEY or OPENAI_API_KEY, in that order.
   */
  apiKey: z.string().min(1).optional(),
  /** Name of the environment variable holding the key (stored: it is a reference). */
  apiKeyEnv: z.string().min(1).optional(),
  /** Path of a file holding the key (stored: it is a reference; the file's content is not). */
  apiKeyFile: z.string().min(1).optional(),
  aspects: z.array(z.enum(ASPECTS as ['instruction-following', 'helpfulness'])).min(1).default([...ASPECTS]),
  concurrency: z.int().min(1).default(4),
  /** Extra requests (with a format reminder) when an answer has no readable ratings. */
  parseRetries: z.int().min(0).max(10).default(2),
  maxTokens: z.int().positive().optional(),
  /** USD per million tokens; without them costs are counted in tokens only. */
  prices: z.strictObject({ inputPer1M: z.number().min(0), outputPer1M: z.number().min(0) }).optional(),
  /** Seeds the order the two responses are shown in. */
  seed: z.int().default(0),
  tieEpsilon: z.number().min(0).default(0),
  /** SQLite file of cached verdicts; else D2PO_JUDGE_CACHE, else ~/.cache/d2po/judge-cache.sqlite (shared by all runs). */
  cachePath: z.string().min(1).optional(),
  /** Merged into each request body, e.g. provider-specific options. */
  extraBody: z.record(z.string(), z.unknown()).optional(),
  ...retryFields,
});

export const remoteRewardGoldSchema = z.strictObject({
  type: z.literal('remote-reward'),
  /** Else D2PO_REWARD_URL. The full URL that is POSTed to. */
  url: z.url({ protocol: /^https?$/ }).optional(),
  /** Bearer token, used by this process only and never stored: else tokenEnv, tokenFile, D2PO_REWARD_TOKEN; none sent when unset. */
  token: z.string().min(1).optional(),
  tokenEnv: z.string().min(1).optional(),
  /** Path of a file holding the token (stored: it is a reference; the file's content is not). */
  tokenFile: z.string().min(1).optional(),
  /** Most (prompt, response) inputs per request; a pair is two inputs. */
  batchSize: z.int().min(1).default(32),
  concurrency: z.int().min(1).default(2),
  tieEpsilon: z.number().min(0).default(0),
  /** Whether calls cost money (callers then buy labels in smaller chunks). */
  paid: z.boolean().default(false),
  ...retryFields,
});

/** People labelling through `d2po serve`: their answers reach the run's ledger, where the loop waits for them. */
export const peopleGoldSchema = z.strictObject({
  type: z.literal('people'),
  /** How often the waiting loop reads the ledger for new answers. */
  pollMs: z.int().min(10).max(60_000).default(1000),
});

export type RewardFunctionGoldConfig = z.infer<typeof rewardFunctionGoldSchema>;
export type LlmJudgeGoldConfig = z.infer<typeof llmJudgeGoldSchema>;
export type RemoteRewardGoldConfig = z.infer<typeof remoteRewardGoldSchema>;
export type PeopleGoldConfig = z.infer<typeof peopleGoldSchema>;
export type GoldConfig = RewardFunctionGoldConfig | LlmJudgeGoldConfig | RemoteRewardGoldConfig | PeopleGoldConfig;
/** What a user writes: defaults may be left out. */
export type GoldConfigInput =
  | z.input<typeof rewardFunctionGoldSchema>
  | z.input<typeof llmJudgeGoldSchema>
  | z.input<typeof remoteRewardGoldSchema>
  | z.input<typeof peopleGoldSchema>;

const SCHEMAS = {
  task: rewardFunctionGoldSchema,
  'reward-function': rewardFunctionGoldSchema,
  'llm-judge': llmJudgeGoldSchema,
  'remote-reward': remoteRewardGoldSchema,
  people: peopleGoldSchema,
} as const;

export const GOLD_TYPES = Object.keys(SCHEMAS) as (keyof typeof SCHEMAS)[];

function describe(issues: z.core.$ZodIssue[], where: string): string {
  return issues
    .map((i) => {
      const path = [where, ...i.path.map(String)].join('.');
      if (i.code === 'unrecognized_keys') return `${i.keys.map((k) => `${path}.${k}`).join(', ')}: unknown field`;
      return `${path}: ${i.message}`;
    })
    .join('\n');
}

/** Validates a gold config; `where` (e.g. "run.json gold") prefixes every field named in an error. */
export function parseGoldConfig(raw: unknown, where = 'gold'): GoldConfig {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new GoldConfigError(`${where}: expected an object with a "type" field`);
  const type = (raw as { type?: unknown }).type;
  if (typeof type !== 'string' || !(type in SCHEMAS)) {
    throw new GoldConfigError(`${where}.type: unknown gold source ${JSON.stringify(type)} (known: ${GOLD_TYPES.join(', ')})`);
  }
  const r = SCHEMAS[type as keyof typeof SCHEMAS].safeParse(raw);
  if (!r.success) throw new GoldConfigError(describe(r.error.issues, where));
  return r.data;
}
