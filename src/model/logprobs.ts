import { cat, crossEntropy, scope, tensor, type Tensor } from '../tensor/index.js';
import type { CausalLM } from './decoder.js';
import { pack } from './pack.js';

export interface PairBatch {
  promptIds: number[][];
  responseIds: number[][];
}

export interface ResponseLogprobs {
  /** log p(response token j | prompt, response tokens < j), [B, Rmax], 0 past each response's end */
  tokenLogprobs: Tensor;
  /** 1 where tokenLogprobs holds a real response token, [B, Rmax] float32 */
  mask: Tensor;
  /** summed over each response, [B] */
  sum: Tensor;
}

export interface LogprobOptions {
  /**
   * Most float32 logits one step of the LM head may hold (positions x vocabulary). Larger
   * batches of positions are done in chunks, so that a long response under a 150k vocabulary
   * never needs its whole [positions, vocab] logits at once. Default LOGIT_CHUNK_ELEMENTS.
   */
  logitChunkElements?: number;
}

/** 2^24 float32 logits = 64 MiB per chunk: ~111 positions of a 150k vocabulary, all of a batch for 4k. */
export const LOGIT_CHUNK_ELEMENTS = 1 << 24;

const IGNORE = -100;

/**
 * Per-token log-probs of each response given its prompt, in one batched forward pass. Sequences
 * are prompt + response, right-padded (./pack.ts); padding is masked out of attention and out
 * of the results. The LM head and the softmax run only at the positions
 * that predict a response token, in chunks of positions (see LogprobOptions); each position's
 * log-softmax is its own, so chunking changes no result. Differentiable when the model's weights
 * require grad; autograd then keeps each chunk's log-softmax for the backward pass, so the saving
 * is in memory of forward-only calls (scoring, reference log-probs, evaluation).
 */
export function responseLogprobs(model: CausalLM, batch: PairBatch, opts: LogprobOptions = {}): ResponseLogprobs {
  const { promptIds, responseIds } = batch;
  const B = promptIds.length;
  if (B === 0 || responseIds.length !== B) {
    throw new Error(`responseLogprobs: need as many responses as prompts (>0), got ${B} prompts and ${responseIds.length} responses`);
  }
  for (let b = 0; b < B; b++) {
    const p = promptIds[b].length;
    const r = responseIds[b].length;
    if (p === 0) throw new Error(`responseLogprobs: prompt ${b} is empty; start it with a token (e.g. BOS) so the first response token has a context`);
    if (p + r > model.contextLength) {
      throw new Error(`responseLogprobs: pair ${b} has ${p} prompt + ${r} response = ${p + r} tokens, longer than the model's context of ${model.contextLength}`);
    }
  }
  // every pair fits the context (checked above), so packing cuts nothing
  const k = pack(promptIds, responseIds, model.contextLength);
  const { L, R } = k;
  const targets = k.targets.map((t, i) => (k.responseMask[i] ? t : BigInt(IGNORE)));
  const device = model.device;
  const maskT = tensor(k.responseMask, { shape: [B, R], dtype: 'float32', device });
  if (R === 0) {
    const none = maskT.mul(0);
    return { tokenLogprobs: none, mask: maskT, sum: none.sum([1]) };
  }
  const input = tensor(k.ids, { shape: [B, L], dtype: 'int64', device });
  const attentionMask = k.padded ? tensor(k.attention, { shape: [B, L], dtype: 'int64', device }) : undefined;
  const hidden = model.hiddenStates(input, { attentionMask });
  const D = hidden.shape[2];
  const at = hidden.reshape([B * L, D]).indexSelect(0, tensor(k.predictIndex, { shape: [B * R], dtype: 'int64', device }));
  const target = tensor(targets, { shape: [B * R], dtype: 'int64', device });
  const limit = opts.logitChunkElements ?? LOGIT_CHUNK_ELEMENTS;
  if (!(limit >= 1)) throw new Error(`responseLogprobs: logitChunkElements ${limit}, expected at least 1`);
  const vocab = model.config.vocab_size;
  const chunk = Math.max(1, Math.floor(limit / vocab));
  const parts: Tensor[] = [];
  for (let start = 0; start < B * R; start += chunk) {
    const n = Math.min(chunk, B * R - start);
    // each chunk's logits are freed before the next is made
    parts.push(
      scope(() => {
        // float32 even under bf16 autocast (log-probs feed losses and rewards); cross-entropy
        // fuses log-softmax and the gather, and padding targets come back as 0
        const logits = model.lmHead(at.narrow(0, start, n)).to('float32');
        return crossEntropy(logits, target.narrow(0, start, n), { ignoreIndex: IGNORE, reduction: 'none' }).neg();
      }),
    );
  }
  const tokenLogprobs = (parts.length === 1 ? parts[0] : cat(parts)).view([B, R]);
  return { tokenLogprobs, mask: maskT, sum: tokenLogprobs.sum([1]) };
}
