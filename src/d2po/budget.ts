import { initialGold, type RunConfig } from './config.js';

/**
 * The gold budget of a run, worked out once from its config (paper section 3: P = sum of |D_t|
 * over the initial set D_0 and the T_P online rounds).
 */
export interface BudgetPlan {
  /** P: every gold label the run will buy, initial set included */
  goldTotal: number;
  /** |D_0|, counted in P */
  initial: number;
  /** P - |D_0| */
  online: number;
  /** T_P */
  rounds: number;
  /** gold labels of online round r (sums to `online`; P/T_P when it divides) */
  goldPerRound: number[];
  /** loop steps: silver batches for discriminator-labelled methods, gold rounds for gold-labelled ones */
  steps: number;
  /** after which step (1-based) round r's gold is bought; strictly increasing, last = steps */
  roundEnds: number[];
}

/** Splits `total` into `parts` near-equal integers, larger ones first. */
export function split(total: number, parts: number): number[] {
  if (parts <= 0) return [];
  const base = Math.floor(total / parts);
  const extra = total - base * parts;
  return Array.from({ length: parts }, (_, i) => base + (i < extra ? 1 : 0));
}

export function planBudget(c: RunConfig): BudgetPlan {
  const initial = initialGold(c);
  const online = c.budget.gold - initial;
  const rounds = online > 0 ? c.budget.rounds : 0;
  const goldPerRound = split(online, rounds);
  if (c.rollout.labeller === 'gold') {
    // one step per gold round: sample, buy, train goldEpochs epochs
    return { goldTotal: c.budget.gold, initial, online, rounds, goldPerRound, steps: rounds, roundEnds: goldPerRound.map((_, r) => r + 1) };
  }
  const steps = c.budget.steps;
  // round r closes the r-th block of N/T_P steps (Algorithm 1, line 9)
  const roundEnds = goldPerRound.map((_, r) => Math.floor(((r + 1) * steps) / rounds));
  return { goldTotal: c.budget.gold, initial, online, rounds, goldPerRound, steps, roundEnds };
}

/** Index of the round that step `step` (1-based) belongs to: the first round ending at or after it. */
export function roundOfStep(plan: BudgetPlan, step: number): number {
  const r = plan.roundEnds.findIndex((end) => step <= end);
  return r === -1 ? plan.rounds : r;
}
