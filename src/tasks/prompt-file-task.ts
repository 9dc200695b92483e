/**
 * A task from a prompt file (`--task prompts.jsonl`): one `{"prompt": "...", "split"?: "train" |
 * "dev" | "test"}` per line. Lines without a split go to dev when a hash of their text falls in
 * its first tenth, else to train: deterministic, and adding lines never moves the others. 'test'
 * lines are kept out of both, for the user's own final evaluation. Such a task has no gold reward
 * of its own: its labels come from an LLM judge, a remote reward model or people.
 */
import { createHash } from 'node:crypto';
import { basename } from 'node:path';
import { z } from 'zod';
import { JsonlError, readJsonl } from '../util/jsonl.js';
import type { RunTask, Split } from './task.js';

const lineSchema = z.strictObject({
  prompt: z.string().min(1, 'expected a non-empty string'),
  split: z.enum(['train', 'dev', 'test']).optional(),
});

/** Share of lines without a split that go to dev. */
export const DEV_SHARE = 0.1;

export class PromptFileError extends Error {
  override name = 'PromptFileError';
}

/** Where a line without a split goes: the first 32 bits of its text's SHA-256 as a fraction. */
function hashedSplit(prompt: string): 'train' | 'dev' {
  return createHash('sha256').update(prompt).digest().readUInt32BE(0) / 2 ** 32 < DEV_SHARE ? 'dev' : 'train';
}

export function isPromptFile(nameOrPath: string): boolean {
  return /\.jsonl$/i.test(nameOrPath);
}

export async function loadPromptFileTask(path: string): Promise<RunTask> {
  let lines;
  try {
    lines = await readJsonl(path, lineSchema, '{"prompt": string, "split"?: "train" | "dev" | "test"}');
  } catch (err) {
    if (err instanceof JsonlError) throw new PromptFileError(`prompt file ${err.message}`);
    throw err;
  }
  const splits: Record<Split | 'test', string[]> = { train: [], dev: [], test: [] };
  for (const { value } of lines) splits[value.split ?? hashedSplit(value.prompt)].push(value.prompt);
  for (const split of ['train', 'dev'] as const) {
    if (splits[split].length === 0) {
      throw new PromptFileError(
        `prompt file ${path}: no ${split} prompts among ${lines.length} lines; mark some with "split": "${split}" ` +
          `(lines without a split go to dev when a hash of their text falls in the first ${DEV_SHARE * 100}%, else to train)`,
      );
    }
  }
  return {
    name: basename(path).replace(/\.jsonl$/i, ''),
    description: `prompts from ${path} (${splits.train.length} train, ${splits.dev.length} dev, ${splits.test.length} test); no gold reward of its own`,
    async prompts(split: Split) {
      return [...splits[split]];
    },
  };
}
