// A tiny random GPT-2 over the Qwen2 fixture tokenizer (ChatML template), for chat-template and
// prompt-file tests that run the CLI.
import { copyFile, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Tokenizer, createModel, saveModel } from '../src/model/index.js';

export const QWEN2 = join(import.meta.dirname, 'fixtures', 'tokenizers', 'qwen2');

/** The model folder; with the fixture's tokenizer_config.json (and so its chat template) or without. */
export async function qwen2ModelDir(withConfig: boolean): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'd2po-chat-model-'));
  const tok = await Tokenizer.fromFile(join(QWEN2, 'tokenizer.json'));
  // <|endoftext|> 273 as config.json's BOS (as Qwen2's names one), <|im_end|> 275 as EOS
  const model = createModel({ model_type: 'gpt2', vocab_size: tok.vocabSize, n_positions: 64, n_embd: 16, n_layer: 1, n_head: 2, bos_token_id: 273, eos_token_id: 275 }, { seed: 1 });
  await saveModel(dir, model, { tokenizerJson: tok.json });
  model.dispose();
  if (withConfig) await copyFile(join(QWEN2, 'tokenizer_config.json'), join(dir, 'tokenizer_config.json'));
  return dir;
}
