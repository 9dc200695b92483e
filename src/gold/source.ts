/**
 * The gold-label interface: something that, given pairs of responses to the same prompt, says
 * which one is better (the "gold" preference of the D2PO paper), with scores where it has them and
 * what the answer cost.
 */

/** Two responses `a` and `b` to one prompt. `meta` carries extras for a source, e.g. `{ reference: "..." }` for a judge. */
export interface GoldPair {
  prompt: string;
  a: string;
  b: string;
  meta?: Record<string, unknown>;
}

export interface GoldCost {
  /** Requests this label caused to an external service (0 for local functions and cache hits; batched sources split a request evenly over its pairs). */
  calls: number;
  inputTokens?: number;
  outputTokens?: number;
  /** Only where prices are configured. */
  usd?: number;
}

export interface GoldLabel {
  preference: 'a' | 'b' | 'tie';
  /** Scores of a and b on the source's own scale, where it has them. */
  scores?: [number, number];
  cost: GoldCost;
  /** True when the label came from a cache and cost nothing now. */
  cached: boolean;
  /** The source's raw answer (the judge's text), for inspection. */
  raw?: string;
  /** LLM judge only: which response was shown to the judge as Text 1 ('ab': a first). */
  order?: 'ab' | 'ba';
}

export interface GoldSource {
  readonly name: string;
  /** True when labels cost money per call (an API judge): callers may budget and confirm. */
  readonly paid: boolean;
  /** One label per pair, in order. Rejects (never returns a made-up label) when a pair cannot be labelled. */
  label(pairs: GoldPair[], opts?: { signal?: AbortSignal }): Promise<GoldLabel[]>;
  /**
   * Set when answers arrive in the run's ledger from elsewhere (people through `d2po serve`,
   * which commits each one): the loop never calls `label`, it reads the ledger every `pollMs`.
   */
  readonly ledgerAnswers?: { pollMs: number };
  close?(): Promise<void>;
}

/** `a` when scoreA beats scoreB by more than `epsilon`, `b` in the mirror case, otherwise a tie. */
export function preferenceFromScores(scoreA: number, scoreB: number, epsilon: number): 'a' | 'b' | 'tie' {
  if (scoreA - scoreB > epsilon) return 'a';
  if (scoreB - scoreA > epsilon) return 'b';
  return 'tie';
}

/** Throws a clear error unless `scores` has `expected` finite numbers; `what` names the producer. */
export function checkScores(scores: unknown, expected: number, what: string): asserts scores is number[] {
  if (!Array.isArray(scores)) throw new Error(`${what} returned ${typeof scores}, expected an array of ${expected} numbers`);
  if (scores.length !== expected) {
    throw new Error(`${what} returned ${scores.length} scores for ${expected} inputs`);
  }
  scores.forEach((s, i) => {
    if (typeof s !== 'number' || !Number.isFinite(s)) {
      // JSON.stringify would print NaN and Infinity as null
      throw new Error(`${what} returned a non-finite score at index ${i}: ${typeof s === 'number' ? String(s) : JSON.stringify(s) ?? String(s)}`);
    }
  });
}
