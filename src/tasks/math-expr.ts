/**
 * Arithmetic expressions of the Math task (reference notes, "Math Expressions"): a random tree
 * whose inner nodes are + - * and whose leaves are integers 1..9, written fully parenthesised
 * with single spaces, e.g. `((5 + 1) * 2)`; and the gold chain that solves it one innermost
 * group at a time.
 */
import type { Rng } from '../util/rng.js';

export type Op = '+' | '-' | '*';
export type Expr = number | { op: Op; left: Expr; right: Expr };

const OPS: readonly Op[] = ['+', '-', '*'];

export function formatExpr(e: Expr): string {
  return typeof e === 'number' ? String(e) : `(${formatExpr(e.left)} ${e.op} ${formatExpr(e.right)})`;
}

function apply(op: Op, a: number, b: number): number {
  return op === '+' ? a + b : op === '-' ? a - b : a * b;
}

export function evalExpr(e: Expr): number {
  return typeof e === 'number' ? e : apply(e.op, evalExpr(e.left), evalExpr(e.right));
}

/**
 * A random tree as the authors generate it: the node at path p (a string of l/r steps from the
 * root) has operator children while |p| < depth; on the all-left spine the child is always an
 * operator, elsewhere by a fair coin. So depth 1 gives `((a o b) o c)` or `((a o b) o (c o d))`,
 * depth 2 nests one level more.
 */
export function randomExpr(rng: Rng, depth: number, path = ''): Expr {
  const op = OPS[rng.int(3)];
  const child = (step: 'l' | 'r'): Expr => {
    const p = path + step;
    const nest = path.length < depth && (!p.includes('r') || rng.next() < 0.5);
    return nest ? randomExpr(rng, depth, p) : 1 + rng.int(9);
  };
  const left = child('l');
  const right = child('r');
  return { op, left, right };
}

/** Largest absolute value a problem's answer may have (exclusive), as in the reference notes. */
export const MAX_ABS_VALUE = 99;

/** One problem: depth 1 or 2 with equal chance, redrawn until |value| < 99. */
export function randomProblem(rng: Rng): { expression: string; value: number } {
  for (;;) {
    const e = randomExpr(rng, 1 + rng.int(2));
    const value = evalExpr(e);
    if (Math.abs(value) < MAX_ABS_VALUE) return { expression: formatExpr(e), value };
  }
}

/** Parse a fully parenthesised expression (`(a op b)` nodes, integer leaves); throws naming the text. */
export function parseExpr(text: string): Expr {
  let i = 0;
  const s = text.trim();
  const fail = (why: string): never => {
    throw new Error(`not a math-task expression (${why} at character ${i + 1}): "${text}"`);
  };
  const ws = () => {
    while (s[i] === ' ') i++;
  };
  const operand = (): Expr => {
    ws();
    if (s[i] === '(') {
      i++;
      const left = operand();
      ws();
      const op = s[i] as Op;
      if (!OPS.includes(op)) fail('expected + - or *');
      i++;
      const right = operand();
      ws();
      if (s[i] !== ')') fail("expected ')'");
      i++;
      return { op, left, right };
    }
    const m = /^-?\d+/.exec(s.slice(i));
    if (!m) fail("expected '(' or an integer");
    i += m![0].length;
    return Number(m![0]);
  };
  const e = operand();
  ws();
  if (i !== s.length) fail('unexpected text');
  return e;
}

/**
 * Order in which innermost groups are solved.
 * - `deepest-leftmost` (ours, the paper's description): each step solves the most deeply nested
 *   innermost group, the left-most among equals.
 * - `authors`: the authors' `solve_expression`: each pass finds every innermost group of the
 *   current text and solves them left to right, one step each (replacing the first occurrence of
 *   the group's text); a negative final value is written twice.
 */
export type ChainOrder = 'deepest-leftmost' | 'authors';

const GROUP = /\((-?\d+) ([+\-*]) (-?\d+)\)/g;

function solveGroup(text: string): string {
  const m = /^\((-?\d+) ([+\-*]) (-?\d+)\)$/.exec(text);
  if (!m) throw new Error(`cannot solve group "${text}"`);
  return String(apply(m[2] as Op, Number(m[1]), Number(m[3])));
}

/**
 * The gold chain: the texts written after the expression, one per replacement, the last being
 * the value. `((5 + 1) * 2)` -> `['(6 * 2)', '12']`.
 */
export function goldChain(expression: string | Expr, order: ChainOrder = 'deepest-leftmost'): string[] {
  let text = formatExpr(typeof expression === 'string' ? parseExpr(expression) : expression);
  const steps: string[] = [];
  if (order === 'deepest-leftmost') {
    for (;;) {
      let best: { index: number; text: string; depth: number } | null = null;
      for (const m of text.matchAll(GROUP)) {
        let depth = 0;
        for (let k = 0; k < m.index; k++) depth += text[k] === '(' ? 1 : text[k] === ')' ? -1 : 0;
        if (!best || depth > best.depth) best = { index: m.index, text: m[0], depth };
      }
      if (!best) break;
      text = text.slice(0, best.index) + solveGroup(best.text) + text.slice(best.index + best.text.length);
      steps.push(text);
    }
  } else {
    for (;;) {
      const groups = [...text.matchAll(GROUP)].map((m) => m[0]);
      if (groups.length === 0) break;
      for (const g of groups) {
        text = text.replace(g, solveGroup(g));
        steps.push(text);
      }
    }
    // solve_expression loops while the text contains '-', so "-7" is evaluated once more.
    if (text.startsWith('-')) steps.push(text);
  }
  if (steps.length === 0) steps.push(text); // a bare number: its chain is itself
  return steps;
}
