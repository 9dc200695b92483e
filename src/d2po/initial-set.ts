import type { CausalLM } from '../model/index.js';
import { Rng, hashSeed } from '../util/rng.js';
import { rollouts, type RolloutOptions, type TextCodec, type Rollout } from './rollout.js';

/**
 * The initial offline set D_0 is sampled in chunks of this many prompts, each chunk with its own
 * seed and always whole, so that a larger set begins with exactly the pairs of a smaller one
 * (the offline baselines' set of 1,600 + P extends the 1,600 every method shares).
 */
export const INITIAL_CHUNK = 64;

/** Seed streams of the initial set (hashSeed parts), fixed so that stored sets stay valid. */
const PASS_ORDER = 1;
const CHUNK_SAMPLE = 2;

/** Prompts of initial pairs [from, to): passes over the train prompts, each pass in its own seeded order. */
export function initialPrompts(train: string[], from: number, to: number, seed: number): string[] {
  if (train.length === 0) throw new Error('the task has no training prompts');
  const passes = new Map<number, string[]>();
  const out: string[] = [];
  for (let i = from; i < to; i++) {
    const pass = Math.floor(i / train.length);
    if (!passes.has(pass)) passes.set(pass, new Rng(hashSeed(seed, PASS_ORDER, pass)).shuffle(train));
    out.push(passes.get(pass)![i % train.length]);
  }
  return out;
}

/** Number of chunks that hold the first n pairs. */
export function chunksFor(n: number): number {
  return Math.ceil(n / INITIAL_CHUNK);
}

/** Chunk c of the initial set: INITIAL_CHUNK prompts, two samples each from the initial policy. */
export function sampleInitialChunk(model: CausalLM, codec: TextCodec, train: string[], c: number, seed: number, o: Omit<RolloutOptions, 'k' | 'seed'>): Rollout[] {
  const prompts = initialPrompts(train, c * INITIAL_CHUNK, (c + 1) * INITIAL_CHUNK, seed);
  return rollouts(model, codec, prompts, { ...o, k: 2, seed: hashSeed(seed, CHUNK_SAMPLE, c) });
}
