import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import type { Tensor } from '../tensor/index.js';
import { writeFileAtomic } from '../util/atomic-write.js';
import { ensureDir } from '../util/ensure-dir.js';
import { assertRegularFile } from '../util/regular-file.js';
import { copyNamed } from '../train/params.js';
import { formatIssues } from './config.js';
import type { CausalLM } from './decoder.js';
import { LoraAdapter, selectTargets, type LoraSpec } from './lora.js';
import { readSafetensors, writeSafetensors } from './safetensors.js';

// An adapter folder in PEFT's layout (what PeftModel.save_pretrained writes and
// PeftModel.from_pretrained reads): adapter_config.json (a LoraConfig) and
// adapter_model.safetensors, whose tensors are named base_model.model.<module path>.lora_A.weight
// and .lora_B.weight (the adapter name removed), plus base_model.model.<module>.<param> for each
// of `modules_to_save` (a reward model's head).

export const ADAPTER_CONFIG = 'adapter_config.json';
export const ADAPTER_WEIGHTS = 'adapter_model.safetensors';
/** PEFT's prefix: PeftModel.base_model (the LoRA tuner) wraps the transformers model as .model */
const PREFIX = 'base_model.model.';

const emptyRecord = z.record(z.string(), z.unknown()).refine((r) => Object.keys(r).length === 0, 'per-module ranks or alphas are not supported');

/** adapter_config.json as this project reads it: the LoRA fields it implements; others pass through. */
const adapterConfigSchema = z.looseObject({
  peft_type: z.literal('LORA'),
  r: z.number().int().positive(),
  lora_alpha: z.number().positive(),
  lora_dropout: z.number().min(0).lt(1).default(0),
  target_modules: z.union([z.array(z.string().min(1)).min(1), z.string().min(1)]),
  fan_in_fan_out: z.boolean().default(false),
  // 'all' and 'lora_only' train biases too, which the base would then need from the adapter
  bias: z.literal('none', "only bias 'none' is supported").default('none'),
  use_rslora: z.boolean().default(false),
  use_dora: z.literal(false, 'DoRA is not supported').optional(),
  rank_pattern: emptyRecord.optional(),
  alpha_pattern: emptyRecord.optional(),
  layers_to_transform: z.null('layers_to_transform is not supported').optional(),
  modules_to_save: z.array(z.string().min(1)).nullable().optional(),
  task_type: z.string().nullable().optional(),
  base_model_name_or_path: z.string().nullable().optional(),
});
export type AdapterConfig = z.infer<typeof adapterConfigSchema>;

export type TaskType = 'CAUSAL_LM' | 'SEQ_CLS';

/** A LoraConfig as PEFT writes it, with the fields every PEFT release since rsLoRA reads. */
function configJson(adapter: LoraAdapter, o: { baseModel: string | null; taskType: TaskType; modulesToSave: string[] | null; fanInFanOut: boolean }): Record<string, unknown> {
  const s = adapter.spec;
  return {
    peft_type: 'LORA',
    task_type: o.taskType,
    base_model_name_or_path: o.baseModel,
    revision: null,
    inference_mode: true,
    r: s.r,
    lora_alpha: s.alpha,
    lora_dropout: s.dropout,
    target_modules: s.targets,
    fan_in_fan_out: o.fanInFanOut,
    bias: 'none',
    use_rslora: s.rslora,
    modules_to_save: o.modulesToSave,
    init_lora_weights: true,
    layers_to_transform: null,
    layers_pattern: null,
    rank_pattern: {},
    alpha_pattern: {},
  };
}

/**
 * Writes `adapter` (and `extra`, full tensors of modules_to_save under their own names, e.g.
 * `score.weight`) to `dir`. `baseModel` (the base's folder or name) is recorded as base_model_name_or_path.
 */
export async function saveAdapter(
  dir: string,
  adapter: LoraAdapter,
  o: { baseModel: string | null; taskType: TaskType; extra?: [string, Tensor][] },
): Promise<void> {
  ensureDir(dir);
  const extra = o.extra ?? [];
  const modulesToSave = extra.length ? [...new Set(extra.map(([n]) => n.slice(0, n.lastIndexOf('.'))))] : null;
  const fanInFanOut = adapter.modules.some((m) => adapter.projection(m)!.fanInFanOut);
  const tensors = new Map([...adapter.namedParameters(), ...extra].map(([n, t]) => [PREFIX + n, t]));
  await writeSafetensors(join(dir, ADAPTER_WEIGHTS), tensors, { format: 'pt' });
  await writeFileAtomic(join(dir, ADAPTER_CONFIG), JSON.stringify(configJson(adapter, { ...o, modulesToSave, fanInFanOut }), null, 2) + '\n');
}

export interface AdapterFiles {
  config: AdapterConfig;
  spec: LoraSpec;
  /** lora_A / lora_B tensors without PEFT's prefix (the caller disposes them) */
  lora: Map<string, Tensor>;
  /** modules_to_save tensors without the prefix, e.g. `score.weight` (the caller disposes them) */
  extra: Map<string, Tensor>;
}

/** Reads and checks an adapter folder; errors name the file and the field or tensor. */
export async function readAdapter(dir: string): Promise<AdapterFiles> {
  const configPath = join(dir, ADAPTER_CONFIG);
  await assertRegularFile(configPath);
  let json: unknown;
  try {
    json = JSON.parse(await readFile(configPath, 'utf8'));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new Error(code === 'ENOENT' ? `${dir} is not a PEFT adapter folder: ${configPath} not found` : `${configPath}: ${(e as Error).message}`);
  }
  const parsed = adapterConfigSchema.safeParse(json);
  if (!parsed.success) throw new Error(formatIssues(parsed.error, configPath));
  const config = parsed.data;
  const spec: LoraSpec = { r: config.r, alpha: config.lora_alpha, dropout: config.lora_dropout, targets: config.target_modules, rslora: config.use_rslora };
  const weightsPath = join(dir, ADAPTER_WEIGHTS);
  const tensors = await readSafetensors(weightsPath);
  const lora = new Map<string, Tensor>();
  const extra = new Map<string, Tensor>();
  const saved = config.modules_to_save ?? [];
  try {
    for (const [name, t] of tensors) {
      const bare = name.startsWith(PREFIX) ? name.slice(PREFIX.length) : null;
      if (bare !== null && /\.lora_[AB]\.weight$/.test(bare)) lora.set(bare, t);
      else if (bare !== null && saved.some((m) => bare.startsWith(`${m}.`))) extra.set(bare, t);
      else throw new Error(`${weightsPath}: unexpected tensor '${name}' (expected ${PREFIX}<module>.lora_A.weight / .lora_B.weight, or a module of modules_to_save)`);
    }
  } catch (e) {
    for (const t of tensors.values()) t.dispose();
    throw e;
  }
  return { config, spec, lora, extra };
}

/** Adapters for `model` from read files; every tensor must belong to a targeted projection. */
function adapterFor(model: CausalLM, files: AdapterFiles, origin: string): LoraAdapter {
  const targets = selectTargets(model.projections(), files.spec.targets, `${origin}: target_modules`);
  const modules = new Set(targets.map((p) => p.module));
  for (const name of files.lora.keys()) {
    const module = name.replace(/\.lora_[AB]\.weight$/, '');
    if (!modules.has(module)) throw new Error(`${origin}: tensor '${PREFIX}${name}' is for '${module}', which target_modules does not select in this ${model.config.model_type} model`);
  }
  return LoraAdapter.fromTensors(files.spec, targets, files.lora, origin, model.device);
}

/**
 * Reads the adapter in `dir` and attaches it to `model` (which then owns it). Returns the
 * modules_to_save tensors (the caller disposes them) and the config.
 */
export async function loadAdapter(dir: string, model: CausalLM): Promise<{ config: AdapterConfig; extra: Map<string, Tensor> }> {
  const files = await readAdapter(dir);
  try {
    model.attachAdapter(adapterFor(model, files, join(dir, ADAPTER_WEIGHTS)));
  } catch (e) {
    for (const t of files.extra.values()) t.dispose();
    throw e;
  } finally {
    for (const t of files.lora.values()) t.dispose();
  }
  return { config: files.config, extra: files.extra };
}

/**
 * loadAdapter for a language model (score, sample, merge): an adapter that saves other modules
 * beside its LoRA weights (a reward model's head) is refused, naming them.
 */
export async function loadLmAdapter(dir: string, model: CausalLM): Promise<void> {
  const { extra } = await loadAdapter(dir, model);
  const saved = [...extra.keys()];
  for (const t of extra.values()) t.dispose();
  if (saved.length > 0) throw new Error(`${dir} saves ${saved.join(', ')} besides its LoRA weights (a reward model's adapter?); a language model has no such modules`);
}

/**
 * Copies a saved adapter into the one `model` already has (a resumed run): same modules, same
 * shapes. Returns the modules_to_save tensors (the caller disposes them).
 */
export async function restoreAdapter(dir: string, model: CausalLM): Promise<Map<string, Tensor>> {
  const adapter = model.adapter;
  if (!adapter) throw new Error(`internal: restoring ${dir} into a model without an adapter`);
  const files = await readAdapter(dir);
  try {
    copyNamed(adapter.namedParameters(), files.lora);
  } catch (e) {
    for (const t of files.extra.values()) t.dispose();
    throw new Error(`${join(dir, ADAPTER_WEIGHTS)}: ${(e as Error).message}`);
  } finally {
    for (const t of files.lora.values()) t.dispose();
  }
  return files.extra;
}
