/**
 * Prompts cut from Brown-corpus sentences (our stand-in for the paper's UltraChat and Wikipedia
 * prompts): a deterministic shuffle of one split's sentences, each cut to a prefix.
 * Train prompts come from the corpus' train documents, dev prompts from its dev documents.
 */
import { brownSentences } from '../data/brown.js';
import { Rng } from '../util/rng.js';
import { DEV_SIZE, type Split } from './task.js';

export interface PrefixOptions {
  /** Seed of the shuffle and of the prefix lengths. */
  seed: number;
  /** Cut a sentence's words (split on spaces) to a prefix of min..max words; longer sentences only. */
  minWords: number;
  maxWords: number;
}

/** Distinct prefixes of whole words: "The jury said it did find" from a longer sentence. */
export async function sentencePrefixes(split: Split, opts: PrefixOptions): Promise<string[]> {
  const sentences = await brownSentences(split);
  const rng = new Rng(opts.seed);
  const out: string[] = [];
  // Train never repeats a dev prompt (different documents can open alike: "It was the").
  const seen = new Set<string>(split === 'train' ? await sentencePrefixes('dev', opts) : []);
  for (const s of rng.shuffle(sentences)) {
    const words = s.text.split(' ');
    // Keep at least one word after the cut so the prompt is a real prefix.
    if (words.length <= opts.minWords) continue;
    const max = Math.min(opts.maxWords, words.length - 1);
    const k = opts.minWords + rng.int(max - opts.minWords + 1);
    const prefix = words.slice(0, k).join(' ');
    if (seen.has(prefix)) continue;
    seen.add(prefix);
    out.push(prefix);
  }
  return split === 'dev' ? out.slice(0, DEV_SIZE) : out;
}
