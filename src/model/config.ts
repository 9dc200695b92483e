import { readFile } from 'node:fs/promises';
import { z } from 'zod';

// Hugging Face config.json schemas. Field names and defaults follow transformers' GPT2Config and
// OPTConfig, so that configs published on the Hub parse unchanged; unknown fields pass through.

const int = z.number().int();
const posInt = int.positive();
const prob = z.number().min(0).max(1);
const tokenId = int.nonnegative().nullable();

const gpt2Schema = z
  .looseObject({
    model_type: z.literal('gpt2'),
    vocab_size: posInt.default(50257),
    n_positions: posInt.optional(),
    n_ctx: posInt.optional(), // older configs name the context length n_ctx
    n_embd: posInt.default(768),
    n_layer: posInt.default(12),
    n_head: posInt.default(12),
    n_inner: posInt.nullable().default(null),
    activation_function: z.enum(['gelu_new', 'gelu', 'gelu_pytorch_tanh', 'relu']).default('gelu_new'),
    resid_pdrop: prob.default(0.1),
    embd_pdrop: prob.default(0.1),
    attn_pdrop: prob.default(0.1),
    layer_norm_epsilon: z.number().positive().default(1e-5),
    initializer_range: z.number().positive().default(0.02),
    scale_attn_weights: z.boolean().default(true),
    scale_attn_by_inverse_layer_idx: z.literal(false).default(false),
    reorder_and_upcast_attn: z.boolean().default(false),
    tie_word_embeddings: z.boolean().default(true),
    bos_token_id: tokenId.default(50256),
    eos_token_id: tokenId.default(50256),
    pad_token_id: tokenId.optional(),
  })
  .transform((c) => ({ ...c, n_positions: c.n_positions ?? c.n_ctx ?? 1024 }));

const optSchema = z
  .looseObject({
    model_type: z.literal('opt'),
    vocab_size: posInt.default(50272),
    hidden_size: posInt.default(768),
    num_hidden_layers: posInt.default(12),
    ffn_dim: posInt.default(3072),
    max_position_embeddings: posInt.default(2048),
    do_layer_norm_before: z.boolean().default(true),
    _remove_final_layer_norm: z.boolean().default(false),
    word_embed_proj_dim: posInt.optional(),
    dropout: prob.default(0.1),
    attention_dropout: prob.default(0.0),
    num_attention_heads: posInt.default(12),
    activation_function: z.enum(['relu', 'gelu', 'gelu_new', 'gelu_pytorch_tanh']).default('relu'),
    init_std: z.number().positive().default(0.02),
    enable_bias: z.literal(true).default(true),
    layer_norm_elementwise_affine: z.literal(true).default(true),
    tie_word_embeddings: z.boolean().default(true),
    pad_token_id: tokenId.default(1),
    bos_token_id: tokenId.default(2),
    eos_token_id: tokenId.default(2),
  })
  .transform((c) => ({ ...c, word_embed_proj_dim: c.word_embed_proj_dim ?? c.hidden_size }));

const finite = z.number().positive();

// Llama, Mistral and Qwen2 are one architecture (transformers' modeling files for the three are
// copies of each other): RMSNorm, RoPE, grouped-query attention, SwiGLU. They differ in defaults,
// in which projections have biases (see llama.ts), and in Mistral's sliding window.
const LLAMA_DEFAULTS = {
  llama: { vocab_size: 32000, intermediate_size: 11008, max_position_embeddings: 2048, bos_token_id: 1, eos_token_id: 2 },
  mistral: { vocab_size: 32000, intermediate_size: 14336, max_position_embeddings: 131072, bos_token_id: 1, eos_token_id: 2 },
  qwen2: { vocab_size: 151936, intermediate_size: 22016, max_position_embeddings: 32768, bos_token_id: null, eos_token_id: null },
} as const;

const llamaSchema = z
  .looseObject({
    model_type: z.enum(['llama', 'mistral', 'qwen2']),
    vocab_size: posInt.optional(),
    hidden_size: posInt.default(4096),
    intermediate_size: posInt.optional(),
    num_hidden_layers: posInt.default(32),
    num_attention_heads: posInt.default(32),
    /** grouped-query attention: heads share key/value heads in groups; null = one per head */
    num_key_value_heads: posInt.nullable().optional(),
    head_dim: posInt.nullable().optional(),
    max_position_embeddings: posInt.optional(),
    initializer_range: finite.default(0.02),
    rms_norm_eps: finite.default(1e-6),
    rope_theta: finite.default(10000),
    /** llama only: biases on q/k/v/o (Qwen2 always has q/k/v biases, Mistral never) */
    attention_bias: z.boolean().default(false),
    attention_dropout: prob.default(0),
    tie_word_embeddings: z.boolean().default(false),
    /** Mistral: each token sees the last sliding_window tokens; the context is capped to it (see contextLength) */
    sliding_window: posInt.nullable().optional(),
    hidden_act: z.literal('silu', { error: 'not supported: only silu (SwiGLU) is implemented for this architecture' }).default('silu'),
    rope_scaling: z.null({ error: 'not supported: RoPE scaling (only plain RoPE with rope_theta is implemented); null is fine' }).optional(),
    mlp_bias: z.literal(false, { error: 'not supported: biases in the MLP' }).optional(),
    use_sliding_window: z.literal(false, { error: 'not supported: sliding-window attention' }).optional(),
    layer_types: z.array(z.literal('full_attention', { error: 'not supported: only full_attention layers' })).optional(),
    partial_rotary_factor: z.literal(1, { error: 'not supported: RoPE on part of each head (gpt_neox has rotary_pct)' }).optional(),
    bos_token_id: tokenId.optional(),
    eos_token_id: tokenId.optional(),
    pad_token_id: tokenId.optional(),
  })
  .transform((c) => {
    const d = LLAMA_DEFAULTS[c.model_type];
    return {
      ...c,
      vocab_size: c.vocab_size ?? d.vocab_size,
      intermediate_size: c.intermediate_size ?? d.intermediate_size,
      max_position_embeddings: c.max_position_embeddings ?? d.max_position_embeddings,
      bos_token_id: c.bos_token_id === undefined ? d.bos_token_id : c.bos_token_id,
      eos_token_id: c.eos_token_id === undefined ? d.eos_token_id : c.eos_token_id,
      // Mistral's default; Qwen2's value counts only with use_sliding_window (refused above)
      sliding_window: c.model_type === 'mistral' && c.sliding_window === undefined ? 4096 : c.sliding_window,
      num_key_value_heads: c.num_key_value_heads ?? c.num_attention_heads,
      head_dim: c.head_dim ?? c.hidden_size / c.num_attention_heads,
    };
  });

// GPT-NeoX (Pythia): one fused query_key_value projection, rotary embeddings on the first
// rotary_pct of each head, LayerNorm, parallel attention and MLP residuals.
const gptNeoxSchema = z.looseObject({
  model_type: z.literal('gpt_neox'),
  vocab_size: posInt.default(50432),
  hidden_size: posInt.default(6144),
  num_hidden_layers: posInt.default(44),
  num_attention_heads: posInt.default(64),
  intermediate_size: posInt.default(24576),
  hidden_act: z.enum(['gelu', 'gelu_new', 'gelu_pytorch_tanh', 'relu']).default('gelu'),
  rotary_pct: z.number().gt(0).max(1).default(0.25),
  rotary_emb_base: finite.default(10000),
  attention_dropout: prob.default(0),
  hidden_dropout: prob.default(0),
  max_position_embeddings: posInt.default(2048),
  initializer_range: finite.default(0.02),
  layer_norm_eps: finite.default(1e-5),
  use_parallel_residual: z.boolean().default(true),
  attention_bias: z.boolean().default(true),
  tie_word_embeddings: z.boolean().default(false),
  rope_scaling: z.null({ error: 'not supported: RoPE scaling; null is fine' }).optional(),
  // newer transformers write these as copies of rotary_pct / rotary_emb_base
  partial_rotary_factor: z.number().optional(),
  rope_theta: z.number().optional(),
  bos_token_id: tokenId.default(0),
  eos_token_id: tokenId.default(2),
  pad_token_id: tokenId.optional(),
});

export type Gpt2Config = z.output<typeof gpt2Schema>;
export type OptConfig = z.output<typeof optSchema>;
export type LlamaConfig = z.output<typeof llamaSchema>;
export type GptNeoxConfig = z.output<typeof gptNeoxSchema>;
export type ModelConfig = Gpt2Config | OptConfig | LlamaConfig | GptNeoxConfig;
/** What createModel accepts from code: HF field names, defaults filled in by parseConfig. */
export type Gpt2ConfigInput = z.input<typeof gpt2Schema>;
export type OptConfigInput = z.input<typeof optSchema>;
export type LlamaConfigInput = z.input<typeof llamaSchema>;
export type GptNeoxConfigInput = z.input<typeof gptNeoxSchema>;

const SCHEMAS = { gpt2: gpt2Schema, opt: optSchema, llama: llamaSchema, mistral: llamaSchema, qwen2: llamaSchema, gpt_neox: gptNeoxSchema } as const;
type ModelType = keyof typeof SCHEMAS;
const SUPPORTED = Object.keys(SCHEMAS).map((t) => `'${t}'`).join(', ');

const ARCHITECTURES: Record<string, ModelType> = {
  GPT2LMHeadModel: 'gpt2',
  GPT2Model: 'gpt2',
  OPTForCausalLM: 'opt',
  OPTModel: 'opt',
  LlamaForCausalLM: 'llama',
  MistralForCausalLM: 'mistral',
  Qwen2ForCausalLM: 'qwen2',
  GPTNeoXForCausalLM: 'gpt_neox',
};

/** One line per zod issue: `source: field 'a.b': message`. */
export function formatIssues(err: z.ZodError, source: string): string {
  return err.issues
    .map((i) => `${source}: field '${i.path.join('.') || '(root)'}': ${i.message}`)
    .join('\n');
}

/** Validates a Hugging Face config.json object; `source` (usually the file path) prefixes every error. */
export function parseConfig(json: unknown, source = 'config'): ModelConfig {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new Error(`${source}: expected a JSON object`);
  }
  const obj = json as Record<string, unknown>;
  let type = obj.model_type;
  if (type === undefined && Array.isArray(obj.architectures)) {
    type = obj.architectures.map((a) => ARCHITECTURES[String(a)]).find((t) => t !== undefined);
    if (type === undefined) {
      throw new Error(
        `${source}: field 'architectures' = ${JSON.stringify(obj.architectures)} names no supported ` +
          `architecture (supported: ${Object.keys(ARCHITECTURES).join(', ')})`,
      );
    }
  }
  if (type === undefined) throw new Error(`${source}: field 'model_type' is missing (and no 'architectures'); supported: ${SUPPORTED}`);
  if (typeof type !== 'string' || !(type in SCHEMAS)) {
    throw new Error(`${source}: field 'model_type' = ${JSON.stringify(type)} is not a supported architecture (supported: ${SUPPORTED})`);
  }
  const parsed = SCHEMAS[type as ModelType].safeParse({ ...obj, model_type: type });
  if (!parsed.success) throw new Error(formatIssues(parsed.error, source));
  const cfg = parsed.data;
  const divisible = (x: number, y: number, a: string, b: string) => {
    if (x % y !== 0) throw new Error(`${source}: field '${a}' (${x}) must be divisible by '${b}' (${y})`);
  };
  if (cfg.model_type === 'gpt2') divisible(cfg.n_embd, cfg.n_head, 'n_embd', 'n_head');
  else if (cfg.model_type === 'opt' || cfg.model_type === 'gpt_neox') divisible(cfg.hidden_size, cfg.num_attention_heads, 'hidden_size', 'num_attention_heads');
  else {
    // a head_dim given in the file need not be hidden_size / num_attention_heads
    if (!Number.isInteger(cfg.head_dim)) divisible(cfg.hidden_size, cfg.num_attention_heads, 'hidden_size', 'num_attention_heads');
    divisible(cfg.num_attention_heads, cfg.num_key_value_heads, 'num_attention_heads', 'num_key_value_heads');
    if (cfg.head_dim % 2 !== 0) throw new Error(`${source}: field 'head_dim' (${cfg.head_dim}) must be even (rotary embeddings rotate pairs)`);
  }
  if (cfg.model_type === 'gpt_neox') {
    // transformers reads rotary_pct and rotary_emb_base; a copy that disagrees would leave it unclear which one the file means
    for (const [copy, field] of [['partial_rotary_factor', 'rotary_pct'], ['rope_theta', 'rotary_emb_base']] as const) {
      if (cfg[copy] !== undefined && cfg[copy] !== cfg[field]) {
        throw new Error(`${source}: field '${copy}' (${cfg[copy]}) disagrees with '${field}' (${cfg[field]})`);
      }
    }
    const rotary = rotaryDims(cfg);
    if (rotary < 2 || rotary % 2 !== 0) {
      throw new Error(`${source}: field 'rotary_pct' (${cfg.rotary_pct}) gives ${rotary} rotary dimensions per head; they must be even and at least 2`);
    }
  }
  return cfg;
}

export async function readConfig(path: string): Promise<ModelConfig> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new Error(`cannot read model config ${path}: ${(err as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new Error(`${path}: not valid JSON: ${(err as Error).message}`);
  }
  return parseConfig(json, path);
}

/** Why `ids` cannot be fed to a model of `cfg`: a token id outside its vocabulary (named as config.json's bos_token_id when it is that), else null. */
export function vocabularyError(ids: readonly number[], cfg: ModelConfig): string | null {
  const bad = ids.find((t) => t >= cfg.vocab_size);
  if (bad === undefined) return null;
  return `token id ${bad} is outside the vocabulary (size ${cfg.vocab_size})${bad === cfg.bos_token_id ? ": it is the bos_token_id of the model's config.json" : ''}`;
}

const ARCHITECTURE_OF: Record<ModelType, string> = {
  gpt2: 'GPT2LMHeadModel',
  opt: 'OPTForCausalLM',
  llama: 'LlamaForCausalLM',
  mistral: 'MistralForCausalLM',
  qwen2: 'Qwen2ForCausalLM',
  gpt_neox: 'GPTNeoXForCausalLM',
};

/** The config as written to config.json (HF layout, with `architectures`). */
export function configToJson(cfg: ModelConfig): Record<string, unknown> {
  return { architectures: [ARCHITECTURE_OF[cfg.model_type]], ...cfg };
}

/**
 * The longest sequence the model takes. Mistral's sliding window caps it: within the window,
 * sliding-window attention is plain causal attention, which is what runs here.
 */
export function contextLength(cfg: ModelConfig): number {
  if (cfg.model_type === 'gpt2') return cfg.n_positions;
  if (cfg.model_type === 'mistral' && cfg.sliding_window != null) return Math.min(cfg.max_position_embeddings, cfg.sliding_window);
  return cfg.max_position_embeddings;
}

/** GPT-NeoX rotates the first int(head_size * rotary_pct) features of each head. */
export function rotaryDims(cfg: GptNeoxConfig): number {
  return Math.floor((cfg.hidden_size / cfg.num_attention_heads) * cfg.rotary_pct);
}

export function hiddenSize(cfg: ModelConfig): number {
  if (cfg.model_type === 'gpt2') return cfg.n_embd;
  return cfg.model_type === 'opt' ? cfg.word_embed_proj_dim : cfg.hidden_size;
}

/**
 * Weight multiply-adds per token: the attention and MLP projections of every layer and the
 * output layer. What a forward pass costs, to scale time estimates from one model to another.
 */
export function macsPerToken(cfg: ModelConfig): number {
  const out = cfg.vocab_size * hiddenSize(cfg);
  if (cfg.model_type === 'gpt2') return cfg.n_layer * (4 * cfg.n_embd ** 2 + 2 * cfg.n_embd * (cfg.n_inner ?? 4 * cfg.n_embd)) + out;
  if (cfg.model_type === 'opt') return cfg.num_hidden_layers * (4 * cfg.hidden_size ** 2 + 2 * cfg.hidden_size * cfg.ffn_dim) + out;
  if (cfg.model_type === 'gpt_neox') return cfg.num_hidden_layers * (4 * cfg.hidden_size ** 2 + 2 * cfg.hidden_size * cfg.intermediate_size) + out;
  // grouped-query attention: keys and values have num_key_value_heads heads; SwiGLU: three MLP matrices
  const kv = cfg.num_key_value_heads * cfg.head_dim;
  return cfg.num_hidden_layers * (2 * cfg.hidden_size ** 2 + 2 * cfg.hidden_size * kv + 3 * cfg.hidden_size * cfg.intermediate_size) + out;
}
