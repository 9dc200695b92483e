// A tiny random GPT-2 with the shipped tokenizer and a toy task module, for end-to-end loop tests.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createModel, saveModel } from '../src/model/index.js';

export const TOKENIZER = 'models/brown-bpe-4k/tokenizer.json';

export async function tinyModelDir(seed = 1): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'd2po-tiny-model-'));
  const model = createModel({ model_type: 'gpt2', vocab_size: 4096, n_positions: 40, n_embd: 32, n_layer: 2, n_head: 2, bos_token_id: 4095, eos_token_id: 4095 }, { seed });
  await saveModel(dir, model, { tokenizerJson: readFileSync(TOKENIZER, 'utf8') });
  model.dispose();
  return dir;
}

/** Toy task: reward = how many of the letters w, x, y, z, q, j, k, v the response contains (0..8; ties are common). */
export function toyTaskFile(): string {
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
  reward(prompt, response) {
    return [...'wxyzqjkv'].filter((ch) => response.includes(ch)).length;
  },
};
`,
  );
  return file;
}
