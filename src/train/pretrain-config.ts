/**
 * The pretraining config file (JSON), validated with zod; every error names the file and field.
 * Paths inside the file are relative to the file's folder.
 */
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { z } from 'zod';
import { MAX_SEED } from '../util/rng.js';

const posInt = z.number().int().positive();

export const pretrainConfigSchema = z.strictObject({
  /** GPT-2 config.json fields (HF names); vocab_size, bos/eos ids come from the tokenizer. */
  model: z.strictObject({
    n_embd: posInt,
    n_layer: posInt,
    n_head: posInt,
    n_positions: posInt,
    n_inner: posInt.optional(),
    activation_function: z.enum(['gelu_new', 'gelu', 'gelu_pytorch_tanh', 'relu']).default('gelu_new'),
    resid_pdrop: z.number().min(0).max(1).default(0.1),
    embd_pdrop: z.number().min(0).max(1).default(0.1),
    attn_pdrop: z.number().min(0).max(1).default(0.1),
  }),
  /** A Hugging Face tokenizer.json (its tokenizer_config.json beside it is used when present). */
  tokenizer: z.string().min(1),
  /** 'brown' (the Brown corpus split by document) or plain UTF-8 text files, documents separated by blank lines. */
  data: z.union([
    z.literal('brown'),
    z.strictObject({ train: z.string().min(1), dev: z.string().min(1), test: z.string().min(1).optional() }),
  ]),
  steps: posInt,
  batchSize: posInt,
  /** Tokens per training sequence; at most model.n_positions (default: n_positions). */
  seqLen: posInt.optional(),
  lr: z.number().positive(),
  /** Cosine decay floor. Default lr / 10. */
  minLr: z.number().nonnegative().optional(),
  warmupSteps: z.number().int().nonnegative().default(0),
  weightDecay: z.number().nonnegative().default(0.1),
  betas: z.tuple([z.number().min(0).lt(1), z.number().min(0).lt(1)]).default([0.9, 0.95]),
  /** Max global gradient norm; 0 turns clipping off. */
  gradClip: z.number().nonnegative().default(1),
  /** bfloat16 autocast for forward and backward (weights and optimizer stay float32). */
  bf16: z.boolean().default(false),
  seed: z.number().int().nonnegative().max(MAX_SEED).default(0),
  /** Held-out perplexity on dev every this many steps (0: only at the end). */
  evalEvery: z.number().int().nonnegative().default(0),
  /** Cap on dev tokens per intermediate evaluation (the final one uses the whole split). */
  evalTokens: posInt.default(32768),
  /** Save a resumable checkpoint every this many steps (0: only at the end and on Ctrl-C). */
  checkpointEvery: z.number().int().nonnegative().default(0),
  /** Start from this model folder's weights (continued pretraining) instead of a random init; its architecture must match `model`. */
  init: z.string().min(1).optional(),
  /** Output folder. */
  out: z.string().min(1),
});

/** A validated config: defaults filled in, paths absolute. */
export type PretrainConfig = Omit<z.output<typeof pretrainConfigSchema>, 'seqLen' | 'minLr'> & { seqLen: number; minLr: number };
export type PretrainConfigInput = z.input<typeof pretrainConfigSchema>;

/** Validate a config object; `source` names it in errors, `baseDir` resolves its relative paths. */
export function parsePretrainConfig(json: unknown, source: string, baseDir = process.cwd()): PretrainConfig {
  const r = pretrainConfigSchema.safeParse(json);
  if (!r.success) {
    const lines = r.error.issues.map((i) => {
      const field = i.path.join('.') || '(root)';
      const what = i.code === 'unrecognized_keys' ? `unknown field(s) ${i.keys.map((k) => `'${k}'`).join(', ')}` : i.message;
      return `${source}: field '${field}': ${what}`;
    });
    throw new Error(lines.join('\n'));
  }
  const c = r.data;
  const seqLen = c.seqLen ?? c.model.n_positions;
  if (seqLen > c.model.n_positions) {
    throw new Error(`${source}: field 'seqLen' (${seqLen}) exceeds 'model.n_positions' (${c.model.n_positions})`);
  }
  if (c.model.n_embd % c.model.n_head !== 0) {
    throw new Error(`${source}: field 'model.n_embd' (${c.model.n_embd}) must be divisible by 'model.n_head' (${c.model.n_head})`);
  }
  const abs = (p: string) => resolve(baseDir, p);
  return {
    ...c,
    seqLen,
    minLr: c.minLr ?? c.lr / 10,
    tokenizer: abs(c.tokenizer),
    data: c.data === 'brown' ? 'brown' : { train: abs(c.data.train), dev: abs(c.data.dev), test: c.data.test && abs(c.data.test) },
    init: c.init && abs(c.init),
    out: abs(c.out),
  };
}

export async function readPretrainConfig(path: string): Promise<PretrainConfig> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new Error(`cannot read config ${path}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new Error(`${path}: not valid JSON: ${(err as Error).message}`);
  }
  return parsePretrainConfig(json, path, dirname(resolve(path)));
}
