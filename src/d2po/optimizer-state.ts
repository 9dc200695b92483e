import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { tensor, type AdamW, type OptimizerState, type Tensor } from '../tensor/index.js';
import { readSafetensors, readSafetensorsFile, restoreAdapter, saveAdapter, saveModel, writeSafetensors, type CausalLM } from '../model/index.js';
import { copyNamed } from '../train/params.js';

// The one place where what a run trains is saved and loaded: optimizer states, whole models or
// their LoRA adapters, named parameter sets (a reward model, PPO's value head) and plain
// float32 vectors (the bag-of-words discriminator). Checkpoints and the warm-start cache both
// store through it, so the two hold the same bytes.

/** Writes an optimizer state (moments as tensors, step count and learning rate in the metadata). */
export async function saveOptimizerState(path: string, s: OptimizerState, lr: number): Promise<void> {
  await writeSafetensors(path, s.tensors, { step: String(s.step), lr: String(lr) });
}

/** Writes an AdamW state (moments as tensors, step count in the metadata) to a safetensors file. */
export async function saveOptimizer(path: string, opt: AdamW): Promise<void> {
  const s = opt.stateDict();
  try {
    await saveOptimizerState(path, s, opt.lr);
  } finally {
    for (const t of Object.values(s.tensors)) t.dispose();
  }
}

/** Restores a state written by saveOptimizer; throws when the file is missing. */
export async function loadOptimizer(path: string, opt: AdamW): Promise<void> {
  if (!existsSync(path)) throw new Error(`optimizer state ${path} not found`);
  const { tensors, metadata } = await readSafetensorsFile(path);
  try {
    opt.loadStateDict({ step: Number(metadata.step ?? 0), tensors: Object.fromEntries(tensors) });
  } finally {
    for (const t of tensors.values()) t.dispose();
  }
}

/** Writes named parameters to one safetensors file. */
export async function saveParameters(path: string, params: [string, Tensor][], metadata?: Record<string, string>): Promise<void> {
  await writeSafetensors(path, new Map(params), metadata);
}

/** Copies a file written by saveParameters into the live parameters of the same names. */
export async function loadParameters(path: string, params: [string, Tensor][]): Promise<void> {
  const state = await readSafetensors(path);
  try {
    copyNamed(params, state);
  } finally {
    for (const t of state.values()) t.dispose();
  }
}

/** The files `saveTrained` writes in `dir` (relative paths), for checking that a checkpoint is whole. */
export function trainedFiles(dir: string, lora: boolean): string[] {
  return (lora ? ['adapter_config.json', 'adapter_model.safetensors'] : ['config.json', 'model.safetensors']).map((f) => join(dir, f));
}

/**
 * Saves `model` to `dir`: with LoRA only its adapter in PEFT's layout (the base named by
 * `baseModel`; `extra` parameters, such as a reward model's head, as its modules_to_save), else
 * the whole model in Hugging Face's layout.
 */
export async function saveTrained(
  dir: string,
  model: CausalLM,
  o: { baseModel: string | null; tokenizerJson?: string; taskType?: 'CAUSAL_LM' | 'SEQ_CLS'; extra?: [string, Tensor][] },
): Promise<void> {
  if (model.adapter) await saveAdapter(dir, model.adapter, { baseModel: o.baseModel, taskType: o.taskType ?? 'CAUSAL_LM', extra: o.extra });
  else await saveModel(dir, model, { tokenizerJson: o.tokenizerJson });
}

/** Copies what `saveTrained` wrote into the live `model` (built as the run builds it) and, from an adapter, its `extra` parameters. */
export async function restoreTrained(dir: string, model: CausalLM, extra: [string, Tensor][] = []): Promise<void> {
  if (!model.adapter) return loadParameters(join(dir, 'model.safetensors'), model.namedParameters());
  const saved = await restoreAdapter(dir, model);
  try {
    copyNamed(extra, saved);
  } finally {
    for (const t of saved.values()) t.dispose();
  }
}

/** Writes float32 vectors (held in JavaScript, not as tensors) to one safetensors file. */
export async function saveVectors(path: string, vectors: Record<string, Float32Array>, metadata: Record<string, string>): Promise<void> {
  const ts = Object.fromEntries(Object.entries(vectors).map(([name, v]) => [name, tensor(v)]));
  try {
    await writeSafetensors(path, ts, metadata);
  } finally {
    for (const t of Object.values(ts)) t.dispose();
  }
}

/**
 * Reads vectors written by saveVectors, each a float32 vector of `length` (`lengthName` says
 * what that length is in errors); `what` names the state when the file is missing.
 */
export async function loadVectors(
  path: string,
  o: { what: string; names: string[]; length: number; lengthName: string },
): Promise<{ vectors: Record<string, Float32Array>; metadata: Record<string, string> }> {
  if (!existsSync(path)) throw new Error(`${o.what} ${path} not found`);
  const { tensors, metadata } = await readSafetensorsFile(path);
  try {
    const read = (name: string): Float32Array => {
      const t = tensors.get(name);
      if (!t || t.dtype !== 'float32' || t.shape.length !== 1 || t.shape[0] !== o.length)
        throw new Error(`${path}: ${name}: expected a float32 vector of ${o.lengthName} ${o.length}, got ${t ? `${t.dtype} [${t.shape.join(', ')}]` : 'nothing'}`);
      return t.toFloat32Array();
    };
    return { vectors: Object.fromEntries(o.names.map((n) => [n, read(n)])), metadata };
  } finally {
    for (const t of tensors.values()) t.dispose();
  }
}
