import { embedding, rmsNorm, type Tensor } from '../tensor/index.js';
import type { LlamaConfig } from './config.js';
import { attend, DecoderModel, makeCache, mergeHeads, resolveAttention, splitHeads, type ForwardOptions, type KVCache, type ParamSpec } from './decoder.js';
import { applyRotary, rotaryTables } from './rope.js';

// Llama (Touvron et al. 2023) as in transformers' LlamaForCausalLM, and Mistral and Qwen2, whose
// code there is Llama's: pre-RMSNorm blocks, rotary positions on whole heads, grouped-query
// attention, and a SwiGLU MLP down(silu(gate(x)) * up(x)). They differ in biases only: Qwen2 has
// them on q/k/v, Llama on q/k/v/o when `attention_bias`, Mistral nowhere.

function hasBias(c: LlamaConfig): { qkv: boolean; o: boolean } {
  if (c.model_type === 'qwen2') return { qkv: true, o: false };
  const b = c.model_type === 'llama' && c.attention_bias;
  return { qkv: b, o: b };
}

/** Parameters under transformers' names, with its init (normal(0, initializer_range), zero biases, unit norms). */
export function llamaParamSpecs(c: LlamaConfig): ParamSpec[] {
  const D = c.hidden_size;
  const normal = { kind: 'normal' as const, std: c.initializer_range };
  const ones = { kind: 'ones' as const };
  const bias = hasBias(c);
  const specs: ParamSpec[] = [{ name: 'model.embed_tokens.weight', shape: [c.vocab_size, D], init: normal }];
  const linear = (name: string, out: number, inp: number, withBias: boolean) => {
    specs.push({ name: `${name}.weight`, shape: [out, inp], init: normal });
    if (withBias) specs.push({ name: `${name}.bias`, shape: [out], init: { kind: 'zeros' } });
  };
  const qDim = c.num_attention_heads * c.head_dim;
  const kvDim = c.num_key_value_heads * c.head_dim;
  for (let i = 0; i < c.num_hidden_layers; i++) {
    const l = `model.layers.${i}.`;
    linear(l + 'self_attn.q_proj', qDim, D, bias.qkv);
    linear(l + 'self_attn.k_proj', kvDim, D, bias.qkv);
    linear(l + 'self_attn.v_proj', kvDim, D, bias.qkv);
    linear(l + 'self_attn.o_proj', D, qDim, bias.o);
    linear(l + 'mlp.gate_proj', c.intermediate_size, D, false);
    linear(l + 'mlp.up_proj', c.intermediate_size, D, false);
    linear(l + 'mlp.down_proj', D, c.intermediate_size, false);
    specs.push({ name: l + 'input_layernorm.weight', shape: [D], init: ones }, { name: l + 'post_attention_layernorm.weight', shape: [D], init: ones });
  }
  specs.push({ name: 'model.norm.weight', shape: [D], init: ones });
  if (!c.tie_word_embeddings) specs.push({ name: 'lm_head.weight', shape: [c.vocab_size, D], init: normal });
  return specs;
}

/** Accepts `model.x` and bare `x`; RoPE's `rotary_emb.inv_freq` buffers and a tied head's copy are skipped. */
export function llamaParamName(c: LlamaConfig, fileName: string): string | null {
  if (fileName.endsWith('.rotary_emb.inv_freq')) return null;
  if (fileName === 'lm_head.weight') return c.tie_word_embeddings ? null : fileName;
  return fileName.startsWith('model.') ? fileName : `model.${fileName}`;
}

export class Llama extends DecoderModel {
  declare readonly config: LlamaConfig;

  hiddenStates(inputIds: Tensor, opts: ForwardOptions = {}): Tensor {
    const c = this.config;
    const cache = opts.cache;
    this.checkInput(inputIds, cache?.length ?? 0);
    const T = inputIds.shape[1];
    const { bias, positions } = resolveAttention(opts, T, this.device);
    const rope = rotaryTables(positions, c.head_dim, c.rope_theta, this.dtype);
    const scale = 1 / Math.sqrt(c.head_dim);
    const norm = (x: Tensor, n: string) => rmsNorm(x, this.p(n + '.weight'), c.rms_norm_eps);
    let x = embedding(this.p('model.embed_tokens.weight'), inputIds);
    for (let i = 0; i < c.num_hidden_layers; i++) {
      const l = `model.layers.${i}.`;
      x = this.layer(x, (x) => {
        const a = norm(x, l + 'input_layernorm');
        const q = applyRotary(splitHeads(this.proj(a, l + 'self_attn.q_proj'), c.num_attention_heads), rope).mul(scale);
        const k = applyRotary(splitHeads(this.proj(a, l + 'self_attn.k_proj'), c.num_key_value_heads), rope);
        const v = splitHeads(this.proj(a, l + 'self_attn.v_proj'), c.num_key_value_heads);
        const y = mergeHeads(attend(q, k, v, bias, i, cache, c.attention_dropout, this.isTraining));
        const h = x.add(this.proj(y, l + 'self_attn.o_proj'));
        const m = norm(h, l + 'post_attention_layernorm');
        return h.add(this.proj(this.proj(m, l + 'mlp.gate_proj').silu().mul(this.proj(m, l + 'mlp.up_proj')), l + 'mlp.down_proj'));
      });
    }
    if (cache) cache.length += T;
    return norm(x, 'model.norm');
  }

  lmHead(hidden: Tensor): Tensor {
    return this.proj(hidden, this.config.tie_word_embeddings ? 'model.embed_tokens' : 'lm_head');
  }

  createCache(batch: number, maxLength: number): KVCache {
    const c = this.config;
    return makeCache(c.num_hidden_layers, batch, c.num_key_value_heads, maxLength, c.head_dim, this.device, this.dtype);
  }

  protected withParams(params: Map<string, Tensor>): Llama {
    return new Llama(this.config, params, this.device);
  }
}
