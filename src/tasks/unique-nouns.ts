/**
 * `unique-nouns` (reference notes, "Unique Nouns"): reward = number of distinct surface strings
 * (case-sensitive, as written) that `wink-nlp` with `wink-eng-lite-web-model` tags NOUN or PROPN.
 * The response handed to the reward is already the policy's 50-token sample (the task asks the
 * sampler for 50 new tokens); the reward tags the whole text it is given, without truncating.
 * The paper used spaCy, the authors' code NLTK; wink's noun F1 on Brown is 0.936 (notes).
 */
import winkNLP from 'wink-nlp';
import model from 'wink-eng-lite-web-model';
import { memoPrefixes } from './corpus-prompts.js';
import type { RewardInput, Task } from './task.js';

type Nlp = ReturnType<typeof winkNLP>;
let nlp: Nlp | undefined;

function tagger(): Nlp {
  // Only the POS stage: no sentence boundaries, negation or entities (they cost time, not used).
  return (nlp ??= winkNLP(model, ['pos']));
}

/** The distinct noun strings of a text, in first-seen order. */
export function uniqueNouns(text: string): string[] {
  const n = tagger();
  const tokens = n.readDoc(text).tokens();
  const values = tokens.out(n.its.value) as string[];
  const pos = tokens.out(n.its.pos) as string[];
  const seen = new Set<string>();
  for (let i = 0; i < values.length; i++) if (pos[i] === 'NOUN' || pos[i] === 'PROPN') seen.add(values[i]);
  return [...seen];
}

export function uniqueNounsReward(response: string): number {
  return uniqueNouns(response).length;
}

export const UNIQUE_NOUNS = {
  name: 'unique-nouns',
  description: 'use as many distinct nouns as possible in 50 tokens; reward = distinct NOUN/PROPN strings (wink-nlp tagger)',
};

export function createUniqueNounsTask(): Task {
  return {
    ...UNIQUE_NOUNS,
    prompts: memoPrefixes(() => ({ seed: 202, min: 4, max: 10 })),
    async rewards(batch: RewardInput[]) {
      return batch.map((b) => uniqueNounsReward(b.response));
    },
    generation: { maxNewTokens: 50 },
  };
}
