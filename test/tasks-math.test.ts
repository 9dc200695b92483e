import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../src/util/rng.js';
import { levenshtein } from '../src/util/levenshtein.js';
import { evalExpr, formatExpr, goldChain, parseExpr, randomExpr, randomProblem } from '../src/tasks/math-expr.js';
import { exactAnswer, mathReward } from '../src/tasks/math-reward.js';
import { createMathTask, mathDevExpressions, mathSftExamples } from '../src/tasks/math.js';

test('levenshtein: hand-computed distances', () => {
  assert.equal(levenshtein('', ''), 0);
  assert.equal(levenshtein('abc', ''), 3);
  assert.equal(levenshtein('', 'ab'), 2);
  assert.equal(levenshtein('kitten', 'sitting'), 3); // k->s, e->i, +g
  assert.equal(levenshtein('12', '13'), 1);
  assert.equal(levenshtein('(128 - 15)', '72'), 9); // keep '2', 1->7, delete the other 8
});

test('gold chain: the paper example and both solve orders', () => {
  assert.deepEqual(goldChain('((5 + 1) * 2)'), ['(6 * 2)', '12']);
  // (4 - 1) is nested deeper than (1 + 2), so ours solves it first; the authors solve every
  // innermost group of a pass left to right.
  assert.deepEqual(goldChain('((1 + 2) * (3 + (4 - 1)))'), ['((1 + 2) * (3 + 3))', '(3 * (3 + 3))', '(3 * 6)', '18']);
  assert.deepEqual(goldChain('((1 + 2) * (3 + (4 - 1)))', 'authors'), [
    '(3 * (3 + (4 - 1)))',
    '(3 * (3 + 3))',
    '(3 * 6)',
    '18',
  ]);
  // negative intermediate values are written bare; the authors write a negative final value twice
  assert.deepEqual(goldChain('((2 - 6) * 3)'), ['(-4 * 3)', '-12']);
  assert.deepEqual(goldChain('((2 - 6) * 3)', 'authors'), ['(-4 * 3)', '-12', '-12']);
  assert.deepEqual(goldChain('(16 - -16)'), ['32']);
});

test('parseExpr: round trip and clear errors', () => {
  assert.equal(formatExpr(parseExpr(' ((5 + 1) * (3 - -2)) ')), '((5 + 1) * (3 - -2))');
  assert.equal(evalExpr(parseExpr('((5 + 1) * (3 - -2))')), 30);
  assert.throws(() => parseExpr('(5 + 1'), /expected '\)'.*\(5 \+ 1/);
  assert.throws(() => parseExpr('(5 / 1)'), /expected \+ - or \*/);
  assert.throws(() => parseExpr('(5 + 1) x'), /unexpected text/);
});

test('generator: shapes, left spine at full depth, |value| < 99, deterministic', () => {
  const rng = new Rng(1);
  const depthOf = (e: ReturnType<typeof randomExpr>): number =>
    typeof e === 'number' ? 0 : 1 + Math.max(depthOf(e.left), depthOf(e.right));
  const leftSpine = (e: ReturnType<typeof randomExpr>): number => (typeof e === 'number' ? 0 : 1 + leftSpine(e.left));
  for (const depth of [1, 2]) {
    const seen = new Set<string>();
    for (let i = 0; i < 500; i++) {
      const e = randomExpr(rng, depth);
      // operators on depth+1 levels, the left spine always that deep
      assert.equal(depthOf(e), depth + 1);
      assert.equal(leftSpine(e), depth + 1);
      assert.match(formatExpr(e), /^[()0-9 +\-*]+$/);
      seen.add(formatExpr(e));
    }
    assert.ok(seen.size > 100, 'varied expressions');
  }
  for (let i = 0; i < 500; i++) {
    const p = randomProblem(rng);
    assert.ok(Math.abs(p.value) < 99);
    assert.equal(evalExpr(parseExpr(p.expression)), p.value);
    const chain = goldChain(p.expression);
    assert.equal(chain[chain.length - 1], String(p.value));
  }
  assert.deepEqual(
    [0, 1, 2].map(() => randomProblem(new Rng(5)).expression),
    [0, 1, 2].map(() => randomProblem(new Rng(5)).expression),
  );
});

test('reward: hand-computed values on ((5 + 1) * 2)', () => {
  const p = '((5 + 1) * 2) = ';
  assert.equal(mathReward(p, '(6 * 2) = 12'), 0);
  assert.equal(mathReward(p, '  (6 * 2)=12  '), 0); // steps are trimmed
  assert.equal(mathReward(p, '(6 * 2) = 13'), -1);
  assert.equal(mathReward(p, '(6*2) = 12'), -2); // inner spaces count
  assert.equal(mathReward(p, '(6 * 2)'), -2); // missing "12"
  assert.equal(mathReward(p, ''), -9); // "(6 * 2)" + "12"
  assert.equal(mathReward(p, '12'), -(levenshtein('12', '(6 * 2)') + 2));
  // extra steps: penalised by their length by default, free when lenient
  assert.equal(mathReward(p, '(6 * 2) = 12 = 12 = 12'), -4);
  assert.equal(mathReward(p, '(6 * 2) = 12 = 12 = 12', { lenient: true }), 0);
  assert.equal(mathReward(p, '(6 * 2) = 12 ='), 0); // a trailing "=" adds an empty step, cost 0
  // lenient: the authors' doubled negative final value must be written to score 0
  assert.equal(mathReward('((2 - 6) * 3) = ', '(-4 * 3) = -12'), 0);
  assert.equal(mathReward('((2 - 6) * 3) = ', '(-4 * 3) = -12', { lenient: true }), -3);
  assert.equal(mathReward('((2 - 6) * 3) = ', '(-4 * 3) = -12 = -12', { lenient: true }), 0);
  assert.throws(() => mathReward('what is 2+2?', '4'), /not a math-task expression/);
});

// The paper's Table 8. The PDF text lost the first "(" of each prompt, the "=" after "103" in
// row 1 and set "(88)" (an equation number) after row 3; these are restored/removed here.
const T8 = {
  a: '(((9 + 7) * (8 * 1)) - (7 + 8)) = ', // 113
  b: '(((3 * 7) - 5) - (4 * (2 - 6))) = ', // 32
  c: '(((5 + 1) * (3 + 8)) * 3) = ', // 198
};
const rows: { prompt: string; response: string; paper: number; ours: number }[] = [
  {
    prompt: T8.a,
    response:
      '((16 * (8 * 1)) - (7 + 8)) = ((16 * 8) - (7 + 8)) = ((16 * 8) - 15) = (128 - 15) = 103 = (8 - 15) = -7 = -7 = -7 = -7 = -7 =',
    paper: -1,
    // ours solves (16 * 8) before (7 + 8): step 3 "((16 * 8) - 15)" vs "(128 - (7 + 8))" = 9;
    // step 4 matches; "103" vs "113" = 1; extra steps "(8 - 15)" 8 + five "-7" 10 + "" 0.
    ours: -(9 + 0 + 1 + 8 + 10),
  },
  {
    prompt: T8.a,
    response: '(16 * (8 * 1)) - (7 + 8) = (16 * 8) - (7 + 8) = (16 * 8) - 21 = 72',
    paper: -20, // authors: 2 + 2 + 4 ("((16 * 8) - 15)": 2 parens, 15->21) + 9 + 3 (missing "113")
    // ours: 2 + 2 + 9 ("(16 * 8) - 21" vs "(128 - (7 + 8))") + 9 ("72" vs "(128 - 15)") + 3
    ours: -(2 + 2 + 9 + 9 + 3),
  },
  {
    prompt: T8.b,
    response: '((21 - 5) - (4 * (2 - 6))) = ((21 - 5) - (4 * -4)) = (18 - (4 * -4)) = (18 - -16) = 34',
    paper: -3, // 16->18 twice, 32->34
    ours: -3,
  },
  {
    prompt: T8.b,
    response: '((21 - 5) - (4 * (2 - 6))) = ((21 - 5) - (4 * -4)) = (16 - (4 * -4)) = (16 - -16) = 36',
    paper: -1,
    ours: -1,
  },
  { prompt: T8.c, response: '((6 * (3 + 8)) * 3) = ((6 * 11) * 3) = (66 * 3) = 198', paper: 0, ours: 0 },
];

test("reward: the paper's Table 8 math examples, lenient = the paper's values, default = ours", () => {
  for (const r of rows) {
    assert.equal(mathReward(r.prompt, r.response, { lenient: true }), r.paper, `lenient: ${r.response}`);
    assert.equal(mathReward(r.prompt, r.response), r.ours, `ours: ${r.response}`);
  }
  assert.equal(levenshtein('((16 * 8) - 15)', '(128 - (7 + 8))'), 9);
  assert.equal(levenshtein('(16 * 8) - 21', '(128 - (7 + 8))'), 9);
});

test('exactAnswer: last non-empty step equals the value', () => {
  assert.equal(exactAnswer('((5 + 1) * 2) = ', '(6 * 3) = 12'), true);
  assert.equal(exactAnswer('((5 + 1) * 2) = ', '(6 * 2) = 12 ='), true);
  assert.equal(exactAnswer('((5 + 1) * 2) = ', '(6 * 2) = 13'), false);
  assert.equal(exactAnswer('((5 + 1) * 2) = ', ''), false);
});

test('math task: 200 distinct dev prompts, train disjoint from dev, SFT chains score 0', async () => {
  const task = createMathTask();
  const dev = await task.prompts('dev');
  const train = await task.prompts('train');
  assert.equal(dev.length, 200);
  assert.equal(new Set(dev).size, 200);
  assert.ok(train.length >= 10_000);
  const devSet = new Set(dev);
  assert.ok(train.every((p) => !devSet.has(p)));
  assert.ok(dev.every((p) => p.endsWith(' = ')));
  assert.deepEqual(await task.prompts('dev'), dev, 'deterministic');
  const sft = mathSftExamples(300, 3);
  assert.ok(sft.every((s) => !devSet.has(s.prompt)));
  const scores = await task.rewards(sft);
  assert.ok(scores.every((s) => s === 0));
  assert.equal(mathDevExpressions().length, 200);
});
