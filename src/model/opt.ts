import { embedding, layerNorm, type Device, type Tensor } from '../tensor/index.js';
import type { OptConfig } from './config.js';
import {
  activation,
  attend,
  DecoderModel,
  makeCache,
  maybeDropout,
  mergeHeads,
  resolveAttention,
  splitHeads,
  type ForwardOptions,
  type KVCache,
  type ParamSpec,
} from './decoder.js';

// OPT (Zhang et al. 2022) as in Hugging Face's OPTForCausalLM: learned positions offset by 2,
// separate q/k/v projections (q scaled after its bias), pre- or post-LayerNorm blocks
// (`do_layer_norm_before`; OPT-350m is post-LN), and optional project_in/project_out when the
// embedding width differs from the hidden size.

/** HF's OPTLearnedPositionalEmbedding reserves the first two rows. */
const POSITION_OFFSET = 2;
const LN_EPS = 1e-5;

export function optParamSpecs(c: OptConfig): ParamSpec[] {
  const D = c.hidden_size;
  const E = c.word_embed_proj_dim;
  const normal = { kind: 'normal' as const, std: c.init_std };
  const zeros = { kind: 'zeros' as const };
  const ones = { kind: 'ones' as const };
  const d = 'model.decoder.';
  const specs: ParamSpec[] = [
    { name: d + 'embed_tokens.weight', shape: [c.vocab_size, E], init: normal },
    { name: d + 'embed_positions.weight', shape: [c.max_position_embeddings + POSITION_OFFSET, D], init: normal },
  ];
  if (hasFinalNorm(c)) {
    specs.push({ name: d + 'final_layer_norm.weight', shape: [D], init: ones }, { name: d + 'final_layer_norm.bias', shape: [D], init: zeros });
  }
  if (E !== D) {
    specs.push({ name: d + 'project_out.weight', shape: [E, D], init: normal }, { name: d + 'project_in.weight', shape: [D, E], init: normal });
  }
  for (let i = 0; i < c.num_hidden_layers; i++) {
    const l = `${d}layers.${i}.`;
    for (const n of ['k_proj', 'v_proj', 'q_proj', 'out_proj']) {
      specs.push({ name: `${l}self_attn.${n}.weight`, shape: [D, D], init: normal }, { name: `${l}self_attn.${n}.bias`, shape: [D], init: zeros });
    }
    specs.push(
      { name: l + 'self_attn_layer_norm.weight', shape: [D], init: ones },
      { name: l + 'self_attn_layer_norm.bias', shape: [D], init: zeros },
      { name: l + 'fc1.weight', shape: [c.ffn_dim, D], init: normal },
      { name: l + 'fc1.bias', shape: [c.ffn_dim], init: zeros },
      { name: l + 'fc2.weight', shape: [D, c.ffn_dim], init: normal },
      { name: l + 'fc2.bias', shape: [D], init: zeros },
      { name: l + 'final_layer_norm.weight', shape: [D], init: ones },
      { name: l + 'final_layer_norm.bias', shape: [D], init: zeros },
    );
  }
  if (!c.tie_word_embeddings) specs.push({ name: 'lm_head.weight', shape: [c.vocab_size, E], init: normal });
  return specs;
}

function hasFinalNorm(c: OptConfig): boolean {
  return c.do_layer_norm_before && !c._remove_final_layer_norm;
}

/** Accepts `model.decoder.x`, `decoder.x` and bare `x`; a tied head's `lm_head.weight` copy is skipped. */
export function optParamName(c: OptConfig, fileName: string): string | null {
  if (fileName === 'lm_head.weight') return c.tie_word_embeddings ? null : fileName;
  if (fileName.startsWith('model.decoder.')) return fileName;
  if (fileName.startsWith('decoder.')) return `model.${fileName}`;
  return `model.decoder.${fileName}`;
}


export class Opt extends DecoderModel {
  declare readonly config: OptConfig;
  private readonly headDim: number;

  constructor(config: OptConfig, params: Map<string, Tensor>, device: Device) {
    super(config, params, device);
    this.headDim = config.hidden_size / config.num_attention_heads;
  }

  hiddenStates(inputIds: Tensor, opts: ForwardOptions = {}): Tensor {
    const c = this.config;
    const cache = opts.cache;
    const past = cache?.length ?? 0;
    this.checkInput(inputIds, past);
    const T = inputIds.shape[1];
    const { bias, positions } = resolveAttention(opts, T, this.device);
    const D = c.hidden_size;
    const H = c.num_attention_heads;
    const pre = c.do_layer_norm_before;
    const d = 'model.decoder.';
    const ln = (x: Tensor, n: string) => layerNorm(x, [D], this.p(n + '.weight'), this.p(n + '.bias'), LN_EPS);
    let x = embedding(this.p(d + 'embed_tokens.weight'), inputIds);
    if (this.params.has(d + 'project_in.weight')) x = this.proj(x, d + 'project_in');
    x = x.add(embedding(this.p(d + 'embed_positions.weight'), positions.add(POSITION_OFFSET)));
    x = maybeDropout(x, c.dropout, this.isTraining);
    const scale = 1 / Math.sqrt(this.headDim);
    for (let i = 0; i < c.num_hidden_layers; i++) {
      const l = `${d}layers.${i}.`;
      x = this.layer(x, (x) => {
        const a = pre ? ln(x, l + 'self_attn_layer_norm') : x;
        const q = splitHeads(this.proj(a, l + 'self_attn.q_proj').mul(scale), H);
        const k = splitHeads(this.proj(a, l + 'self_attn.k_proj'), H);
        const v = splitHeads(this.proj(a, l + 'self_attn.v_proj'), H);
        const y = mergeHeads(attend(q, k, v, bias, i, cache, c.attention_dropout, this.isTraining));
        x = x.add(maybeDropout(this.proj(y, l + 'self_attn.out_proj'), c.dropout, this.isTraining));
        if (!pre) x = ln(x, l + 'self_attn_layer_norm');
        const m = pre ? ln(x, l + 'final_layer_norm') : x;
        const f = this.proj(activation(c.activation_function, this.proj(m, l + 'fc1')), l + 'fc2');
        x = x.add(maybeDropout(f, c.dropout, this.isTraining));
        return pre ? x : ln(x, l + 'final_layer_norm');
      });
    }
    if (cache) cache.length += T;
    if (hasFinalNorm(c)) x = ln(x, d + 'final_layer_norm');
    return this.params.has(d + 'project_out.weight') ? this.proj(x, d + 'project_out') : x;
  }

  lmHead(hidden: Tensor): Tensor {
    return this.proj(hidden, this.config.tie_word_embeddings ? 'model.decoder.embed_tokens' : 'lm_head');
  }

  createCache(batch: number, maxLength: number): KVCache {
    const c = this.config;
    return makeCache(c.num_hidden_layers, batch, c.num_attention_heads, maxLength, this.headDim, this.device, this.dtype);
  }

  protected withParams(params: Map<string, Tensor>): Opt {
    return new Opt(this.config, params, this.device);
  }
}
