/**
 * Gold reward of the Math task (reference notes, "Math Expressions"):
 *   R = - sum_i editDistance(predicted step i, gold step i)
 * Steps are the response split on "=", each trimmed at both ends (inner spaces count, as in the
 * paper's Table 8 values); gold steps are `goldChain` of the prompt's expression. A missing
 * step compares against "". Not normalised: 0 is a perfect chain, lower is worse.
 *
 * Default (ours): extra predicted steps after the gold chain are penalised (compared against
 * "", i.e. cost their length) and the chain solves the deepest, left-most group first.
 * `lenient: true` reproduces the authors' scoring: extra steps are free, the chain follows the
 * authors' solve order and writes a negative final value twice.
 */
import { levenshtein } from '../util/levenshtein.js';
import { goldChain, parseExpr, evalExpr, type Expr } from './math-expr.js';

export interface MathRewardOptions {
  lenient?: boolean;
}

/** The expression of a math prompt ("EXPR = "); throws naming the prompt if it is not one. */
export function promptExpression(prompt: string): Expr {
  const body = prompt.trim().replace(/=$/, '');
  return parseExpr(body);
}

export function responseSteps(response: string): string[] {
  return response.split('=').map((s) => s.trim());
}

export function mathReward(prompt: string, response: string, opts: MathRewardOptions = {}): number {
  const gold = goldChain(promptExpression(prompt), opts.lenient ? 'authors' : 'deepest-leftmost');
  const pred = responseSteps(response);
  const n = opts.lenient ? gold.length : Math.max(gold.length, pred.length);
  let cost = 0;
  for (let i = 0; i < n; i++) cost += levenshtein(pred[i] ?? '', gold[i] ?? '');
  return cost === 0 ? 0 : -cost;
}

/** Whether the response's last non-empty step is the expression's value (e.g. "12"). */
export function exactAnswer(prompt: string, response: string): boolean {
  const steps = responseSteps(response).filter((s) => s !== '');
  return steps.length > 0 && steps[steps.length - 1] === String(evalExpr(promptExpression(prompt)));
}
