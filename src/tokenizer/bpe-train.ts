/**
 * A byte-level BPE trainer (the algorithm of GPT-2 / HF `tokenizers`' BpeTrainer, without their
 * options we do not need): count pre-tokens, start from the 256 bytes, and repeatedly merge the
 * most frequent adjacent pair (ties: the pair with the smaller ids first) until the vocabulary is
 * full. Pair counts are updated incrementally, with a lazily invalidated max-heap, so training on
 * the Brown corpus takes seconds.
 */
import { preTokenize } from './bytelevel.js';

export interface BpeVocabulary {
  /** Byte spelling of every token; ids 0..255 are the single bytes. */
  tokens: Uint8Array[];
  /** Merge rules in priority order: merges[i] created token 256 + i. */
  merges: [number, number][];
}

export interface BpeTrainOptions {
  /** Number of BPE tokens (256 bytes + merges); special tokens come on top. */
  size: number;
  /** Pairs seen fewer times than this are never merged. Default 2. */
  minFrequency?: number;
}

const SHIFT = 2 ** 20; // pair key = a * SHIFT + b; ids stay far below 2^20

/** Max-heap on (count desc, key asc). */
class PairHeap {
  private counts: number[] = [];
  private keys: number[] = [];
  get size(): number {
    return this.keys.length;
  }
  private above(i: number, j: number): boolean {
    return this.counts[i] > this.counts[j] || (this.counts[i] === this.counts[j] && this.keys[i] < this.keys[j]);
  }
  private swap(i: number, j: number): void {
    [this.counts[i], this.counts[j]] = [this.counts[j], this.counts[i]];
    [this.keys[i], this.keys[j]] = [this.keys[j], this.keys[i]];
  }
  push(count: number, key: number): void {
    this.counts.push(count);
    this.keys.push(key);
    for (let i = this.keys.length - 1; i > 0; ) {
      const p = (i - 1) >> 1;
      if (!this.above(i, p)) break;
      this.swap(i, p);
      i = p;
    }
  }
  pop(): [number, number] {
    const top: [number, number] = [this.counts[0], this.keys[0]];
    const lastC = this.counts.pop()!;
    const lastK = this.keys.pop()!;
    if (this.keys.length > 0) {
      this.counts[0] = lastC;
      this.keys[0] = lastK;
      for (let i = 0; ; ) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < this.keys.length && this.above(l, m)) m = l;
        if (r < this.keys.length && this.above(r, m)) m = r;
        if (m === i) break;
        this.swap(i, m);
        i = m;
      }
    }
    return top;
  }
}

/** Count the GPT-2 pre-tokens of the texts. */
export function countPreTokens(texts: Iterable<string>): Map<string, number> {
  const counts = new Map<string, number>();
  const decoder = new TextDecoder('latin1'); // one char per byte: a lossless map key
  for (const text of texts) {
    for (const bytes of preTokenize(text)) {
      const k = decoder.decode(bytes);
      counts.set(k, (counts.get(k) ?? 0) + 1);
    }
  }
  return counts;
}

export function trainBpe(texts: Iterable<string>, opts: BpeTrainOptions): BpeVocabulary {
  const minFrequency = opts.minFrequency ?? 2;
  if (!Number.isInteger(opts.size) || opts.size < 256) throw new Error(`BPE size must be an integer >= 256, got ${opts.size}`);
  const counts = countPreTokens(texts);
  // Sorted for a result independent of Map insertion order.
  const entries = [...counts.entries()].sort((x, y) => (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0));
  const words: number[][] = entries.map(([w]) => Array.from(w, (ch) => ch.charCodeAt(0)));
  const freq: number[] = entries.map(([, c]) => c);

  const pairCount = new Map<number, number>();
  const pairWords = new Map<number, Set<number>>(); // may hold stale words; checked on use
  const addPairs = (w: number, sign: 1 | -1, changed: Set<number>) => {
    const s = words[w];
    for (let i = 0; i + 1 < s.length; i++) {
      const k = s[i] * SHIFT + s[i + 1];
      pairCount.set(k, (pairCount.get(k) ?? 0) + sign * freq[w]);
      changed.add(k);
      if (sign > 0) {
        let set = pairWords.get(k);
        if (!set) pairWords.set(k, (set = new Set()));
        set.add(w);
      }
    }
  };
  const heap = new PairHeap();
  const initial = new Set<number>();
  for (let w = 0; w < words.length; w++) addPairs(w, 1, initial);
  for (const k of initial) heap.push(pairCount.get(k)!, k);

  const tokens: Uint8Array[] = [];
  for (let b = 0; b < 256; b++) tokens.push(Uint8Array.of(b));
  const merges: [number, number][] = [];
  while (tokens.length < opts.size && heap.size > 0) {
    const [count, key] = heap.pop();
    if (pairCount.get(key) !== count) continue; // stale entry
    if (count < minFrequency) break;
    const a = Math.floor(key / SHIFT);
    const b = key - a * SHIFT;
    const id = tokens.length;
    const merged = new Uint8Array(tokens[a].length + tokens[b].length);
    merged.set(tokens[a]);
    merged.set(tokens[b], tokens[a].length);
    tokens.push(merged);
    merges.push([a, b]);
    const changed = new Set<number>();
    for (const w of pairWords.get(key)!) {
      const s = words[w];
      let has = false;
      for (let i = 0; i + 1 < s.length; i++) if (s[i] === a && s[i + 1] === b) has = true;
      if (!has) continue;
      addPairs(w, -1, changed);
      const out: number[] = [];
      for (let i = 0; i < s.length; i++) {
        if (i + 1 < s.length && s[i] === a && s[i + 1] === b) {
          out.push(id);
          i++;
        } else out.push(s[i]);
      }
      words[w] = out;
      addPairs(w, 1, changed);
    }
    pairWords.delete(key);
    for (const k of changed) {
      const c = pairCount.get(k)!;
      if (c > 0) heap.push(c, k);
      else pairCount.delete(k);
    }
  }
  return { tokens, merges };
}
