/**
 * Language-model training data: documents of a split turned into one token stream
 * (`<eos> doc1 <eos> doc2 <eos> ...`, the end-of-text token also serving as beginning of text),
 * random training windows drawn per step from a seeded generator (so a step's batch depends only
 * on (seed, step), which makes resuming exact), and non-overlapping windows for perplexity.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { Rng, hashSeed } from '../util/rng.js';
import { brownDocuments, type Split } from './brown.js';

export type CorpusSpec = 'brown' | { train: string; dev: string; test?: string };

/** Plain-text corpus file: documents separated by blank lines. */
async function readTextDocuments(path: string, split: Split): Promise<string[]> {
  if (!existsSync(path)) throw new Error(`corpus file for the ${split} split not found: ${path}`);
  const text = await readFile(path, 'utf8');
  const docs = text
    .replace(/\r\n/g, '\n')
    .split(/\n\s*\n/)
    .map((d) => d.trim())
    .filter((d) => d.length > 0);
  if (docs.length === 0) throw new Error(`corpus file for the ${split} split is empty: ${path}`);
  return docs;
}

/** Document texts of one split; null when a text corpus has no file for it. */
export async function corpusDocuments(spec: CorpusSpec, split: Split): Promise<string[] | null> {
  if (spec === 'brown') return (await brownDocuments(split)).map((d) => d.text);
  const path = spec[split];
  return path === undefined ? null : readTextDocuments(path, split);
}

/** `<eos> doc1 <eos> doc2 ... <eos>` as token ids. */
export function tokenStream(docs: readonly string[], encode: (text: string) => number[], eosId: number): Int32Array {
  const parts = docs.map(encode);
  const out = new Int32Array(parts.reduce((n, p) => n + p.length + 1, 1));
  let i = 0;
  out[i++] = eosId;
  for (const p of parts) {
    out.set(p, i);
    i += p.length;
    out[i++] = eosId;
  }
  return out;
}

/**
 * The training batch of `step`: `batchSize` windows of seqLen + 1 tokens at offsets drawn from
 * Rng(hash(seed, step)); returns inputs and next-token targets, row-major [batchSize * seqLen].
 */
export function trainBatch(
  stream: Int32Array,
  opts: { batchSize: number; seqLen: number; seed: number; step: number },
): { inputs: Int32Array; targets: Int32Array } {
  const { batchSize, seqLen } = opts;
  const span = stream.length - seqLen - 1;
  if (span < 0) throw new Error(`training text is too short: ${stream.length} tokens, a window needs ${seqLen + 1}`);
  const rng = new Rng(hashSeed(opts.seed, opts.step, 0xda7a));
  const inputs = new Int32Array(batchSize * seqLen);
  const targets = new Int32Array(batchSize * seqLen);
  for (let b = 0; b < batchSize; b++) {
    const off = rng.int(span + 1);
    inputs.set(stream.subarray(off, off + seqLen), b * seqLen);
    targets.set(stream.subarray(off + 1, off + seqLen + 1), b * seqLen);
  }
  return { inputs, targets };
}

/**
 * Non-overlapping evaluation windows covering the stream (each predicts seqLen tokens from the
 * ones before it inside the window; the last window may be shorter), at most `maxTokens` predicted.
 */
export function evalWindows(stream: Int32Array, seqLen: number, maxTokens = Infinity): { inputs: Int32Array; targets: Int32Array }[] {
  const out: { inputs: Int32Array; targets: Int32Array }[] = [];
  let predicted = 0;
  for (let off = 0; off + 1 < stream.length && predicted < maxTokens; off += seqLen) {
    const n = Math.min(seqLen, stream.length - 1 - off, maxTokens - predicted);
    out.push({ inputs: stream.slice(off, off + n), targets: stream.slice(off + 1, off + n + 1) });
    predicted += n;
  }
  return out;
}
