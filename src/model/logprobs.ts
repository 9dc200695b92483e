import { crossEntropy, tensor, type Tensor } from '../tensor/index.js';
import type { CausalLM } from './decoder.js';

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

const IGNORE = -100;

/**
 * Per-token log-probs of each response given its prompt, in one batched forward pass. Sequences
 * are prompt + response, right-padded (so positions equal the unpadded ones); padding is masked
 * out of attention and out of the results. Differentiable when the model's weights require grad.
 */
export function responseLogprobs(model: CausalLM, batch: PairBatch): ResponseLogprobs {
  const { promptIds, responseIds } = batch;
  const B = promptIds.length;
  if (B === 0 || responseIds.length !== B) {
    throw new Error(`responseLogprobs: need as many responses as prompts (>0), got ${B} prompts and ${responseIds.length} responses`);
  }
  let L = 0;
  let R = 0;
  for (let b = 0; b < B; b++) {
    const p = promptIds[b].length;
    const r = responseIds[b].length;
    if (p === 0) throw new Error(`responseLogprobs: prompt ${b} is empty; start it with a token (e.g. BOS) so the first response token has a context`);
    if (p + r > model.contextLength) {
      throw new Error(`responseLogprobs: pair ${b} has ${p} prompt + ${r} response = ${p + r} tokens, longer than the model's context of ${model.contextLength}`);
    }
    L = Math.max(L, p + r);
    R = Math.max(R, r);
  }
  const ids = new BigInt64Array(B * L);
  const attn = new BigInt64Array(B * L);
  // target at position t is the token at t+1 when that token belongs to the response
  const targets = new BigInt64Array(B * (L - 1)).fill(BigInt(IGNORE));
  const gatherIdx = new BigInt64Array(B * R);
  const mask = new Float32Array(B * R);
  for (let b = 0; b < B; b++) {
    const seq = [...promptIds[b], ...responseIds[b]];
    const p = promptIds[b].length;
    for (let t = 0; t < seq.length; t++) {
      ids[b * L + t] = BigInt(seq[t]);
      attn[b * L + t] = 1n;
      if (t >= p) targets[b * (L - 1) + t - 1] = BigInt(seq[t]);
    }
    for (let j = 0; j < responseIds[b].length; j++) {
      gatherIdx[b * R + j] = BigInt(p - 1 + j);
      mask[b * R + j] = 1;
    }
  }
  const device = model.device;
  const input = tensor(ids, { shape: [B, L], dtype: 'int64', device });
  const attentionMask = tensor(attn, { shape: [B, L], dtype: 'int64', device });
  const maskT = tensor(mask, { shape: [B, R], dtype: 'float32', device });
  if (R === 0 || L < 2) {
    const zerosBR = maskT.mul(0);
    return { tokenLogprobs: zerosBR, mask: maskT, sum: zerosBR.sum([1]) };
  }
  const { logits } = model.forward(input, { attentionMask });
  const V = logits.shape[2];
  const target = tensor(targets, { shape: [B * (L - 1)], dtype: 'int64', device });
  // cross-entropy fuses log-softmax and the gather; ignored positions come back as 0
  // (in float32 even under bf16 autocast: log-probs feed losses and rewards)
  const perPosition = crossEntropy(logits.narrow(1, 0, L - 1).reshape([B * (L - 1), V]).to('float32'), target, {
    ignoreIndex: IGNORE,
    reduction: 'none',
  })
    .neg()
    .view([B, L - 1]);
  const index = tensor(gatherIdx, { shape: [B, R], dtype: 'int64', device });
  const tokenLogprobs = perPosition.gather(1, index).mul(maskT);
  return { tokenLogprobs, mask: maskT, sum: perPosition.sum([1]) };
}
