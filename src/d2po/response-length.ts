import { join } from 'node:path';
import { readConfig, contextLength } from '../model/config.js';
import { ChatTemplate } from '../model/chat-template.js';
import { Tokenizer } from '../model/tokenizer.js';
import type { RunTask } from '../tasks/task.js';
import { ConfigError, type RunConfig } from './config.js';

/** Prompt tokens always kept (a longer prompt loses its beginning), so that a response answers something. */
export const PROMPT_RESERVE = 8;

/** Response length when neither the config nor the task names one. */
const DEFAULT_MAX_NEW_TOKENS = 48;

/**
 * The config with rollout.maxNewTokens resolved to the length the run will sample (the
 * config's, else the task's, else 48; a task's suggestion is shortened to the model's room),
 * so that the stored config says what ran. A run whose responses cannot fit the model's
 * context is refused with the numbers.
 */
export async function resolveMaxNewTokens(c: RunConfig, task: RunTask): Promise<RunConfig> {
  const cfgPath = join(c.model, 'config.json');
  const context = contextLength(await readConfig(cfgPath));
  const room = context - PROMPT_RESERVE;
  const asked = c.rollout.maxNewTokens;
  const used = asked > 0 ? asked : Math.min(task.generation?.maxNewTokens ?? DEFAULT_MAX_NEW_TOKENS, room);
  if (used > room || used < Math.max(1, c.rollout.minNewTokens)) {
    const longest = await longestPrompt(c.model, c.chatTemplate, task);
    const numbers =
      `the model's context is ${context} tokens (${cfgPath}); prompts keep at least their last ${PROMPT_RESERVE} tokens ` +
      `(the longest training prompt has ${longest}), which leaves room for ${Math.max(0, room)} response tokens`;
    if (room < Math.max(1, c.rollout.minNewTokens))
      throw new ConfigError(`rollout.maxNewTokens: no response fits: ${numbers}${c.rollout.minNewTokens ? `, and rollout.minNewTokens asks for ${c.rollout.minNewTokens}` : ''}`);
    if (used > room) throw new ConfigError(`rollout.maxNewTokens: ${used} new tokens do not fit: ${numbers}; ask for at most ${room}`);
    throw new ConfigError(`rollout.minNewTokens: ${c.rollout.minNewTokens} is more than the ${used} new tokens sampled (rollout.maxNewTokens)`);
  }
  return used === asked ? c : { ...c, rollout: { ...c.rollout, maxNewTokens: used } };
}

/** Tokens of the longest training prompt as the policy sees it (BOS included when the model has one, chat-wrapped when asked). */
async function longestPrompt(model: string, chatTemplate: boolean, task: RunTask): Promise<number | string> {
  try {
    const tok = await Tokenizer.fromFile(join(model, 'tokenizer.json'));
    const bos = (await readConfig(join(model, 'config.json'))).bos_token_id ?? null;
    const chat = chatTemplate ? await ChatTemplate.of(tok) : null;
    return Math.max(0, ...(await task.prompts('train')).map((p) => (chat ? chat.encodePrompt(p) : tok.encodePrompt(p, bos)).length));
  } catch {
    return 'unknown';
  }
}
