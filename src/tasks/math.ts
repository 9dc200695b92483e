/**
 * `math`: solve a random arithmetic expression step by step (reference notes, "Math
 * Expressions"). Prompt: the expression followed by " = ", e.g. "((5 + 1) * 2) = "; the ideal
 * response is the gold chain "(6 * 2) = 12". Reward: see `math-reward.ts`.
 * The policy should start from an SFT model (`math-base`) trained on `mathSftExamples`.
 */
import { Rng } from '../util/rng.js';
import { randomProblem, goldChain } from './math-expr.js';
import { mathReward, type MathRewardOptions } from './math-reward.js';
import { DEV_SIZE, type RewardInput, type Split, type Task } from './task.js';

export const MATH_TRAIN_SIZE = 20_000;
const DEV_SEED = 7001;
const TRAIN_SEED = 7002;

function problems(seed: number, count: number, exclude: ReadonlySet<string>): string[] {
  const rng = new Rng(seed);
  const out: string[] = [];
  const seen = new Set(exclude);
  // Re-draws duplicates so a set holds distinct expressions; the space is far larger than 20k.
  while (out.length < count) {
    const { expression } = randomProblem(rng);
    if (seen.has(expression)) continue;
    seen.add(expression);
    out.push(expression);
  }
  return out;
}

let devCache: string[] | undefined;
/** The 200 dev expressions (without " = "). */
export function mathDevExpressions(): string[] {
  return (devCache ??= problems(DEV_SEED, DEV_SIZE, new Set()));
}

export function mathPrompt(expression: string): string {
  return `${expression} = `;
}

/**
 * Supervised examples for the math-base fine-tune: prompt "EXPR = ", response the gold chain
 * joined by " = " (no end-of-text marker: the trainer appends its tokenizer's EOS). Never
 * contains a dev expression; deterministic in `seed`.
 */
export function mathSftExamples(count: number, seed = 1): RewardInput[] {
  return problems(seed, count, new Set(mathDevExpressions())).map((e) => ({
    prompt: mathPrompt(e),
    response: goldChain(e).join(' = '),
  }));
}

export const MATH = {
  name: 'math',
  description: 'solve an arithmetic expression one innermost group at a time; reward = minus the summed edit distance to the gold chain',
};

export function createMathTask(opts: MathRewardOptions = {}): Task {
  let train: string[] | undefined;
  return {
    name: MATH.name,
    description: MATH.description + (opts.lenient ? ' (lenient: the authors\u2019 scoring, extra steps free)' : ''),
    async prompts(split: Split) {
      if (split === 'dev') return mathDevExpressions().map(mathPrompt);
      train ??= problems(TRAIN_SEED, MATH_TRAIN_SIZE, new Set(mathDevExpressions())).map(mathPrompt);
      return train;
    },
    async rewards(batch: RewardInput[]) {
      return batch.map((b) => mathReward(b.prompt, b.response, opts));
    },
    // With the shipped tokenizer gold chains take up to ~135 tokens (median 23, 90th percentile
    // 85): 88 covers about 90% of them and, with the longest prompt (39 tokens + BOS), still fits
    // a 128-token context.
    generation: { maxNewTokens: 88 },
  };
}
