import { inferenceMode, manualSeed, multinomial, scope, tensor, type Tensor } from '../tensor/index.js';
import type { CausalLM } from './decoder.js';

export interface SampleOptions {
  /** samples per prompt (default 1) */
  n?: number;
  maxNewTokens: number;
  /** EOS is forbidden before this many new tokens (default 0) */
  minNewTokens?: number;
  /** 0 means greedy (argmax); default 1 */
  temperature?: number;
  /** keep only the k most likely tokens; 0 or undefined = off */
  topK?: number;
  /** nucleus sampling: keep the smallest set of tokens whose probability reaches p; 1 = off */
  topP?: number;
  /** stop token; undefined = the config's eos_token_id, null = none */
  eosId?: number | null;
  /** seeds the global generator before sampling */
  seed?: number;
}

function checkOptions(o: SampleOptions): void {
  const bad = (m: string) => new Error(`sample: ${m}`);
  if (!Number.isInteger(o.maxNewTokens) || o.maxNewTokens < 0) throw bad(`maxNewTokens must be an integer >= 0, got ${o.maxNewTokens}`);
  if (o.n !== undefined && (!Number.isInteger(o.n) || o.n < 1)) throw bad(`n must be an integer >= 1, got ${o.n}`);
  const min = o.minNewTokens ?? 0;
  if (!Number.isInteger(min) || min < 0 || min > o.maxNewTokens) throw bad(`minNewTokens must be an integer in [0, maxNewTokens=${o.maxNewTokens}], got ${min}`);
  if (o.temperature !== undefined && !(o.temperature >= 0)) throw bad(`temperature must be >= 0, got ${o.temperature}`);
  if (o.topK !== undefined && (!Number.isInteger(o.topK) || o.topK < 0)) throw bad(`topK must be an integer >= 0, got ${o.topK}`);
  if (o.topP !== undefined && !(o.topP > 0 && o.topP <= 1)) throw bad(`topP must be in (0, 1], got ${o.topP}`);
}

/**
 * Next-token choice from logits [R, V] (float32): EOS masked while below minNewTokens, then
 * temperature, top-k, top-p, and a draw from the global generator (or argmax at temperature 0).
 */
function pick(logits: Tensor, o: Required<Pick<SampleOptions, 'temperature' | 'topK' | 'topP'>>, eosMask: Tensor | null): Tensor {
  let l = eosMask ? logits.maskedFill(eosMask, -Infinity) : logits;
  if (o.temperature === 0) return l.argmax(1);
  if (o.temperature !== 1) l = l.div(o.temperature);
  const V = l.shape[1];
  if (o.topK > 0 && o.topK < V) {
    const kth = l.topk(o.topK, 1).values.narrow(1, o.topK - 1, 1);
    l = l.maskedFill(l.lt(kth), -Infinity);
  }
  if (o.topP < 1) {
    const sorted = l.sort(1, true);
    const probs = sorted.values.softmax(1);
    // drop a token when the tokens ranked above it already reach p (the top token always stays)
    const drop = probs.cumsum(1).sub(probs).ge(o.topP);
    const choice = multinomial(sorted.values.maskedFill(drop, -Infinity).softmax(1), 1, true);
    return sorted.indices.gather(1, choice).squeeze(1);
  }
  return multinomial(l.softmax(1), 1, true).squeeze(1);
}

/**
 * For each prompt, `n` continuations (token ids without the prompt, ending with EOS when one was
 * drawn). Prompts are left-padded into one batch and each is run once (its n samples start from
 * copies of its keys and values); a preallocated KV cache makes each new token one forward pass of
 * length 1. Runs in inference mode and without dropout.
 */
export function sample(model: CausalLM, promptIds: number[][], opts: SampleOptions): number[][][] {
  checkOptions(opts);
  const n = opts.n ?? 1;
  const o = { temperature: opts.temperature ?? 1, topK: opts.topK ?? 0, topP: opts.topP ?? 1 };
  const eosId = opts.eosId === undefined ? model.config.eos_token_id ?? null : opts.eosId;
  const min = opts.minNewTokens ?? 0;
  const P = Math.max(0, ...promptIds.map((p) => p.length));
  if (promptIds.length === 0) return [];
  promptIds.forEach((p, i) => {
    if (p.length === 0) throw new Error(`sample: prompt ${i} is empty; start it with a token (e.g. BOS)`);
  });
  if (P + opts.maxNewTokens > model.contextLength) {
    throw new Error(`sample: the longest prompt has ${P} tokens; with maxNewTokens ${opts.maxNewTokens} that is ${P + opts.maxNewTokens}, longer than the model's context of ${model.contextLength}`);
  }
  const rows = promptIds.flatMap((p) => Array.from({ length: n }, () => p));
  const R = rows.length;
  const out: number[][] = rows.map(() => []);
  if (opts.maxNewTokens === 0) return promptIds.map((_, i) => out.slice(i * n, i * n + n));
  if (opts.seed !== undefined) manualSeed(opts.seed);
  const device = model.device;
  const maxLen = P + opts.maxNewTokens;
  const U = promptIds.length;
  const ids = new BigInt64Array(U * P);
  const promptMask = new BigInt64Array(U * P);
  promptIds.forEach((p, u) => {
    const pad = P - p.length; // left padding keeps every row's last prompt token at the same column
    p.forEach((t, j) => {
      ids[u * P + pad + j] = BigInt(t);
      promptMask[u * P + pad + j] = 1n;
    });
  });
  // Decoding steps get their attention bias over the whole cache ([R, 1, 1, maxLen]: 0 for real
  // tokens, -1e9 for left padding and for columns not generated yet) and their positions from here:
  // two small copies per token instead of a dozen tensor ops.
  const bias = new Float32Array(R * maxLen).fill(-1e9);
  rows.forEach((p, r) => {
    for (let j = P - p.length; j < P; j++) bias[r * maxLen + j] = 0;
  });
  const stepInputs = (step: number) => {
    const pos = new BigInt64Array(R);
    for (let r = 0; r < R; r++) {
      bias[r * maxLen + P + step - 1] = 0; // the token fed at this step
      pos[r] = BigInt(rows[r].length + step - 1);
    }
    return {
      attentionBias: tensor(bias, { shape: [R, 1, 1, maxLen], dtype: 'float32', device }),
      positions: tensor(pos, { shape: [R, 1], dtype: 'int64', device }),
    };
  };
  const done = new Array<boolean>(R).fill(false);
  // sampling runs without dropout whatever mode the model is in (restored afterwards)
  const wasTraining = model.training;
  model.train(false);
  try {
    // One scope around everything, so that no tensor here is left to the garbage collector (the
    // cache is freed at the end; tensors made outside scopes also count against V8's heap limits);
    // inference mode: no autograd bookkeeping at all, and nothing made here can enter a graph.
    scope(() =>
      inferenceMode(() => {
        let eosMask: Tensor | null = null;
        if (eosId !== null && min > 0) {
          const m = new Array<number>(model.config.vocab_size).fill(0);
          m[eosId] = 1;
          eosMask = tensor(m, { shape: [1, m.length], dtype: 'bool', device });
        }
        // each distinct prompt is run once; its n samples then share copies of its keys and values
        let cache = model.createCache(U, maxLen);
        const hidden = model.hiddenStates(tensor(ids, { shape: [U, P], dtype: 'int64', device }), {
          attentionMask: tensor(promptMask, { shape: [U, P], dtype: 'int64', device }),
          cache,
        });
        // the head only at the last position: the prompt's other positions need no logits
        let first = model.lmHead(hidden.select(1, P - 1));
        if (n > 1) {
          const rowOf = tensor(BigInt64Array.from({ length: R }, (_, r) => BigInt(Math.floor(r / n))), { shape: [R], dtype: 'int64', device });
          const shared = cache;
          cache = { ...shared, keysT: shared.keysT.map((k) => k.indexSelect(0, rowOf)), values: shared.values.map((v) => v.indexSelect(0, rowOf)) };
          for (const t of [...shared.keysT, ...shared.values]) t.dispose();
          first = first.indexSelect(0, rowOf);
        }
        let next: number[] = [];
        for (let step = 0; step < opts.maxNewTokens; step++) {
          next = scope(() => {
            let logits = first;
            if (step > 0) {
              const h = model.hiddenStates(tensor(next, { shape: [R, 1], dtype: 'int64', device }), { ...stepInputs(step), cache });
              logits = model.lmHead(h.select(1, 0));
            }
            if (logits.dtype !== 'float32') logits = logits.to('float32');
            // NaN or infinite logits would otherwise surface as an obscure multinomial error or garbage tokens
            if (!logits.isfinite().all().item())
              throw new Error(`sample: the model gave non-finite logits for new token ${step + 1} (weights that overflow or are no longer finite?)`);
            return pick(logits, o, step < min ? eosMask : null).toArray();
          });
          for (let r = 0; r < R; r++) {
            if (done[r]) continue;
            out[r].push(next[r]);
            if (next[r] === eosId) done[r] = true;
          }
          if (done.every(Boolean)) break;
        }
      }),
    );
  } finally {
    model.train(wasTraining);
  }
  return promptIds.map((_, i) => out.slice(i * n, i * n + n));
}
