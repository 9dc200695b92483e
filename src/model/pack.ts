/**
 * Prompt + response sequences packed right-padded into one batch (so positions equal the
 * unpadded ones), with the indices that pick out the response: response token j of row b sits
 * at position p_b + j and is predicted from position p_b + j - 1. The one packing of prompt +
 * response batches: log-probs, reward models and PPO all read it.
 */
export interface Packed {
  B: number;
  L: number;
  /** longest response */
  R: number;
  ids: BigInt64Array; // [B, L]
  attention: BigInt64Array; // [B, L], 1 = real token
  /** whether rows differ in length (only then does attention need the mask) */
  padded: boolean;
  /** [B, R]: the flat position in [B * L] whose hidden state predicts response token j (row b's first position where there is none) */
  predictIndex: BigInt64Array;
  /** [B, R]: response token j (0 where there is none) */
  targets: BigInt64Array;
  /** [B, R]: 1 where response token j exists */
  responseMask: Float32Array;
  /** [B, L]: 1 at response positions */
  responsePositions: Float32Array;
  /** [B]: position of each row's last real token */
  last: BigInt64Array;
  /** response tokens kept per row (responses are cut to fit the context) */
  lengths: number[];
}

export function pack(promptIds: number[][], responseIds: number[][], contextLength: number): Packed {
  const B = promptIds.length;
  const rows = promptIds.map((p, b) => {
    if (p.length === 0) throw new Error(`prompt ${b} is empty; start it with a token (e.g. BOS)`);
    const prompt = p.slice(0, contextLength);
    return { prompt, response: responseIds[b].slice(0, Math.max(0, contextLength - prompt.length)) };
  });
  const L = Math.max(...rows.map((r) => r.prompt.length + r.response.length));
  const R = Math.max(0, ...rows.map((r) => r.response.length));
  const ids = new BigInt64Array(B * L);
  const attention = new BigInt64Array(B * L);
  const predictIndex = new BigInt64Array(B * R);
  const targets = new BigInt64Array(B * R);
  const responseMask = new Float32Array(B * R);
  const responsePositions = new Float32Array(B * L);
  const last = new BigInt64Array(B);
  rows.forEach(({ prompt, response }, b) => {
    const seq = [...prompt, ...response];
    for (let t = 0; t < seq.length; t++) {
      ids[b * L + t] = BigInt(seq[t]);
      attention[b * L + t] = 1n;
      if (t >= prompt.length) responsePositions[b * L + t] = 1;
    }
    for (let j = 0; j < R; j++) predictIndex[b * R + j] = BigInt(b * L + (j < response.length ? prompt.length - 1 + j : 0));
    for (let j = 0; j < response.length; j++) {
      targets[b * R + j] = BigInt(response[j]);
      responseMask[b * R + j] = 1;
    }
    last[b] = BigInt(seq.length - 1);
  });
  const padded = rows.some((r) => r.prompt.length + r.response.length !== L);
  return { B, L, R, ids, attention, padded, predictIndex, targets, responseMask, responsePositions, last, lengths: rows.map((r) => r.response.length) };
}
