import { copyFile, readdir, rename, rm, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { noGrad, scope, type Tensor } from '../tensor/index.js';
import { ensureDir } from '../util/ensure-dir.js';
import { loadModel, weightFiles } from './checkpoint.js';
import type { ModelConfig } from './config.js';
import { paramName } from './create.js';
import type { LoraAdapter } from './lora.js';
import { loadLmAdapter } from './peft.js';
import { readSafetensorsFile, writeSafetensors, WRITABLE_DTYPES } from './safetensors.js';

// Folding a LoRA adapter into its base (PEFT's merge_and_unload): W + s * B A for a [out, in]
// weight, W + s * (B A)^T for GPT-2's [in, out] Conv1D, written as a model folder in the base's
// own layout, so that anything that reads the base reads the merged model.

/**
 * Writes base + adapter merged to `outDir` (which must not exist): each weight file of the base
 * (model.safetensors, or every shard its index names) under its own name, with every tensor under
 * its own name and dtype and the targeted weights changed, and the base folder's other files
 * (config.json, the shard index, tokenizer files) copied. Returns how many weights changed.
 */
export async function mergeAdapter(baseDir: string, adapterDir: string, outDir: string): Promise<number> {
  if (await stat(outDir).then(() => true, () => false)) throw new Error(`${outDir} already exists; give a new folder`);
  const { model, config } = await loadModel(baseDir);
  try {
    await loadLmAdapter(adapterDir, model);
    const adapter = model.adapter!;
    const { files } = await weightFiles(baseDir);
    const tmp = `${outDir}.tmp`;
    await rm(tmp, { recursive: true, force: true });
    ensureDir(tmp);
    try {
      const weights = new Set(files.map((f) => basename(f.path)));
      for (const entry of await readdir(baseDir, { withFileTypes: true })) {
        if (entry.isFile() && !weights.has(entry.name)) await copyFile(join(baseDir, entry.name), join(tmp, entry.name));
      }
      let changed = 0;
      // one file at a time, so that a sharded base is never in memory whole besides the model
      for (const { path } of files) changed += await mergeFile(path, join(tmp, basename(path)), config, adapter);
      if (changed !== adapter.modules.length) throw new Error(`internal: merged ${changed} of ${adapter.modules.length} adapted weights`);
      await rename(tmp, outDir);
      return changed;
    } catch (e) {
      await rm(tmp, { recursive: true, force: true });
      throw e;
    }
  } finally {
    model.dispose();
  }
}

/** Writes the weight file `path` to `out` with the weights `adapter` targets merged; returns how many. */
async function mergeFile(path: string, out: string, config: ModelConfig, adapter: LoraAdapter): Promise<number> {
  const { tensors, metadata, fileDtypes } = await readSafetensorsFile(path);
  const made: Tensor[] = [];
  try {
    const unwritable = [...fileDtypes].find(([, d]) => !WRITABLE_DTYPES.includes(d));
    if (unwritable) throw new Error(`${path}: tensor '${unwritable[0]}' is stored as ${unwritable[1]}; the merge writes ${WRITABLE_DTYPES.join(', ')} only, so it could not keep the base's dtype`);
    const merged = new Map<string, Tensor>();
    for (const [name, t] of tensors) {
      const param = paramName(config, name);
      const module = param?.endsWith('.weight') ? param.slice(0, -'.weight'.length) : null;
      if (module === null || !adapter.projection(module)) {
        merged.set(name, t);
        continue;
      }
      // in float32, then back to the file's dtype
      const m = scope(() => noGrad(() => t.to('float32').add(adapter.delta(module)).to(t.dtype)));
      made.push(m);
      merged.set(name, m);
    }
    await writeSafetensors(out, merged, metadata);
    return made.length;
  } finally {
    for (const t of [...tensors.values(), ...made]) t.dispose();
  }
}
