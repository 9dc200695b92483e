import type { Device, Tensor } from '../tensor/index.js';
import { parseConfig, type Gpt2ConfigInput, type ModelConfig, type OptConfigInput } from './config.js';
import { assignParams, initParams, type CausalLM, type ParamSpec } from './decoder.js';
import { Gpt2, gpt2ParamName, gpt2ParamSpecs } from './gpt2.js';
import { Opt, optParamName, optParamSpecs } from './opt.js';

export type ConfigLike = ModelConfig | Gpt2ConfigInput | OptConfigInput;

function specsFor(config: ModelConfig): ParamSpec[] {
  return config.model_type === 'gpt2' ? gpt2ParamSpecs(config) : optParamSpecs(config);
}

function build(config: ModelConfig, params: Map<string, Tensor>, device: Device): CausalLM {
  return config.model_type === 'gpt2' ? new Gpt2(config, params, device) : new Opt(config, params, device);
}

/**
 * A randomly initialised model (GPT-2's init: normal(0, initializer_range), residual projections
 * scaled by 1/sqrt(2 n_layer); OPT: normal(0, init_std)). The config is validated and HF defaults
 * filled in, so a partial object such as {model_type: 'gpt2', n_embd: 64, ...} is accepted.
 * `seed` seeds the global generator first, so the same seed gives the same weights.
 */
export function createModel(config: ConfigLike, opts: { seed?: number; device?: Device } = {}): CausalLM {
  const cfg = parseConfig(config, 'model config');
  const device = opts.device ?? 'cpu';
  return build(cfg, initParams(specsFor(cfg), opts.seed, device), device);
}

/** The parameter a checkpoint's tensor name stands for (prefixes added), or null for a skipped buffer. */
export function paramName(config: ModelConfig, fileName: string): string | null {
  return config.model_type === 'gpt2' ? gpt2ParamName(config, fileName) : optParamName(config, fileName);
}

/**
 * A model whose weights come from `tensors` (a checkpoint's contents, HF names with or without
 * their prefixes; buffers such as GPT-2's attn.bias skipped). Every parameter must be present with
 * the shape the config implies; errors name the tensor and `origin` (the file).
 */
export function modelFromTensors(config: ModelConfig, tensors: Map<string, Tensor>, origin: string, device: Device = 'cpu'): CausalLM {
  const zeroSpecs = specsFor(config).map((s) => ({ ...s, init: { kind: 'zeros' as const } }));
  const params = initParams(zeroSpecs, undefined, device);
  try {
    assignParams(params, tensors, (n) => paramName(config, n), origin);
  } catch (err) {
    for (const p of params.values()) p.dispose();
    throw err;
  }
  return build(config, params, device);
}
