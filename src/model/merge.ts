import { copyFile, readdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { noGrad, scope, type Tensor } from '../tensor/index.js';
import { ensureDir } from '../util/ensure-dir.js';
import { loadModel } from './checkpoint.js';
import { paramName } from './create.js';
import { loadLmAdapter } from './peft.js';
import { readSafetensorsFile, writeSafetensors, WRITABLE_DTYPES } from './safetensors.js';

// Folding a LoRA adapter into its base (PEFT's merge_and_unload): W + s * B A for a [out, in]
// weight, W + s * (B A)^T for GPT-2's [in, out] Conv1D, written as a model folder in the base's
// own layout, so that anything that reads the base reads the merged model.

const WEIGHTS = 'model.safetensors';

/**
 * Writes base + adapter merged to `outDir` (which must not exist): every tensor of the base file
 * under its own name and dtype, the targeted weights changed, and the base folder's other files
 * (config.json, tokenizer files) copied. Returns how many weights changed.
 */
export async function mergeAdapter(baseDir: string, adapterDir: string, outDir: string): Promise<number> {
  if (await stat(outDir).then(() => true, () => false)) throw new Error(`${outDir} already exists; give a new folder`);
  const { model, config } = await loadModel(baseDir);
  const basePath = join(baseDir, WEIGHTS);
  try {
    await loadLmAdapter(adapterDir, model);
    const adapter = model.adapter!;
    const { tensors, metadata, fileDtypes } = await readSafetensorsFile(basePath);
    const made: Tensor[] = [];
    try {
      const unwritable = [...fileDtypes].find(([, d]) => !WRITABLE_DTYPES.includes(d));
      if (unwritable) throw new Error(`${basePath}: tensor '${unwritable[0]}' is stored as ${unwritable[1]}; the merge writes ${WRITABLE_DTYPES.join(', ')} only, so it could not keep the base's dtype`);
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
      if (made.length !== adapter.modules.length) throw new Error(`internal: merged ${made.length} of ${adapter.modules.length} adapted weights`);
      const tmp = `${outDir}.tmp`;
      await rm(tmp, { recursive: true, force: true });
      ensureDir(tmp);
      for (const entry of await readdir(baseDir, { withFileTypes: true })) {
        if (entry.isFile() && entry.name !== WEIGHTS) await copyFile(join(baseDir, entry.name), join(tmp, entry.name));
      }
      await writeSafetensors(join(tmp, WEIGHTS), merged, metadata);
      await rename(tmp, outDir);
      return made.length;
    } finally {
      for (const t of [...tensors.values(), ...made]) t.dispose();
    }
  } finally {
    model.dispose();
  }
}
