// A tiny random GPT-2 with the shipped tokenizer and a toy task module, for end-to-end loop tests.
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createModel, saveModel } from '../src/model/index.js';
import { RunStore } from '../src/store/run-store.js';
import { resolveConfig } from '../src/d2po/presets.js';
import type { Method, RunConfig } from '../src/d2po/config.js';

export const TOKENIZER = 'models/brown-bpe-4k/tokenizer.json';

export async function tinyModelDir(seed = 1): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'd2po-tiny-model-'));
  const model = createModel({ model_type: 'gpt2', vocab_size: 4096, n_positions: 40, n_embd: 32, n_layer: 2, n_head: 2, bos_token_id: 4095, eos_token_id: 4095 }, { seed });
  await saveModel(dir, model, { tokenizerJson: readFileSync(TOKENIZER, 'utf8') });
  model.dispose();
  return dir;
}

/**
 * Toy task: reward = how many of the letters w, x, y, z, q, j, k, v the response contains (0..8;
 * ties are common). `rewardDelayMs` makes each reward take that long (a slow gold source).
 */
export function toyTaskFile(rewardDelayMs = 0): string {
  const dir = mkdtempSync(join(tmpdir(), 'd2po-toy-task-'));
  const file = join(dir, 'toy-task.mjs');
  writeFileSync(
    file,
    `export default {
  name: 'toy-letters',
  description: 'distinct rare letters in the response',
  generation: { maxNewTokens: 12 },
  prompts(split) {
    const n = split === 'train' ? 40 : 6;
    return Array.from({ length: n }, (_, i) => 'The story of ' + (split === 'train' ? 'day ' : 'night ') + i + ' was');
  },
  async reward(prompt, response) {
    if (${rewardDelayMs}) await new Promise((res) => setTimeout(res, ${rewardDelayMs}));
    return [...'wxyzqjkv'].filter((ch) => response.includes(ch)).length;
  },
};
`,
  );
  return file;
}

/** A run's step and gold ledger as another process sees them (null before its store has a schema). */
export function readProgress(dir: string): { step: number; status: string | undefined; answered: Map<string, number | null>; pending: string[] } | null {
  if (!existsSync(join(dir, 'run.db'))) return null;
  try {
    const s = RunStore.open(dir, { readonly: true });
    try {
      const ledger = s.ledger();
      return {
        step: s.getMeta<number>('step') ?? 0,
        status: s.getMeta<string>('status'),
        answered: new Map(ledger.map((e) => [e.pairId, e.answeredAt])),
        // asked and not answered: a gold chunk in flight
        pending: ledger.filter((e) => e.attempts > 0 && e.answeredAt === null).map((e) => e.pairId),
      };
    } finally {
      s.close();
    }
  } catch {
    return null; // the schema may not exist yet
  }
}

/**
 * A tiny run of the loop tests on `model` and `taskFile`: P = 20 (8 initial + 2 rounds of 6), 4
 * steps, checkpoints every 2 steps, learning rates high enough that every step moves the weights.
 */
export function tinyRunConfig(method: Method, out: string, model: string, taskFile: string, extra: Record<string, unknown> = {}): RunConfig {
  return resolveConfig({
    method,
    task: taskFile,
    model,
    out,
    seed: 5,
    budget: { gold: 20, initial: 8, rounds: 2, steps: 4 },
    rollout: { batchSize: 4 },
    policy: { batchSize: 8, goldEpochs: 1, lr: 1e-2 },
    init: { policyEpochs: 1, discriminatorEpochs: 1, policyLr: 1e-2 },
    discriminator: { epochs: 1, batchSize: 8 },
    eval: { every: 0, prompts: 3, accuracyPairs: 3 },
    checkpoint: { every: 2 },
    ...extra,
  });
}
