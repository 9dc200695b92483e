import { embedding, layerNorm, type Device, type Tensor } from '../tensor/index.js';
import { rotaryDims, type GptNeoxConfig } from './config.js';
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
import { applyRotary, rotaryTables } from './rope.js';

// GPT-NeoX (Black et al. 2022; the Pythia models) as in transformers' GPTNeoXForCausalLM: one fused
// query_key_value projection laid out per head ([q_h, k_h, v_h] for each head h), rotary positions
// on the first rotary_pct of each head, LayerNorm, attention and MLP in parallel off the same input
// (`use_parallel_residual`, as Pythia) or one after the other, and an untied `embed_out` head.

export function gptNeoxParamSpecs(c: GptNeoxConfig): ParamSpec[] {
  const D = c.hidden_size;
  const normal = { kind: 'normal' as const, std: c.initializer_range };
  const zeros = { kind: 'zeros' as const };
  const ones = { kind: 'ones' as const };
  const specs: ParamSpec[] = [{ name: 'gpt_neox.embed_in.weight', shape: [c.vocab_size, D], init: normal }];
  const linear = (name: string, out: number, inp: number, withBias: boolean) => {
    specs.push({ name: `${name}.weight`, shape: [out, inp], init: normal });
    if (withBias) specs.push({ name: `${name}.bias`, shape: [out], init: zeros });
  };
  const norm = (name: string) => specs.push({ name: `${name}.weight`, shape: [D], init: ones }, { name: `${name}.bias`, shape: [D], init: zeros });
  for (let i = 0; i < c.num_hidden_layers; i++) {
    const l = `gpt_neox.layers.${i}.`;
    norm(l + 'input_layernorm');
    norm(l + 'post_attention_layernorm');
    linear(l + 'attention.query_key_value', 3 * D, D, c.attention_bias);
    linear(l + 'attention.dense', D, D, c.attention_bias);
    linear(l + 'mlp.dense_h_to_4h', c.intermediate_size, D, true);
    linear(l + 'mlp.dense_4h_to_h', D, c.intermediate_size, true);
  }
  norm('gpt_neox.final_layer_norm');
  if (!c.tie_word_embeddings) specs.push({ name: 'embed_out.weight', shape: [c.vocab_size, D], init: normal });
  return specs;
}

/**
 * Accepts `gpt_neox.x` and bare `x`; skips the buffers published with the weights (the causal mask
 * `attention.bias`, `attention.masked_bias`, RoPE's `inv_freq`) and a tied head's copy.
 */
export function gptNeoxParamName(c: GptNeoxConfig, fileName: string): string | null {
  if (/\.attention\.(bias|masked_bias|rotary_emb\.inv_freq)$/.test(fileName)) return null;
  if (fileName === 'embed_out.weight') return c.tie_word_embeddings ? null : fileName;
  return fileName.startsWith('gpt_neox.') ? fileName : `gpt_neox.${fileName}`;
}

export class GptNeox extends DecoderModel {
  declare readonly config: GptNeoxConfig;
  private readonly headDim: number;

  constructor(config: GptNeoxConfig, params: Map<string, Tensor>, device: Device) {
    super(config, params, device);
    this.headDim = config.hidden_size / config.num_attention_heads;
  }

  hiddenStates(inputIds: Tensor, opts: ForwardOptions = {}): Tensor {
    const c = this.config;
    const cache = opts.cache;
    this.checkInput(inputIds, cache?.length ?? 0);
    const [B, T] = inputIds.shape;
    const { bias, positions } = resolveAttention(opts, T, this.device);
    const rope = rotaryTables(positions, rotaryDims(c), c.rotary_emb_base, this.dtype);
    const scale = 1 / Math.sqrt(this.headDim);
    const H = c.num_attention_heads;
    const drop = (x: Tensor) => maybeDropout(x, c.hidden_dropout, this.isTraining);
    const ln = (x: Tensor, n: string) => layerNorm(x, [c.hidden_size], this.p(n + '.weight'), this.p(n + '.bias'), c.layer_norm_eps);
    let x = drop(embedding(this.p('gpt_neox.embed_in.weight'), inputIds));
    for (let i = 0; i < c.num_hidden_layers; i++) {
      const l = `gpt_neox.layers.${i}.`;
      x = this.layer(x, (x) => {
        const qkv = this.proj(ln(x, l + 'input_layernorm'), l + 'attention.query_key_value');
        // [B, T, H * (q, k, v) * hd] -> 3 x [B, H, T, hd]
        const [q, k, v] = qkv.view([B, T, H, 3, this.headDim]).permute([3, 0, 2, 1, 4]).unbind(0);
        const y = attend(applyRotary(q, rope).mul(scale), applyRotary(k, rope), v, bias, i, cache, c.attention_dropout, this.isTraining);
        const attnOut = drop(this.proj(mergeHeads(y), l + 'attention.dense'));
        const h = x.add(attnOut);
        const m = ln(c.use_parallel_residual ? x : h, l + 'post_attention_layernorm');
        return h.add(drop(this.proj(activation(c.hidden_act, this.proj(m, l + 'mlp.dense_h_to_4h')), l + 'mlp.dense_4h_to_h')));
      });
    }
    if (cache) cache.length += T;
    return ln(x, 'gpt_neox.final_layer_norm');
  }

  lmHead(hidden: Tensor): Tensor {
    return this.proj(hidden, this.config.tie_word_embeddings ? 'gpt_neox.embed_in' : 'embed_out');
  }

  createCache(batch: number, maxLength: number): KVCache {
    const c = this.config;
    return makeCache(c.num_hidden_layers, batch, c.num_attention_heads, maxLength, this.headDim, this.device, this.dtype);
  }

  protected withParams(params: Map<string, Tensor>): GptNeox {
    return new GptNeox(this.config, params, this.device);
  }
}
