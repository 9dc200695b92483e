import { access, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import type { Device, DType } from '../tensor/index.js';
import { configToJson, readConfig, type ModelConfig } from './config.js';
import { paramLoader } from './create.js';
import type { CausalLM } from './decoder.js';
import { readSafetensors, writeSafetensors } from './safetensors.js';
import { Tokenizer } from './tokenizer.js';
import { ensureDir } from '../util/ensure-dir.js';
import { assertRegularFile } from '../util/regular-file.js';

// A model folder in the Hugging Face layout: config.json, model.safetensors (or shards listed in
// model.safetensors.index.json), tokenizer.json (optional).

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

const INDEX = 'model.safetensors.index.json';
const indexSchema = z.looseObject({
  weight_map: z.record(
    z.string(),
    z.string().regex(/^[^/\\]+\.safetensors$/, 'expected the name of a .safetensors file in the same folder'),
  ),
});

/**
 * The weight files of a model folder: model.safetensors, or else the shards that
 * model.safetensors.index.json names, each with the tensors the index places in it.
 */
async function weightFiles(dir: string): Promise<{ index: string | null; files: { path: string; listed: string[] }[] }> {
  const single = join(dir, 'model.safetensors');
  const indexPath = join(dir, INDEX);
  if ((await exists(single)) || !(await exists(indexPath))) return { index: null, files: [{ path: single, listed: [] }] };
  await assertRegularFile(indexPath);
  let json: unknown;
  try {
    json = JSON.parse(await readFile(indexPath, 'utf8'));
  } catch (err) {
    throw new Error(`${indexPath}: not valid JSON: ${(err as Error).message}`);
  }
  const parsed = indexSchema.safeParse(json);
  if (!parsed.success) {
    throw new Error(parsed.error.issues.map((i) => `${indexPath}: field '${i.path.join('.') || '(root)'}': ${i.message}`).join('\n'));
  }
  const shards = new Map<string, string[]>();
  for (const [tensor, file] of Object.entries(parsed.data.weight_map)) shards.set(file, [...(shards.get(file) ?? []), tensor]);
  return { index: indexPath, files: [...shards].map(([file, listed]) => ({ path: join(dir, file), listed })) };
}

/** The names `--dtype` takes for how weights are held. */
export const WEIGHT_DTYPES = { fp32: 'float32', bf16: 'bfloat16' } as const satisfies Record<string, DType>;
export type WeightDtype = keyof typeof WEIGHT_DTYPES;

export interface LoadOptions {
  device?: Device;
  /** how the weights are held, whatever the files store (default float32) */
  dtype?: DType;
}

export async function loadModel(dir: string, opts: LoadOptions = {}): Promise<LoadedModel> {
  const configPath = join(dir, 'config.json');
  if (!(await exists(configPath))) throw new Error(`${dir} is not a model folder: ${configPath} not found`);
  await assertRegularFile(configPath);
  const config = await readConfig(configPath);
  const { index, files } = await weightFiles(dir);
  const loader = paramLoader(config, opts);
  let model: CausalLM;
  try {
    for (const { path, listed } of files) {
      const tensors = await readSafetensors(path);
      try {
        const absent = listed.find((n) => !tensors.has(n));
        if (absent !== undefined) throw new Error(`${index}: tensor '${absent}' is not in ${path}, the shard its weight_map names`);
        loader.assign(tensors, path);
      } finally {
        for (const t of tensors.values()) t.dispose();
      }
    }
    model = loader.build(index ?? files[0].path);
  } catch (err) {
    loader.dispose();
    throw err;
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
