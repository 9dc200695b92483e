import {
  arange,
  cat,
  checkpoint,
  dropout,
  linear,
  manualSeed,
  noGrad,
  weightsChanged,
  scope,
  ones,
  randn,
  zeros,
  type Device,
  type DType,
  type Tensor,
} from '../tensor/index.js';
import { contextLength, hiddenSize, type ModelConfig } from './config.js';
import type { LoraAdapter, Projection } from './lora.js';

// What the architectures share: a table of named parameters, the attention mask and positions
// derived from a padding mask, masked causal (and grouped-query) attention composed from matmul +
// softmax (libtorch 1.13 has no fused attention), and a preallocated key/value cache for sampling.

export interface ForwardOutput {
  /** [B, T, V] */
  logits: Tensor;
  /** last hidden state after the final norm (and OPT's project_out) [B, T, hiddenSize] */
  hidden: Tensor;
}

/**
 * Keys and values of past positions per layer, filled up to `length`: keys stored transposed,
 * [B, H, headDim, maxLength], values [B, H, maxLength, headDim] (H = key/value heads), both contiguous, so that the two
 * attention matmuls of a decoding step read them in place (no copy of the cache per token).
 * Attention runs over the whole buffer; the bias masks what is not filled yet. Its tensors belong
 * to the scope that creates it, like any others.
 */
export interface KVCache {
  keysT: Tensor[];
  values: Tensor[];
  length: number;
  readonly maxLength: number;
}

export interface ForwardOptions {
  /** 1 for real tokens, 0 for padding; [B, T], or [B, cache.length + T] when a cache is given. */
  attentionMask?: Tensor;
  /** appends this call's keys and values and attends over the cached ones too */
  cache?: KVCache;
  /**
   * Precomputed instead of derived from attentionMask (a sampling loop builds them from its own
   * bookkeeping): positions [B, T] int64, and the additive bias [B or 1, 1, T, S] (0 = attend,
   * -1e9 = not) with S = cache.maxLength when a cache is given, else T. Give both or neither.
   */
  positions?: Tensor;
  attentionBias?: Tensor;
}

export interface CausalLM {
  readonly config: ModelConfig;
  readonly contextLength: number;
  readonly hiddenSize: number;
  forward(inputIds: Tensor, opts?: ForwardOptions): ForwardOutput;
  /** forward without the LM head: the last hidden state [B, T, hiddenSize] (for scalar heads, or to apply lmHead to a few positions) */
  hiddenStates(inputIds: Tensor, opts?: ForwardOptions): Tensor;
  /** the (tied) LM head: [..., hiddenSize] -> [..., V] */
  lmHead(hidden: Tensor): Tensor;
  /** the weights under Hugging Face's names (what saveModel writes), adapters excluded */
  namedParameters(): [string, Tensor][];
  /** what an optimizer trains: every weight, or only the adapter's A and B when one is attached */
  parameters(): Tensor[];
  train(on?: boolean): void;
  readonly training: boolean;
  /**
   * Gradient checkpointing: in a forward pass under grad, each decoder layer keeps only its input
   * and is recomputed in the backward pass (less memory, about one more forward pass of time).
   */
  gradCheckpointing: boolean;
  /** own storage, no gradients; an attached adapter is copied too */
  frozenCopy(): CausalLM;
  /** the LoRA adapter applied in every projection, or null */
  readonly adapter: LoraAdapter | null;
  /** applies `adapter` from now on (this model owns it then) and freezes the base weights */
  attachAdapter(adapter: LoraAdapter): void;
  /**
   * The same weights without the adapter (a view: no copy, nothing of its own to dispose), e.g.
   * the DPO reference of a LoRA policy. Always in eval mode, as a frozen copy would be.
   */
  baseModel(): CausalLM;
  /** every projection layer (the modules LoRA can target), in the order a forward pass runs them */
  projections(): Projection[];
  numParameters(): number;
  /** an empty cache for `batch` sequences of up to `maxLength` tokens */
  createCache(batch: number, maxLength: number): KVCache;
  readonly device: Device;
  dispose(): void;
}

export type Init = { kind: 'normal'; std: number } | { kind: 'zeros' } | { kind: 'ones' };
export interface ParamSpec {
  name: string;
  shape: number[];
  init: Init;
}

/** Allocates parameters per spec, seeded; each kept (outside any scope) with requiresGrad. */
export function initParams(specs: ParamSpec[], seed: number | undefined, device: Device, dtype: DType = 'float32'): Map<string, Tensor> {
  if (seed !== undefined) manualSeed(seed);
  const params = new Map<string, Tensor>();
  noGrad(() => {
    for (const s of specs) {
      let t: Tensor;
      if (s.init.kind === 'normal') {
        const r = randn(s.shape, { device });
        const scaled = r.mul(s.init.std);
        t = scaled.to(dtype);
        scaled.dispose();
        r.dispose();
      } else {
        t = (s.init.kind === 'ones' ? ones : zeros)(s.shape, { device, dtype });
      }
      t.keep();
      t.requiresGrad = true;
      params.set(s.name, t);
    }
  });
  return params;
}

export interface AttentionInputs {
  /** additive attention bias [B or 1, 1, T, S]: 0 where a query may attend, -1e9 where not */
  bias: Tensor;
  /** position of each new token among the real tokens of its row [B or 1, T] (int64) */
  positions: Tensor;
}

/**
 * Causal mask, padding mask and positions for T new tokens after `past` cached ones, over key
 * columns [0, S) (S = the cache's maxLength, or T without a cache). Positions count real tokens only
 * (HF's cumsum - 1), so left-padded prompts get the same positions as unpadded ones; padding
 * positions are clamped to 0 and never attended to by real tokens.
 */
export function attentionInputs(T: number, past: number, device: Device, attentionMask?: Tensor, cacheLength?: number): AttentionInputs {
  const S = cacheLength ?? T;
  const filled = past + T;
  // -1e9 rather than -inf: a left-padding query that may attend to nothing gets a uniform row, not NaN.
  // tril(past) allows key j for query i when j <= past + i, which also excludes unfilled cache columns.
  const causal = ones([T, S], { device }).tril(past);
  if (attentionMask === undefined) {
    const bias = causal.sub(1).mul(1e9).view([1, 1, T, S]);
    const positions = arange(past, filled, 1, { device, dtype: 'int64' }).view([1, T]);
    return { bias, positions };
  }
  const [B, M] = attentionMask.shape;
  if (attentionMask.shape.length !== 2 || M !== filled) {
    throw new Error(`attentionMask has shape [${attentionMask.shape}] but ${filled} = ${past} cached + ${T} new positions were expected`);
  }
  let keyMask = attentionMask.to('float32');
  const positions = keyMask.cumsum(1).sub(1).clamp(0).narrow(1, past, T).to('int64');
  if (S > filled) keyMask = cat([keyMask, zeros([B, S - filled], { device })], 1);
  const bias = causal.view([1, 1, T, S]).mul(keyMask.view([B, 1, 1, S])).sub(1).mul(1e9);
  return { bias, positions };
}

/** opts.positions/attentionBias when given, else derived from the mask (see attentionInputs). */
export function resolveAttention(opts: ForwardOptions, T: number, device: Device): AttentionInputs {
  if (opts.positions && opts.attentionBias) return { positions: opts.positions, bias: opts.attentionBias };
  if (opts.positions || opts.attentionBias) throw new Error('forward: give both positions and attentionBias, or neither');
  return attentionInputs(T, opts.cache?.length ?? 0, device, opts.attentionMask, opts.cache?.maxLength);
}

/** [B, T, H*hd] -> [B, H, T, hd] */
export function splitHeads(x: Tensor, nHead: number): Tensor {
  const [B, T, D] = x.shape;
  return x.view([B, T, nHead, D / nHead]).transpose(1, 2);
}

/** [B, H, T, hd] -> [B, T, H*hd] */
export function mergeHeads(y: Tensor): Tensor {
  const [B, H, T, hd] = y.shape;
  return y.transpose(1, 2).reshape([B, T, H * hd]);
}

/**
 * softmax(q k^T + bias) v for q [B,H,T,hd] already scaled by 1/sqrt(hd); k, v [B,Hkv,T,hd] of the
 * new tokens, where each key/value head serves H / Hkv consecutive query heads (grouped-query
 * attention; Hkv = H is plain multi-head). With a cache, k and v are written at the cache's current
 * length and attention covers the whole cache buffer (the caller advances cache.length once every
 * layer has run). The softmax runs in float32 whatever the weights' dtype, as transformers does.
 */
export function attend(
  q: Tensor,
  k: Tensor,
  v: Tensor,
  bias: Tensor,
  layer: number,
  cache: KVCache | undefined,
  attnDropout: number,
  training: boolean,
): Tensor {
  let keysT: Tensor;
  let values = v;
  if (cache) {
    const T = k.shape[2];
    if (cache.length + T > cache.maxLength) throw new Error(`KV cache full: ${cache.length + T} positions needed, ${cache.maxLength} allocated`);
    cache.keysT[layer].narrow(3, cache.length, T).copy_(k.transpose(2, 3));
    cache.values[layer].narrow(2, cache.length, T).copy_(v);
    keysT = cache.keysT[layer];
    values = cache.values[layer];
  } else {
    keysT = k.transpose(2, 3);
  }
  const [B, H, T, hd] = q.shape;
  const kvHeads = k.shape[1];
  const group = H / kvHeads;
  // a group's query heads are stacked along the query axis, so that they read their one key/value
  // head in place (no repeated copy of the cache per step); for plain multi-head these are views
  let att = q.reshape([B, kvHeads, group * T, hd]).matmul(keysT).to('float32');
  const S = att.shape[3];
  att = att.view([B, kvHeads, group, T, S]).add(bias.unsqueeze(1)).softmax(4);
  if (training && attnDropout > 0) att = dropout(att, attnDropout, true);
  return att.to(values.dtype).view([B, kvHeads, group * T, S]).matmul(values).view([B, H, T, hd]);
}

/** `nHead` key/value heads per layer, in the dtype of the model's activations */
export function makeCache(nLayer: number, batch: number, nHead: number, maxLength: number, headDim: number, device: Device, dtype: DType): KVCache {
  const alloc = (shape: number[]) => Array.from({ length: nLayer }, () => zeros(shape, { device, dtype }));
  return { keysT: alloc([batch, nHead, headDim, maxLength]), values: alloc([batch, nHead, maxLength, headDim]), length: 0, maxLength };
}

/**
 * The MLP activation named by an HF config. gelu_new / gelu_pytorch_tanh are the tanh
 * approximation. libtorch 1.13's tanh-GELU kernel is slow on bfloat16 (about twice the float32
 * time, forward and backward, measured here), so on bfloat16 it runs in float32: faster and more
 * precise; the cast back is the one the next matmul would make under autocast anyway.
 */
export function activation(name: 'gelu_new' | 'gelu' | 'gelu_pytorch_tanh' | 'relu', x: Tensor): Tensor {
  if (name === 'relu') return x.relu();
  if (name === 'gelu') return x.gelu('none');
  return x.dtype === 'bfloat16' ? x.to('float32').gelu('tanh').to('bfloat16') : x.gelu('tanh');
}

/**
 * Conv1D of HF: x @ W + b with W [in, out], as one addmm on the flattened input (what HF does), so
 * that the weight's gradient comes out in its own [in, out] layout without a transposed copy.
 */
function conv1d(x: Tensor, w: Tensor, b: Tensor | null): Tensor {
  const shape = x.shape;
  const flat = x.reshape([-1, shape[shape.length - 1]]);
  const y = b ? b.addmm(flat, w) : flat.mm(w);
  return y.view([...shape.slice(0, -1), w.shape[1]]);
}

/** Dropout that costs nothing when off. */
export function maybeDropout(x: Tensor, p: number, training: boolean): Tensor {
  return training && p > 0 ? dropout(x, p, true) : x;
}

/**
 * Copies `source` tensors into a parameter table (converting to the parameters' dtype), checking
 * names and shapes, and records the parameters it filled in `filled`. `rename` maps a file name to
 * the parameter name (or null to skip a known buffer); errors name the offending tensor.
 */
export function assignParams(
  params: Map<string, Tensor>,
  source: Map<string, Tensor>,
  rename: (fileName: string) => string | null,
  origin: string,
  filled: Set<string>,
): void {
  noGrad(() => {
    for (const [fileName, t] of source) {
      const name = rename(fileName);
      if (name === null) continue;
      const p = params.get(name);
      if (!p) throw new Error(`${origin}: unexpected tensor '${fileName}' (not a parameter of this model)`);
      if (t.shape.length !== p.shape.length || t.shape.some((d, i) => d !== p.shape[i])) {
        throw new Error(`${origin}: tensor '${fileName}' has shape [${t.shape}] but the config needs [${p.shape}] for '${name}'`);
      }
      if (t.dtype !== 'float32' && t.dtype !== 'bfloat16') {
        throw new Error(`${origin}: tensor '${fileName}' has dtype ${t.dtype}, expected a float dtype`);
      }
      p.copy_(t);
      filled.add(name);
    }
  });
  weightsChanged();
}

/** Throws, naming `origin`, when a parameter was not filled by assignParams. */
export function checkFilled(params: Map<string, Tensor>, filled: Set<string>, origin: string): void {
  const missing = [...params.keys()].filter((n) => !filled.has(n));
  if (missing.length > 0) {
    throw new Error(`${origin}: missing tensor${missing.length > 1 ? 's' : ''} ${missing.slice(0, 5).map((n) => `'${n}'`).join(', ')}${missing.length > 5 ? ` and ${missing.length - 5} more` : ''}`);
  }
}

/** Detached copies with their own storage and no gradient (a frozen reference shares nothing). */
export function cloneParams(params: Map<string, Tensor>): Map<string, Tensor> {
  const out = new Map<string, Tensor>();
  // the scope frees the intermediate detach() handles; the kept clones survive
  scope(() =>
    noGrad(() => {
      for (const [name, p] of params) out.set(name, p.detach().clone().keep());
    }),
  );
  return out;
}

/**
 * Parameter bookkeeping shared by the architectures; subclasses implement the forward pass (every
 * projection through `proj`) and `withParams`.
 */
export abstract class DecoderModel implements CausalLM {
  readonly contextLength: number;
  readonly hiddenSize: number;
  protected isTraining = false;
  gradCheckpointing = false;
  /** projection weights are stored [in, out] (GPT-2's Conv1D) rather than torch's [out, in] */
  protected readonly fanInFanOut: boolean = false;
  private disposed = false;
  private lora: LoraAdapter | null = null;
  /** false for a baseModel() view: the weights belong to the model it was made from */
  private ownsParams = true;
  /** set while projections() traces a forward pass */
  private tracer: ((module: string, weight: Tensor) => void) | null = null;

  constructor(
    readonly config: ModelConfig,
    protected readonly params: Map<string, Tensor>,
    readonly device: Device,
  ) {
    this.contextLength = contextLength(config);
    this.hiddenSize = hiddenSize(config);
  }

  abstract hiddenStates(inputIds: Tensor, opts?: ForwardOptions): Tensor;
  abstract lmHead(hidden: Tensor): Tensor;
  abstract createCache(batch: number, maxLength: number): KVCache;
  /** a model of this architecture and config over `params` (taken as they are, not copied) */
  protected abstract withParams(params: Map<string, Tensor>): DecoderModel;

  forward(inputIds: Tensor, opts: ForwardOptions = {}): ForwardOutput {
    const hidden = this.hiddenStates(inputIds, opts);
    return { hidden, logits: this.lmHead(hidden) };
  }

  /**
   * The projection `module` of x: `${module}.weight` (in the model's layout) and `${module}.bias`
   * when the model has one, plus the attached adapter's update for this module. Every linear
   * layer of a forward pass goes through here, so that LoRA attaches by module name alone.
   */
  protected proj(x: Tensor, module: string): Tensor {
    const w = this.p(`${module}.weight`);
    const b = this.params.get(`${module}.bias`) ?? null;
    this.tracer?.(module, w);
    const y = this.fanInFanOut ? conv1d(x, w, b) : linear(x, w, b);
    return this.lora ? this.lora.apply(module, x, y, this.isTraining) : y;
  }

  /**
   * One decoder layer, body(x), checkpointed when gradCheckpointing is on (in training mode its
   * random draws, dropout, are replayed exactly in the recomputation).
   */
  protected layer(x: Tensor, body: (x: Tensor) => Tensor): Tensor {
    return this.gradCheckpointing ? checkpoint(body, x, { random: this.isTraining }) : body(x);
  }

  get training(): boolean {
    return this.isTraining;
  }

  train(on = true): void {
    this.isTraining = on;
  }

  get adapter(): LoraAdapter | null {
    return this.lora;
  }

  attachAdapter(adapter: LoraAdapter): void {
    this.checkAlive();
    if (!this.ownsParams) throw new Error('cannot attach an adapter to a base-model view');
    if (this.lora) throw new Error('this model already has an adapter');
    const mine = new Map(this.projections().map((p) => [p.module, p]));
    for (const m of adapter.modules) {
      const want = mine.get(m);
      const got = adapter.projection(m)!;
      if (!want) throw new Error(`the adapter targets '${m}', which is not a projection of this ${this.config.model_type} model`);
      if (want.inFeatures !== got.inFeatures || want.outFeatures !== got.outFeatures)
        throw new Error(`the adapter on '${m}' maps ${got.inFeatures} -> ${got.outFeatures} features but the model's layer maps ${want.inFeatures} -> ${want.outFeatures}`);
    }
    // frozen base: no gradients, hence no optimizer state for it
    for (const p of this.params.values()) p.requiresGrad = false;
    this.lora = adapter;
  }

  baseModel(): CausalLM {
    this.checkAlive();
    const view = this.withParams(this.params);
    view.ownsParams = false;
    return view;
  }

  frozenCopy(): CausalLM {
    this.checkAlive();
    const copy = this.withParams(cloneParams(this.params));
    if (this.lora) {
      copy.lora = this.lora.frozenCopy();
      for (const p of copy.lora.parameters()) p.requiresGrad = false;
    }
    return copy;
  }

  projections(): Projection[] {
    this.checkAlive();
    // traced from a one-token forward pass rather than listed per architecture, so that the list
    // is exactly what `proj` sees, for every architecture alike
    const seen = new Map<string, Projection>();
    this.tracer = (module, w) => {
      const [d0, d1] = w.shape;
      if (!seen.has(module)) seen.set(module, { module, inFeatures: this.fanInFanOut ? d0 : d1, outFeatures: this.fanInFanOut ? d1 : d0, fanInFanOut: this.fanInFanOut });
    };
    try {
      // returns nothing, so that the scope frees every tensor of the pass
      scope(() => void noGrad(() => this.hiddenStates(zeros([1, 1], { dtype: 'int64', device: this.device }))));
    } finally {
      this.tracer = null;
    }
    return [...seen.values()];
  }

  namedParameters(): [string, Tensor][] {
    this.checkAlive();
    return [...this.params.entries()];
  }

  parameters(): Tensor[] {
    this.checkAlive();
    return this.lora ? this.lora.parameters() : [...this.params.values()];
  }

  numParameters(): number {
    let n = 0;
    for (const p of this.params.values()) n += p.numel;
    return n;
  }

  /** the dtype the weights are held in, and so the activations' outside autocast */
  get dtype(): DType {
    const [first] = this.params.values();
    return first.dtype;
  }

  /** the parameter `name`, which must exist */
  protected p(name: string): Tensor {
    const t = this.params.get(name);
    if (!t) throw new Error(`internal: no parameter '${name}'`);
    return t;
  }

  protected checkAlive(): void {
    if (this.disposed) throw new Error('this model has been disposed');
  }

  /** checks ids against the vocabulary size and the context length before any kernel sees them */
  protected checkInput(inputIds: Tensor, past: number): void {
    this.checkAlive();
    if (inputIds.shape.length !== 2) throw new Error(`inputIds must be [batch, length], got shape [${inputIds.shape}]`);
    if (inputIds.dtype !== 'int64') throw new Error(`inputIds must be int64, got ${inputIds.dtype}`);
    const total = past + inputIds.shape[1];
    if (total > this.contextLength) {
      throw new Error(`sequence of ${total} tokens is longer than the model's context of ${this.contextLength}`);
    }
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    if (!this.ownsParams) return;
    for (const p of this.params.values()) p.dispose();
    this.lora?.dispose();
  }
}
