import type { Rng } from '../util/rng.js';

/**
 * A rollout pair as the selection rules see it: the discriminator margin(s)
 * score(a) - score(b), one per ensemble member (one for a single discriminator).
 */
export interface Candidate {
  id: string;
  margins: number[];
  /** a and b are the same text: a gold query is a sure tie */
  identical: boolean;
}

export type SelectionStrategy = 'confidence' | 'random' | 'disagreement' | 'variance';

export function meanMargin(c: Candidate): number {
  let s = 0;
  for (const m of c.margins) s += m;
  return c.margins.length ? s / c.margins.length : 0;
}

/** How many members vote against the majority sign (0 = all agree; zero margins vote for neither). */
export function signMinority(c: Candidate): number {
  let pos = 0;
  let neg = 0;
  for (const m of c.margins) {
    if (m > 0) pos++;
    else if (m < 0) neg++;
  }
  return Math.min(pos, neg);
}

/** Variance across members of the preference probability sigmoid(margin): how much the members' beliefs differ. */
export function preferenceVariance(c: Candidate): number {
  const p = c.margins.map((m) => 1 / (1 + Math.exp(-m)));
  const mean = p.reduce((a, b) => a + b, 0) / Math.max(1, p.length);
  return p.reduce((a, x) => a + (x - mean) ** 2, 0) / Math.max(1, p.length);
}

/**
 * Picks `n` candidates for gold labelling (Algorithm 1 line 11).
 * - confidence: smallest |mean margin| first (the paper's default)
 * - random: uniform, from the seeded `rng`
 * - disagreement: most ensemble members against the majority sign first, then smallest |margin|
 * - variance: largest variance of the members' preference probabilities first (epistemic
 *   uncertainty: what gold would teach the ensemble most), then smallest |margin|
 * Pairs with identical responses would be certain ties (budget spent, nothing learnt), so they
 * are taken only when nothing else is left. Order among equals is the pool's order.
 */
export function selectForGold(pool: readonly Candidate[], n: number, strategy: SelectionStrategy, rng: Rng): Candidate[] {
  const distinct = pool.filter((c) => !c.identical);
  const same = pool.filter((c) => c.identical);
  let ranked: Candidate[];
  if (strategy === 'random') {
    ranked = rng.shuffle(distinct);
  } else {
    const keyed = distinct.map((c, i) => ({ c, i, abs: Math.abs(meanMargin(c)), minority: signMinority(c), variance: strategy === 'variance' ? preferenceVariance(c) : 0 }));
    keyed.sort((x, y) => {
      if (strategy === 'disagreement' && x.minority !== y.minority) return y.minority - x.minority;
      if (x.variance !== y.variance) return y.variance - x.variance;
      return x.abs - y.abs || x.i - y.i;
    });
    ranked = keyed.map((k) => k.c);
  }
  return [...ranked, ...same].slice(0, n);
}

export type SkipReason = 'identical' | 'tie' | 'margin' | 'disagreement';

export interface SilverDecision {
  /** 'a' when the discriminator prefers a */
  chosen: 'a' | 'b';
  /** set when the pair trains nothing */
  skip?: SkipReason;
}

export interface SilverRules {
  marginThreshold: number;
  skipDisagreement: boolean;
}

/**
 * The silver label of a pair (Algorithm 1 line 7) and whether it is used: identical texts and
 * zero margins carry no signal (argmax = argmin); small margins and ensemble sign
 * disagreements are skipped when the rules ask for it.
 */
export function silverLabel(c: Candidate, rules: SilverRules): SilverDecision {
  const m = meanMargin(c);
  const chosen = m >= 0 ? 'a' : 'b';
  if (c.identical) return { chosen, skip: 'identical' };
  if (m === 0) return { chosen, skip: 'tie' };
  if (Math.abs(m) < rules.marginThreshold) return { chosen, skip: 'margin' };
  if (rules.skipDisagreement && signMinority(c) > 0) return { chosen, skip: 'disagreement' };
  return { chosen };
}

/** Id of the pair a prompt offers to gold when it is not its silver pair (selection.goldPair 'uncertain'). */
export const goldCandidateId = (silverPairId: string) => `${silverPairId}-g`;
export const isGoldCandidate = (id: string) => id.endsWith('-g');

/**
 * For k samples of one prompt scored by the labeller: the two it tells apart least (smallest
 * score difference; the first such pair in index order), skipping pairs whose texts are equal
 * when `same(i, j)` says so and another pair exists.
 */
export function leastSeparated(scores: readonly number[], same: (i: number, j: number) => boolean = () => false): [number, number] {
  if (scores.length < 2) throw new Error('leastSeparated needs at least two samples');
  let pick: [number, number] | null = null;
  let gap = Infinity;
  for (let i = 0; i < scores.length; i++)
    for (let j = i + 1; j < scores.length; j++) {
      const d = Math.abs(scores[i] - scores[j]);
      if (!same(i, j) && d < gap) [pick, gap] = [[i, j], d];
    }
  return pick ?? [0, 1];
}

/**
 * For k samples of one prompt scored by the labeller: indices of the best and the worst
 * (first maximum; first minimum among the others), always two different samples.
 */
export function bestAndWorst(scores: readonly number[]): [number, number] {
  if (scores.length < 2) throw new Error('bestAndWorst needs at least two samples');
  let best = 0;
  for (let i = 1; i < scores.length; i++) if (scores[i] > scores[best]) best = i;
  let worst = -1;
  for (let i = 0; i < scores.length; i++) {
    if (i === best) continue;
    if (worst === -1 || scores[i] < scores[worst]) worst = i;
  }
  return [best, worst];
}
