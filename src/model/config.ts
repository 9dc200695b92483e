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

export type Gpt2Config = z.output<typeof gpt2Schema>;
export type OptConfig = z.output<typeof optSchema>;
export type ModelConfig = Gpt2Config | OptConfig;
/** What createModel accepts from code: HF field names, defaults filled in by parseConfig. */
export type Gpt2ConfigInput = z.input<typeof gpt2Schema>;
export type OptConfigInput = z.input<typeof optSchema>;

const ARCHITECTURES: Record<string, 'gpt2' | 'opt'> = {
  GPT2LMHeadModel: 'gpt2',
  GPT2Model: 'gpt2',
  OPTForCausalLM: 'opt',
  OPTModel: 'opt',
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
  const schema = type === 'gpt2' ? gpt2Schema : type === 'opt' ? optSchema : null;
  if (schema === null) {
    throw new Error(
      type === undefined
        ? `${source}: field 'model_type' is missing (and no 'architectures'); supported: 'gpt2', 'opt'`
        : `${source}: field 'model_type' = ${JSON.stringify(type)} is not a supported architecture (supported: 'gpt2', 'opt')`,
    );
  }
  const parsed = schema.safeParse({ ...obj, model_type: type });
  if (!parsed.success) throw new Error(formatIssues(parsed.error, source));
  const cfg = parsed.data;
  if (cfg.model_type === 'gpt2' && cfg.n_embd % cfg.n_head !== 0) {
    throw new Error(`${source}: field 'n_embd' (${cfg.n_embd}) must be divisible by 'n_head' (${cfg.n_head})`);
  }
  if (cfg.model_type === 'opt' && cfg.hidden_size % cfg.num_attention_heads !== 0) {
    throw new Error(
      `${source}: field 'hidden_size' (${cfg.hidden_size}) must be divisible by 'num_attention_heads' (${cfg.num_attention_heads})`,
    );
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

/** The config as written to config.json (HF layout, with `architectures`). */
export function configToJson(cfg: ModelConfig): Record<string, unknown> {
  const architectures = [cfg.model_type === 'gpt2' ? 'GPT2LMHeadModel' : 'OPTForCausalLM'];
  return { architectures, ...cfg };
}

export function contextLength(cfg: ModelConfig): number {
  return cfg.model_type === 'gpt2' ? cfg.n_positions : cfg.max_position_embeddings;
}

export function hiddenSize(cfg: ModelConfig): number {
  return cfg.model_type === 'gpt2' ? cfg.n_embd : cfg.hidden_size;
}
