/** Gold sources: `createGoldSource(config, { task })` builds one from a validated config. */
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { GoldConfigError, parseGoldConfig, type LlmJudgeGoldConfig, type RemoteRewardGoldConfig } from './config.js';
import { LlmJudge } from './llm-judge.js';
import { RemoteRewardModel } from './remote-reward.js';
import { RewardFunctionGold } from './reward-function.js';
import { PeopleGold } from './people.js';
import type { RunTask } from '../tasks/task.js';
import type { GoldSource } from './source.js';
import { REDACTED } from '../util/secrets.js';

export * from './source.js';
export * from './config.js';
export { RewardFunctionGold, type RewardTask } from './reward-function.js';
export { LlmJudge, JudgeParseError, type LlmJudgeOptions, type JudgeUsage, type JudgePrices } from './llm-judge.js';
export { RemoteRewardModel, type RemoteRewardOptions } from './remote-reward.js';
export { PeopleGold } from './people.js';
export { JudgeCache, judgeKey, CACHE_TABLE } from './judge-cache.js';
export { GoldHttpError } from './http-client.js';
export { RUBRIC_VERSION, ASPECTS, type Aspect } from './ultrafeedback-rubric.js';

export interface GoldContext {
  /** Needed by the reward-function source, and must have a reward. */
  task?: Pick<RunTask, 'name' | 'rewards'>;
  /** Where the env fallbacks are read; process.env by default. */
  env?: Record<string, string | undefined>;
  /** Prefix of field names in errors, e.g. "run.json gold". */
  where?: string;
}

/** The judge's cache when neither the config nor D2PO_JUDGE_CACHE names one: shared by every run of this user. */
export function defaultJudgeCachePath(env: Record<string, string | undefined> = process.env): string {
  return join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'd2po', 'judge-cache.sqlite');
}

function required(value: string | undefined, field: string, envName: string, where: string, example: string): string {
  if (value) return value;
  throw new GoldConfigError(`${where}.${field} is not set: give it in the config or set ${envName} (e.g. ${example})`);
}

function fromNamedEnv(name: string | undefined, field: string, env: Record<string, string | undefined>, where: string): string | undefined {
  if (name === undefined) return undefined;
  const v = env[name];
  if (!v) throw new GoldConfigError(`${where}.${field} names the environment variable ${name}, which is not set`);
  return v;
}

function fromFile(path: string | undefined, field: string, where: string): string | undefined {
  if (path === undefined) return undefined;
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new GoldConfigError(`${where}.${field}: cannot read the key file ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  const v = text.trim();
  if (!v) throw new GoldConfigError(`${where}.${field}: the key file ${path} is empty`);
  return v;
}

/**
 * A secret from the config, else its references (variable, file), else the default variables.
 * An inline secret is never stored, so a resumed run finds REDACTED in its place and must get
 * the secret from a reference or a default variable.
 */
function secret(
  s: { inline?: string; env?: string; file?: string; envField: string; fileField: string; field: string; defaults: string[] },
  env: Record<string, string | undefined>,
  where: string,
): string | undefined {
  const inline = s.inline === REDACTED ? undefined : s.inline;
  const v = inline ?? fromNamedEnv(s.env, s.envField, env, where) ?? fromFile(s.file, s.fileField, where) ?? s.defaults.map((d) => env[d]).find(Boolean);
  if (!v && s.inline === REDACTED) {
    throw new GoldConfigError(
      `${where}.${s.field} was given inline when this run started and is never stored: set ${s.defaults[0]} (or start runs with ${s.envField} or ${s.fileField})`,
    );
  }
  return v || undefined;
}

function checkUrl(url: string, what: string): string {
  if (!z.url({ protocol: /^https?$/ }).safeParse(url).success) throw new GoldConfigError(`${what}: not an http(s) URL: ${JSON.stringify(url)}`);
  return url;
}

function judgeFrom(c: LlmJudgeGoldConfig, env: Record<string, string | undefined>, where: string): LlmJudge {
  const baseUrl = checkUrl(
    required(c.baseUrl ?? env.D2PO_JUDGE_BASE_URL, 'baseUrl', 'D2PO_JUDGE_BASE_URL', where, 'https://api.openai.com/v1'),
    c.baseUrl ? `${where}.baseUrl` : 'D2PO_JUDGE_BASE_URL',
  );
  const model = required(c.model ?? env.D2PO_JUDGE_MODEL, 'model', 'D2PO_JUDGE_MODEL', where, 'gpt-4o');
  const apiKey = secret(
    { inline: c.apiKey, env: c.apiKeyEnv, file: c.apiKeyFile, field: 'apiKey', envField: 'apiKeyEnv', fileField: 'apiKeyFile', defaults: ['D2PO_JUDGE_API_KEY', 'OPENAI_API_KEY'] },
    env,
    where,
  );
  return new LlmJudge({
    ...c,
    baseUrl,
    model,
    apiKey,
    cache: c.cachePath ?? env.D2PO_JUDGE_CACHE ?? defaultJudgeCachePath(env),
  });
}

function remoteFrom(c: RemoteRewardGoldConfig, env: Record<string, string | undefined>, where: string): RemoteRewardModel {
  const url = checkUrl(
    required(c.url ?? env.D2PO_REWARD_URL, 'url', 'D2PO_REWARD_URL', where, 'http://127.0.0.1:8000/score'),
    c.url ? `${where}.url` : 'D2PO_REWARD_URL',
  );
  const token = secret(
    { inline: c.token, env: c.tokenEnv, file: c.tokenFile, field: 'token', envField: 'tokenEnv', fileField: 'tokenFile', defaults: ['D2PO_REWARD_TOKEN'] },
    env,
    where,
  );
  return new RemoteRewardModel({ ...c, url, token });
}

/** Builds the gold source a config describes; errors name the offending field (prefixed by `ctx.where`). */
export function createGoldSource(config: unknown, ctx: GoldContext = {}): GoldSource {
  const where = ctx.where ?? 'gold';
  const env = ctx.env ?? process.env;
  const c = parseGoldConfig(config, where);
  switch (c.type) {
    case 'task':
    case 'reward-function':
      if (!ctx.task) throw new GoldConfigError(`${where}.type '${c.type}' scores with the task's reward, but no task was given`);
      if (!ctx.task.rewards) {
        throw new GoldConfigError(
          `${where}.type '${c.type}' scores with the task's reward, but task '${ctx.task.name}' has none (a prompt file); ` +
            `choose a gold source: an LLM judge (--set gold.type=llm-judge) or a reward model served over HTTP (--set gold.type=remote-reward), see docs/gold-sources.md`,
        );
      }
      return new RewardFunctionGold({ name: ctx.task.name, rewards: ctx.task.rewards.bind(ctx.task) }, c.tieEpsilon);
    case 'llm-judge':
      return judgeFrom(c, env, where);
    case 'remote-reward':
      return remoteFrom(c, env, where);
    case 'people':
      return new PeopleGold(c.pollMs);
  }
}
