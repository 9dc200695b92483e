/**
 * Prompts cut from Brown-corpus sentences (our stand-in for the paper's UltraChat and Wikipedia
 * prompts): a deterministic shuffle of one split's sentences, each cut to a prefix of a random
 * length. Train prompts come from the corpus' train documents, dev prompts from its dev
 * documents; train never repeats a dev prompt.
 */
import { brownSentences } from '../data/brown.js';
import { Rng } from '../util/rng.js';
import { DEV_SIZE, type Split } from './task.js';

/** Counts prefix lengths in tokens of this tokenizer instead of words. */
export interface PrefixTokenizer {
  encode(text: string): number[];
  decode(ids: number[]): string;
}

export interface PrefixOptions {
  /** Seed of the shuffle and of the prefix lengths. */
  seed: number;
  /** Prefix length range (inclusive), in words (split on spaces) or in tokens. */
  min: number;
  max: number;
  tokenizer?: PrefixTokenizer;
}

/** Distinct prefixes: "The jury said it did find" from a longer sentence. */
export async function sentencePrefixes(split: Split, opts: PrefixOptions): Promise<string[]> {
  const sentences = await brownSentences(split);
  const rng = new Rng(opts.seed);
  const out: string[] = [];
  // Different documents can open alike ("It was the"), so train excludes dev prompts.
  const seen = new Set<string>(split === 'train' ? await sentencePrefixes('dev', opts) : []);
  const tok = opts.tokenizer;
  for (const s of rng.shuffle(sentences)) {
    if (split === 'dev' && out.length === DEV_SIZE) break;
    const units: (string | number)[] = tok ? tok.encode(s.text) : s.text.split(' ');
    // Keep at least one unit after the cut so the prompt is a real prefix.
    if (units.length <= opts.min) continue;
    const max = Math.min(opts.max, units.length - 1);
    const k = opts.min + rng.int(max - opts.min + 1);
    const prefix = tok ? tok.decode(units.slice(0, k) as number[]) : units.slice(0, k).join(' ');
    if (seen.has(prefix)) continue;
    seen.add(prefix);
    out.push(prefix);
  }
  return out;
}

/** A task's `prompts(split)`: each split's prefixes computed once (a failure is not kept). */
export function memoPrefixes(options: () => PrefixOptions | Promise<PrefixOptions>): (split: Split) => Promise<string[]> {
  const cache = new Map<Split, Promise<string[]>>();
  return (split) => {
    let p = cache.get(split);
    if (!p) {
      p = Promise.resolve(options()).then((o) => sentencePrefixes(split, o));
      cache.set(split, p);
      p.catch(() => cache.delete(split));
    }
    return p;
  };
}
