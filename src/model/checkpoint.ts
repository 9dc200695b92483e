import { access, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Device } from '../tensor/index.js';
import { configToJson, readConfig, type ModelConfig } from './config.js';
import { modelFromTensors } from './create.js';
import type { CausalLM } from './decoder.js';
import { readSafetensors, writeSafetensors } from './safetensors.js';
import { Tokenizer } from './tokenizer.js';
import { ensureDir } from '../util/ensure-dir.js';
import { assertRegularFile } from '../util/regular-file.js';

// A model folder in the Hugging Face layout: config.json, model.safetensors, tokenizer.json (optional).

export interface LoadedModel {
  model: CausalLM;
  config: ModelConfig;
  tokenizer: Tokenizer | null;
  dir: string;
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}

export async function loadModel(dir: string, opts: { device?: Device } = {}): Promise<LoadedModel> {
  const configPath = join(dir, 'config.json');
  if (!(await exists(configPath))) throw new Error(`${dir} is not a model folder: ${configPath} not found`);
  await assertRegularFile(configPath);
  const config = await readConfig(configPath);
  const weightsPath = join(dir, 'model.safetensors');
  const tensors = await readSafetensors(weightsPath);
  let model: CausalLM;
  try {
    model = modelFromTensors(config, tensors, weightsPath, opts.device ?? 'cpu');
  } finally {
    for (const t of tensors.values()) t.dispose();
  }
  const tokPath = join(dir, 'tokenizer.json');
  await assertRegularFile(tokPath);
  const tokenizer = (await exists(tokPath)) ? await Tokenizer.fromFile(tokPath) : null;
  return { model, config, tokenizer, dir };
}

/** Writes config.json and model.safetensors (HF names), and tokenizer.json when given. */
export async function saveModel(dir: string, model: CausalLM, opts: { tokenizerJson?: string | object } = {}): Promise<void> {
  ensureDir(dir);
  await writeFile(join(dir, 'config.json'), JSON.stringify(configToJson(model.config), null, 2) + '\n');
  await writeSafetensors(join(dir, 'model.safetensors'), new Map(model.namedParameters()), { format: 'pt' });
  if (opts.tokenizerJson !== undefined) {
    const text = typeof opts.tokenizerJson === 'string' ? opts.tokenizerJson : JSON.stringify(opts.tokenizerJson);
    await writeFile(join(dir, 'tokenizer.json'), text);
  }
}
