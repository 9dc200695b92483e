import { embedding, layerNorm, linear, type Device, type Tensor } from '../tensor/index.js';
import type { Gpt2Config } from './config.js';
import {
  activation,
  attend,
  DecoderModel,
  makeCache,
  maybeDropout,
  mergeHeads,
  resolveAttention,
  type ForwardOptions,
  type KVCache,
  type ParamSpec,
} from './decoder.js';

// GPT-2 (Radford et al. 2019) as in Hugging Face's GPT2LMHeadModel: pre-LayerNorm blocks, learned
// positions, Conv1D projections whose weights are stored [in, out] (kept so, under HF's names, so
// that checkpoints load and save unchanged), and a head tied to the token embedding.

/** Parameters in HF's order and names (GPT2LMHeadModel.named_parameters()), with GPT-2's init. */
export function gpt2ParamSpecs(c: Gpt2Config): ParamSpec[] {
  const D = c.n_embd;
  const inner = c.n_inner ?? 4 * D;
  const std = c.initializer_range;
  // HF scales the residual projections by 1/sqrt(2 * n_layer) (GPT-2 paper, section 2.3)
  const projStd = std / Math.sqrt(2 * c.n_layer);
  const normal = (s: number) => ({ kind: 'normal' as const, std: s });
  const zeros = { kind: 'zeros' as const };
  const ones = { kind: 'ones' as const };
  const specs: ParamSpec[] = [
    { name: 'transformer.wte.weight', shape: [c.vocab_size, D], init: normal(std) },
    { name: 'transformer.wpe.weight', shape: [c.n_positions, D], init: normal(std) },
  ];
  for (let i = 0; i < c.n_layer; i++) {
    const h = `transformer.h.${i}.`;
    specs.push(
      { name: h + 'ln_1.weight', shape: [D], init: ones },
      { name: h + 'ln_1.bias', shape: [D], init: zeros },
      { name: h + 'attn.c_attn.weight', shape: [D, 3 * D], init: normal(std) },
      { name: h + 'attn.c_attn.bias', shape: [3 * D], init: zeros },
      { name: h + 'attn.c_proj.weight', shape: [D, D], init: normal(projStd) },
      { name: h + 'attn.c_proj.bias', shape: [D], init: zeros },
      { name: h + 'ln_2.weight', shape: [D], init: ones },
      { name: h + 'ln_2.bias', shape: [D], init: zeros },
      { name: h + 'mlp.c_fc.weight', shape: [D, inner], init: normal(std) },
      { name: h + 'mlp.c_fc.bias', shape: [inner], init: zeros },
      { name: h + 'mlp.c_proj.weight', shape: [inner, D], init: normal(projStd) },
      { name: h + 'mlp.c_proj.bias', shape: [D], init: zeros },
    );
  }
  specs.push({ name: 'transformer.ln_f.weight', shape: [D], init: ones }, { name: 'transformer.ln_f.bias', shape: [D], init: zeros });
  if (!c.tie_word_embeddings) specs.push({ name: 'lm_head.weight', shape: [c.vocab_size, D], init: normal(std) });
  return specs;
}

/**
 * Maps a tensor name from a published checkpoint to our parameter name, or null for what is not a
 * parameter: the causal-mask buffers `attn.bias` / `attn.masked_bias`, and a tied head's copy.
 */
export function gpt2ParamName(c: Gpt2Config, fileName: string): string | null {
  if (/\.attn\.(bias|masked_bias)$/.test(fileName)) return null;
  if (fileName === 'lm_head.weight') return c.tie_word_embeddings ? null : fileName;
  return fileName.startsWith('transformer.') ? fileName : `transformer.${fileName}`;
}

export class Gpt2 extends DecoderModel {
  declare readonly config: Gpt2Config;
  private readonly headDim: number;
  // Conv1D projections: weights [in, out]
  protected override readonly fanInFanOut = true;

  constructor(config: Gpt2Config, params: Map<string, Tensor>, device: Device) {
    super(config, params, device);
    this.headDim = config.n_embd / config.n_head;
  }

  hiddenStates(inputIds: Tensor, opts: ForwardOptions = {}): Tensor {
    const c = this.config;
    const cache = opts.cache;
    const past = cache?.length ?? 0;
    this.checkInput(inputIds, past);
    const [B, T] = inputIds.shape;
    const { bias, positions } = resolveAttention(opts, T, this.device);
    const eps = c.layer_norm_epsilon;
    const D = c.n_embd;
    const scale = c.scale_attn_weights ? 1 / Math.sqrt(this.headDim) : 1;
    let x = embedding(this.p('transformer.wte.weight'), inputIds).add(embedding(this.p('transformer.wpe.weight'), positions));
    x = maybeDropout(x, c.embd_pdrop, this.isTraining);
    for (let i = 0; i < c.n_layer; i++) {
      const h = `transformer.h.${i}.`;
      x = this.layer(x, (x) => {
        const a = layerNorm(x, [D], this.p(h + 'ln_1.weight'), this.p(h + 'ln_1.bias'), eps);
        const qkv = this.proj(a, h + 'attn.c_attn');
        // [B,T,3D] -> 3 x [B,H,T,hd] in three view ops
        const [q0, k, v] = qkv.view([B, T, 3, c.n_head, this.headDim]).permute([2, 0, 3, 1, 4]).unbind(0);
        const q = q0.mul(scale);
        const y = mergeHeads(attend(q, k, v, bias, i, cache, c.attn_pdrop, this.isTraining));
        x = x.add(maybeDropout(this.proj(y, h + 'attn.c_proj'), c.resid_pdrop, this.isTraining));
        const m = layerNorm(x, [D], this.p(h + 'ln_2.weight'), this.p(h + 'ln_2.bias'), eps);
        const f = activation(c.activation_function, this.proj(m, h + 'mlp.c_fc'));
        const out = this.proj(f, h + 'mlp.c_proj');
        return x.add(maybeDropout(out, c.resid_pdrop, this.isTraining));
      });
    }
    if (cache) cache.length += T;
    return layerNorm(x, [D], this.p('transformer.ln_f.weight'), this.p('transformer.ln_f.bias'), eps);
  }

  lmHead(hidden: Tensor): Tensor {
    return linear(hidden, this.config.tie_word_embeddings ? this.p('transformer.wte.weight') : this.p('lm_head.weight'));
  }

  createCache(batch: number, maxLength: number): KVCache {
    return makeCache(this.config.n_layer, batch, this.config.n_head, maxLength, this.headDim, this.device, this.dtype);
  }

  protected withParams(params: Map<string, Tensor>): Gpt2 {
    return new Gpt2(this.config, params, this.device);
  }
}
