/**
 * `contrastive-distillation` (reference notes, "Contrastive Distillation"): reward =
 *   (log p_large(y | x) - log p_small(y | x)) / |y|
 * over the response tokens y only (the prompt is context, never scored), averaged per response
 * token, from two language models of different size trained on the same text and sharing one
 * tokenizer (shipped: roles `cd-large` and `cd-small`). Each sequence is scored on its own
 * tokens, so a response's reward does not depend on what else is in its batch (the authors'
 * code averaged over the padded batch length). An empty response scores 0.
 *
 * The context given to both models is `<|endoftext|>` (the shipped models' document separator,
 * when the tokenizer has one) followed by the prompt's tokens; prompt and response are
 * tokenised separately. Prompts: 5-15-token prefixes of Brown sentences (the paper: Wikipedia).
 */
// Type-only imports here: the engine (libtorch addon) loads when the models do, so listing the
// tasks works without it.
import type { CausalLM, Tokenizer } from '../model/index.js';
import type { Device } from '../tensor/index.js';
import { readRegistry, resolveModelPath } from '../util/model-registry.js';
import { memoPrefixes } from './corpus-prompts.js';
import type { RewardInput, Task } from './task.js';

export const CONTRASTIVE_DISTILLATION = {
  name: 'contrastive-distillation',
  description: 'be likely under a large LM and unlikely under a small one; reward = mean per-token log p_large - log p_small',
};

export interface ContrastiveDistillationOptions {
  /** Model folders or shipped model names; default: the shipped models with roles cd-large and cd-small. */
  largeDir?: string;
  smallDir?: string;
  device?: Device;
  /** Pairs per forward pass (memory bound only; results do not depend on it). */
  batchSize?: number;
}

interface Loaded {
  engine: typeof import('../model/index.js') & typeof import('../tensor/index.js');
  large: CausalLM;
  small: CausalLM;
  tokenizer: Tokenizer;
  /** Tokens placed before every prompt. */
  prefix: number[];
}

function shippedDir(role: string): string {
  const m = readRegistry().find((e) => e.role === role);
  if (!m) throw new Error(`contrastive-distillation: no shipped model with role '${role}' in models/registry.json`);
  return m.path;
}

async function load(opts: ContrastiveDistillationOptions): Promise<Loaded> {
  const largeDir = opts.largeDir ? resolveModelPath(opts.largeDir) : shippedDir('cd-large');
  const smallDir = opts.smallDir ? resolveModelPath(opts.smallDir) : shippedDir('cd-small');
  const engine = { ...(await import('../model/index.js')), ...(await import('../tensor/index.js')) };
  const [L, S] = await Promise.all([
    engine.loadModel(largeDir, { device: opts.device }),
    engine.loadModel(smallDir, { device: opts.device }),
  ]);
  const tokenizer = L.tokenizer ?? S.tokenizer;
  if (!tokenizer) throw new Error(`contrastive-distillation: neither ${largeDir} nor ${smallDir} has a tokenizer.json`);
  if (L.tokenizer && S.tokenizer && JSON.stringify(L.tokenizer.json) !== JSON.stringify(S.tokenizer.json)) {
    throw new Error(`contrastive-distillation: ${largeDir} and ${smallDir} have different tokenizers; the reward compares log-probs of the same tokens`);
  }
  for (const [m, dir] of [[L.model, largeDir], [S.model, smallDir]] as const) {
    if (m.config.vocab_size < tokenizer.vocabSize) {
      throw new Error(`contrastive-distillation: ${dir} has ${m.config.vocab_size} embeddings for a tokenizer of ${tokenizer.vocabSize} tokens`);
    }
    m.train(false);
  }
  return { engine, large: L.model, small: S.model, tokenizer, prefix: tokenizer.eosId === null ? [] : [tokenizer.eosId] };
}

export function createContrastiveDistillationTask(opts: ContrastiveDistillationOptions = {}): Task {
  let loaded: Promise<Loaded> | undefined;
  const models = () => {
    if (!loaded) {
      loaded = load(opts);
      loaded.catch(() => (loaded = undefined));
    }
    return loaded;
  };
  const batchSize = opts.batchSize ?? 32;

  return {
    ...CONTRASTIVE_DISTILLATION,
    prompts: memoPrefixes(async () => ({ seed: 303, min: 5, max: 15, tokenizer: (await models()).tokenizer })),
    async rewards(batch: RewardInput[]) {
      const { engine, large, small, tokenizer, prefix } = await models();
      const { inferenceMode, scope, responseLogprobs } = engine;
      const context = Math.min(large.contextLength, small.contextLength);
      const promptIds = batch.map((b) => [...prefix, ...tokenizer.encode(b.prompt)]);
      const responseIds = batch.map((b) => tokenizer.encode(b.response));
      promptIds.forEach((p, i) => {
        const n = p.length + responseIds[i].length;
        if (n > context) {
          throw new Error(`contrastive-distillation: item ${i} is ${n} tokens (prompt ${p.length} with separator, response ${responseIds[i].length}), longer than the models' context of ${context}`);
        }
      });
      const out: number[] = [];
      for (let i = 0; i < batch.length; i += batchSize) {
        const chunk = { promptIds: promptIds.slice(i, i + batchSize), responseIds: responseIds.slice(i, i + batchSize) };
        const [l, s] = inferenceMode(() =>
          scope(() => [responseLogprobs(large, chunk).sum.toArray(), responseLogprobs(small, chunk).sum.toArray()]),
        );
        chunk.responseIds.forEach((r, j) => {
          const v = r.length === 0 ? 0 : (l[j] - s[j]) / r.length;
          if (!Number.isFinite(v)) throw new Error(`contrastive-distillation: non-finite reward ${v} for item ${i + j} (log-probs ${l[j]}, ${s[j]})`);
          out.push(v);
        });
      }
      return out;
    },
    generation: { maxNewTokens: 50 },
  };
}
