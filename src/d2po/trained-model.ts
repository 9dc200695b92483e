import { join } from 'node:path';
import { readSafetensors, restoreAdapter, saveAdapter, saveModel, type CausalLM, type LoraSpec } from '../model/index.js';
import { copyNamed } from '../train/params.js';
import type { RunConfig } from './config.js';

// What a run's checkpoint keeps of a model it trains: the whole model (config.json and
// model.safetensors), or, with LoRA, only its adapter in PEFT's layout (adapter_config.json and
// adapter_model.safetensors), the base being the run's model folder.

/** The run's LoRA settings as adapters take them, or null when LoRA is off. */
export function loraSpecOf(c: RunConfig): LoraSpec | null {
  const l = c.lora;
  return l.r > 0 ? { r: l.r, alpha: l.alpha, dropout: l.dropout, targets: l.targets, rslora: false } : null;
}

/** The files `saveTrained` writes in `dir` (relative paths), for checking that a checkpoint is whole. */
export function trainedFiles(dir: string, lora: boolean): string[] {
  return (lora ? ['adapter_config.json', 'adapter_model.safetensors'] : ['config.json', 'model.safetensors']).map((f) => join(dir, f));
}

/** Saves `model` to `dir`: its adapter when it has one (the base named by `baseModel`), else the whole model. */
export async function saveTrained(dir: string, model: CausalLM, o: { baseModel: string; tokenizerJson?: string }): Promise<void> {
  if (model.adapter) await saveAdapter(dir, model.adapter, { baseModel: o.baseModel, taskType: 'CAUSAL_LM' });
  else await saveModel(dir, model, { tokenizerJson: o.tokenizerJson });
}

/** Copies what `saveTrained` wrote into the live `model` (built as the run builds it). */
export async function restoreTrained(dir: string, model: CausalLM): Promise<void> {
  if (model.adapter) {
    const extra = await restoreAdapter(dir, model);
    for (const t of extra.values()) t.dispose();
    return;
  }
  const state = await readSafetensors(join(dir, 'model.safetensors'));
  try {
    copyNamed(model.namedParameters(), state);
  } finally {
    for (const t of state.values()) t.dispose();
  }
}
