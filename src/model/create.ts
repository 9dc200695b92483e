import type { Device, DType, Tensor } from '../tensor/index.js';
import { parseConfig, type Gpt2ConfigInput, type GptNeoxConfigInput, type LlamaConfigInput, type ModelConfig, type OptConfigInput } from './config.js';
import { assignParams, checkFilled, initParams, type CausalLM, type ParamSpec } from './decoder.js';
import { Gpt2, gpt2ParamName, gpt2ParamSpecs } from './gpt2.js';
import { GptNeox, gptNeoxParamName, gptNeoxParamSpecs } from './gpt-neox.js';
import { Llama, llamaParamName, llamaParamSpecs } from './llama.js';
import { Opt, optParamName, optParamSpecs } from './opt.js';

export type ConfigLike = ModelConfig | Gpt2ConfigInput | OptConfigInput | LlamaConfigInput | GptNeoxConfigInput;

interface Architecture {
  specs: ParamSpec[];
  /** a checkpoint's tensor name -> parameter name, or null for what is not a parameter */
  paramName: (fileName: string) => string | null;
  build: (params: Map<string, Tensor>, device: Device) => CausalLM;
}

function architecture(c: ModelConfig): Architecture {
  switch (c.model_type) {
    case 'gpt2':
      return { specs: gpt2ParamSpecs(c), paramName: (n) => gpt2ParamName(c, n), build: (p, d) => new Gpt2(c, p, d) };
    case 'opt':
      return { specs: optParamSpecs(c), paramName: (n) => optParamName(c, n), build: (p, d) => new Opt(c, p, d) };
    case 'gpt_neox':
      return { specs: gptNeoxParamSpecs(c), paramName: (n) => gptNeoxParamName(c, n), build: (p, d) => new GptNeox(c, p, d) };
    default:
      return { specs: llamaParamSpecs(c), paramName: (n) => llamaParamName(c, n), build: (p, d) => new Llama(c, p, d) };
  }
}

export interface ModelOptions {
  device?: Device;
  /** how the weights are held (default float32) */
  dtype?: DType;
}

/**
 * A randomly initialised model with transformers' init for its architecture (GPT-2's: normal(0,
 * initializer_range), residual projections scaled by 1/sqrt(2 n_layer); OPT: normal(0, init_std)).
 * The config is validated and HF defaults filled in, so a partial object such as
 * {model_type: 'gpt2', n_embd: 64, ...} is accepted. `seed` seeds the global generator first, so
 * the same seed gives the same weights.
 */
export function createModel(config: ConfigLike, opts: ModelOptions & { seed?: number } = {}): CausalLM {
  const cfg = parseConfig(config, 'model config');
  const device = opts.device ?? 'cpu';
  const arch = architecture(cfg);
  return arch.build(initParams(arch.specs, opts.seed, device, opts.dtype), device);
}

/**
 * Fills a model's parameters from a checkpoint's tensors, one part (a shard) at a time, so that a
 * sharded checkpoint is never in memory whole besides the model. Names are HF's with or without
 * their prefixes; buffers such as GPT-2's attn.bias are skipped; values are converted to
 * `opts.dtype`. `build` checks that every parameter was filled; errors name the tensor and the file.
 */
export interface ParamLoader {
  assign(tensors: Map<string, Tensor>, origin: string): void;
  build(origin: string): CausalLM;
  /** frees the parameters when loading fails */
  dispose(): void;
}

export function paramLoader(config: ModelConfig, opts: ModelOptions = {}): ParamLoader {
  const device = opts.device ?? 'cpu';
  const arch = architecture(config);
  const params = initParams(arch.specs.map((s) => ({ ...s, init: { kind: 'zeros' as const } })), undefined, device, opts.dtype);
  const filled = new Set<string>();
  return {
    assign: (tensors, origin) => assignParams(params, tensors, arch.paramName, origin, filled),
    build: (origin) => {
      checkFilled(params, filled, origin);
      return arch.build(params, device);
    },
    dispose: () => params.forEach((p) => p.dispose()),
  };
}

/** A model whose weights are `tensors` (one checkpoint file's contents; see paramLoader). */
export function modelFromTensors(config: ModelConfig, tensors: Map<string, Tensor>, origin: string, opts: ModelOptions = {}): CausalLM {
  const loader = paramLoader(config, opts);
  try {
    loader.assign(tensors, origin);
    return loader.build(origin);
  } catch (err) {
    loader.dispose();
    throw err;
  }
}
