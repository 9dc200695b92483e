/**
 * `word-collector` (reference notes, "Word Collector"): reward = how many of 30 target words
 * occur at least once in the response (0..30), exact case-sensitive match after word
 * tokenisation.
 *
 * Tokenisation (ours, close to NLTK's word_tokenize that the authors used):
 * - a word is a maximal run of letters and digits, which may contain inner hyphens or
 *   apostrophes ("data-driven", "o'clock" are one word each); everything else (spaces,
 *   punctuation, symbols) separates words, so "data," and "(data)" hold the word "data";
 * - English clitics are split off as NLTK does: "data's" -> "data" + "'s", "don't" -> "do" +
 *   "n't", likewise 're 've 'll 'd 'm (straight or curly apostrophe);
 * - case is kept: "Data" and "DATA" do not count for "data".
 */
import { memoPrefixes } from './corpus-prompts.js';
import type { RewardInput, Task } from './task.js';

export const WORD_COLLECTOR_WORDS: readonly string[] = [
  'data', 'hope', 'information', 'provide', 'example', 'your', 'however', 'first', 'have', 'help',
  'additionally', 'important', 'include', 'finally', 'following', 'happy', 'code', 'two', 'create', 'question',
  'possible', 'understand', 'generate', 'contains', 'appropriate', 'best', 'respectful', 'ensure', 'experience', 'safe',
];

const WORD = /[\p{L}\p{N}]+(?:['\u2019-][\p{L}\p{N}]+)*/gu;
const CLITIC = /^(.+?)(n['\u2019]t|['\u2019](?:s|re|ve|ll|d|m))$/iu;

/** Words of a text per the rules above, in order. */
export function wordTokens(text: string): string[] {
  const out: string[] = [];
  for (const [w] of text.matchAll(WORD)) {
    const m = CLITIC.exec(w);
    if (m) out.push(m[1], m[2]);
    else out.push(w);
  }
  return out;
}

const TARGETS = new Set(WORD_COLLECTOR_WORDS);

export function wordCollectorReward(response: string): number {
  const found = new Set<string>();
  for (const w of wordTokens(response)) if (TARGETS.has(w)) found.add(w);
  return found.size;
}

export const WORD_COLLECTOR = {
  name: 'word-collector',
  description: 'use as many of 30 target words as possible in ~50 words; reward = distinct target words present (0-30)',
};

export function createWordCollectorTask(): Task {
  return {
    ...WORD_COLLECTOR,
    prompts: memoPrefixes(() => ({ seed: 101, min: 4, max: 10 })),
    async rewards(batch: RewardInput[]) {
      return batch.map((b) => wordCollectorReward(b.response));
    },
    // About 50 words.
    generation: { maxNewTokens: 64 },
  };
}
