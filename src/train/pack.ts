/**
 * Prompt + response sequences packed right-padded into one batch, with the indices that pick
 * out the response: response token j of row b sits at position starts[b] + j and is predicted
 * from position starts[b] + j - 1.
 */
export interface Packed {
  B: number;
  L: number;
  /** longest response */
  R: number;
  ids: BigInt64Array; // [B, L]
  attention: BigInt64Array; // [B, L], 1 = real token
  /** [B, L]: the next token at each position (0 past the end), for log-prob gathers */
  next: BigInt64Array;
  /** [B, R]: the position that predicts response token j (0 where there is none) */
  predictPos: BigInt64Array;
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
  const next = new BigInt64Array(B * L);
  const predictPos = new BigInt64Array(B * R);
  const responseMask = new Float32Array(B * R);
  const responsePositions = new Float32Array(B * L);
  const last = new BigInt64Array(B);
  rows.forEach(({ prompt, response }, b) => {
    const seq = [...prompt, ...response];
    for (let t = 0; t < seq.length; t++) {
      ids[b * L + t] = BigInt(seq[t]);
      attention[b * L + t] = 1n;
      if (t + 1 < seq.length) next[b * L + t] = BigInt(seq[t + 1]);
      if (t >= prompt.length) responsePositions[b * L + t] = 1;
    }
    for (let j = 0; j < response.length; j++) {
      predictPos[b * R + j] = BigInt(prompt.length - 1 + j);
      responseMask[b * R + j] = 1;
    }
    last[b] = BigInt(seq.length - 1);
  });
  return { B, L, R, ids, attention, next, predictPos, responseMask, responsePositions, last, lengths: rows.map((r) => r.response.length) };
}
