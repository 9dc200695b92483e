/**
 * Custom tasks: a module (.mjs/.js, or .ts/.mts through tsx) whose default export is
 *   { name: string,
 *     prompts(split: 'train' | 'dev'): string[] | Promise<string[]>,
 *     reward(prompt: string, response: string): number | Promise<number>,
 *     rewards?(pairs: { prompt, response }[]): number[] | Promise<number[]>,   // optional, batched
 *     description?: string, generation?: { maxNewTokens: number } }
 * One of `reward`/`rewards` is required; `rewards` is used when present. Every member is checked
 * at load time and every returned value at call time, naming the module's path and the member:
 * a reward that is not a finite number is an error, never a silent zero. Every call goes through
 * callUser (user-call.ts): a timeout, and failures naming the module, the member and the item.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { RewardInput, Split, Task } from './task.js';
import { DEFAULT_USER_CALL_TIMEOUT_MS, TaskModuleError, callUser, describeThrown, describeValue as describe, withTimeout } from './user-call.js';

export { TaskModuleError } from './user-call.js';

type Fn = (...args: never[]) => unknown;

/** How an error message names one reward input. */
function itemOf(i: number, item: RewardInput): string {
  const p = item.prompt.length > 40 ? `${item.prompt.slice(0, 37)}...` : item.prompt;
  return `item ${i} (prompt ${JSON.stringify(p)})`;
}

export async function loadCustomTask(path: string, opts: { timeoutMs?: number } = {}): Promise<Task> {
  const timeoutMs = opts.timeoutMs ?? DEFAULT_USER_CALL_TIMEOUT_MS;
  if (!(timeoutMs > 0)) throw new TaskModuleError(`task module ${path}: timeout ${timeoutMs} ms, expected a positive number`);
  const abs = resolve(path);
  if (!existsSync(abs)) throw new TaskModuleError(`task module ${path}: file not found (${abs})`);
  const fail = (what: string): never => {
    throw new TaskModuleError(`task module ${path}: ${what}`);
  };
  let mod: Record<string, unknown>;
  try {
    // a top-level await that never settles is a hang like any other call
    const imported = import(pathToFileURL(abs).href);
    mod = (await withTimeout(imported, timeoutMs, () => new TaskModuleError(`task module ${path}: import did not settle within ${timeoutMs} ms`))) as Record<string, unknown>;
  } catch (err) {
    if (err instanceof TaskModuleError) throw err;
    return fail(`cannot be imported: ${err instanceof Error ? err.message : describeThrown(err)}`);
  }
  const def = mod.default;
  if (def === undefined) fail('has no default export (expected `export default { name, prompts, reward }`)');
  if (typeof def !== 'object' || def === null) fail(`default export is ${describe(def)}, expected an object { name, prompts, reward }`);
  const t = def as Record<string, unknown>;
  if (typeof t.name !== 'string' || t.name.trim() === '') fail(`member 'name' is ${describe(t.name)}, expected a non-empty string`);
  if (typeof t.prompts !== 'function') fail(`member 'prompts' is ${t.prompts === undefined ? 'missing' : describe(t.prompts)}, expected a function (split) => string[]`);
  if (t.reward !== undefined && typeof t.reward !== 'function') fail(`member 'reward' is ${describe(t.reward)}, expected a function (prompt, response) => number`);
  if (t.rewards !== undefined && typeof t.rewards !== 'function') fail(`member 'rewards' is ${describe(t.rewards)}, expected a function (pairs) => number[]`);
  if (t.reward === undefined && t.rewards === undefined) fail("member 'reward' is missing, expected a function (prompt, response) => number");
  if (t.description !== undefined && typeof t.description !== 'string') fail(`member 'description' is ${describe(t.description)}, expected a string`);
  let generation: Task['generation'];
  if (t.generation !== undefined) {
    const m = (t.generation as { maxNewTokens?: unknown } | null)?.maxNewTokens;
    if (typeof m !== 'number' || !Number.isInteger(m) || m < 1) {
      fail(`member 'generation.maxNewTokens' is ${describe(m)}, expected a positive integer`);
    }
    generation = { maxNewTokens: m as number };
  }
  const name = t.name as string;
  const prompts = t.prompts as Fn;
  const reward = t.reward as Fn | undefined;
  const rewards = t.rewards as Fn | undefined;

  const checkReward = (v: unknown, member: string, i: number, item: RewardInput): number => {
    if (typeof v !== 'number' || !Number.isFinite(v)) fail(`${member} returned ${describe(v)} for ${itemOf(i, item)}, expected a finite number`);
    return v as number;
  };
  const call = <T>(method: string, fn: () => T, item?: string) => callUser(fn, { module: path, method, item, timeoutMs });

  return {
    name,
    description: (t.description as string | undefined) ?? `custom task from ${path}`,
    generation,
    async prompts(split: Split) {
      const out = await call(`prompts('${split}')`, () => (prompts as (s: Split) => unknown).call(def, split));
      if (!Array.isArray(out)) fail(`prompts('${split}') returned ${describe(out)}, expected an array of strings`);
      (out as unknown[]).forEach((p, i) => {
        if (typeof p !== 'string') fail(`prompts('${split}')[${i}] is ${describe(p)}, expected a string`);
      });
      return out as string[];
    },
    async rewards(batch: RewardInput[]) {
      if (rewards) {
        const out = await call('rewards(pairs)', () => (rewards as (b: RewardInput[]) => unknown).call(def, batch.map((b) => ({ ...b }))), `${batch.length} pairs`);
        if (!Array.isArray(out) || out.length !== batch.length) {
          fail(`rewards(pairs) returned ${Array.isArray(out) ? `${out.length} values` : describe(out)} for ${batch.length} pairs, expected an array of ${batch.length} numbers`);
        }
        return (out as unknown[]).map((v, i) => checkReward(v, 'rewards(pairs)', i, batch[i]));
      }
      const out: number[] = [];
      // In order, one at a time: a reward may be stateful or rate-limited.
      for (const [i, b] of batch.entries()) {
        const member = 'reward(prompt, response)';
        out.push(checkReward(await call(member, () => (reward as (p: string, r: string) => unknown).call(def, b.prompt, b.response), itemOf(i, b)), member, i, b));
      }
      return out;
    },
  };
}
