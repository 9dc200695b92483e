import { test } from 'node:test';
import assert from 'node:assert/strict';
import { METHODS, ConfigError } from '../src/d2po/config.js';
import { presetConfig, resolveConfig } from '../src/d2po/presets.js';
import { planBudget, split } from '../src/d2po/budget.js';
import { selectForGold, silverLabel, bestAndWorst, leastSeparated, preferenceVariance, type Candidate } from '../src/d2po/selection.js';
import { Rng } from '../src/util/rng.js';
import { cpuHasFastBf16, readCpuinfo } from '../src/tensor/cpu-features.js';

const where = { task: 'word-collector', model: 'models/base', out: 'runs/x' };

test('every Table 1 preset resolves to a valid config', () => {
  for (const m of METHODS) {
    const c = resolveConfig({ method: m, ...where });
    assert.equal(c.method, m);
  }
  const d = presetConfig('dpo');
  assert.equal(d.rollout.labeller, 'gold');
  assert.equal(d.budget.initial, 'all');
  assert.equal(presetConfig('opo-gold').policy.goldEpochs, 4);
  assert.equal(presetConfig('d2po-self').discriminator.kind, 'self');
  assert.equal(presetConfig('d2po-ppo').policy.loss, 'ppo');
  assert.equal(presetConfig('opo-static-rm').discriminator.online, false);
});

test('autocast defaults on only where bf16 is native (CPU flags) or on CUDA; a value the user gives is kept', () => {
  assert.equal(cpuHasFastBf16('flags\t\t: fpu avx512f avx512_bf16\n'), true);
  assert.equal(cpuHasFastBf16('flags\t\t: fpu avx512f amx_bf16 amx_tile\n'), true);
  assert.equal(cpuHasFastBf16('flags\t\t: fpu avx2 fma avx512f avx512bw\n'), false);
  assert.equal(resolveConfig({ method: 'd2po', ...where }).autocast, cpuHasFastBf16(readCpuinfo()));
  for (const on of [true, false]) assert.equal(resolveConfig({ method: 'd2po', ...where, autocast: on }).autocast, on);
  assert.equal(resolveConfig({ method: 'd2po', ...where, device: 'cuda' }).autocast, true);
});

test('config errors name the field', () => {
  assert.throws(() => resolveConfig({ method: 'nope', ...where }, 'x.json'), (e: Error) => e instanceof ConfigError && /x\.json/.test(e.message) && /method: expected one of/.test(e.message));
  assert.throws(() => resolveConfig({ method: 'd2po', ...where, budget: { gold: 'ten' } }), /budget\.gold: /);
  assert.throws(() => resolveConfig({ method: 'd2po', ...where, budget: { golden: 3 } }), /budget\.golden: unknown field/);
  assert.throws(() => resolveConfig({ method: 'd2po', ...where, budget: { gold: 100, initial: 200 } }), /budget\.initial: initial gold set \(200\) exceeds/);
  assert.throws(() => resolveConfig({ method: 'd2po', ...where, selection: { strategy: 'disagreement' } }), /selection\.strategy: 'disagreement' needs/);
  assert.throws(() => resolveConfig({ method: 'd2po', ...where, policy: { labelSmoothing: 0.1 } }), /policy\.labelSmoothing/);
  assert.throws(() => resolveConfig({ method: 'd2po', ...where, rollout: { topP: 1.5 } }), /rollout\.topP/);
  // a round needs more gold than the pool holds
  assert.throws(() => resolveConfig({ method: 'd2po', ...where, budget: { gold: 1000, initial: 0, rounds: 2, steps: 4 }, init: { warmPolicy: false } }), /budget\.gold: a round needs 500 gold pairs but only 32 candidates/);
  assert.throws(() => resolveConfig({ method: 'opo-gold', ...where, rollout: { samplesPerPrompt: 4 } }), /rollout\.samplesPerPrompt/);
});

test('budget arithmetic: initial set counted in P, rounds and per-round sizes', () => {
  const c = resolveConfig({ method: 'd2po', ...where, budget: { gold: 320, initial: 128, rounds: 6, steps: 240 } });
  const p = planBudget(c);
  assert.equal(p.online, 192);
  assert.deepEqual(p.goldPerRound, [32, 32, 32, 32, 32, 32]);
  assert.deepEqual(p.roundEnds, [40, 80, 120, 160, 200, 240]);
  assert.equal(p.initial + p.goldPerRound.reduce((a, b) => a + b, 0), p.goldTotal);
  // uneven: remainders go to the first rounds, still summing to P
  const u = planBudget(resolveConfig({ method: 'd2po', ...where, budget: { gold: 30, initial: 10, rounds: 3, steps: 10 } }));
  assert.deepEqual(u.goldPerRound, [7, 7, 6]);
  assert.deepEqual(u.roundEnds, [3, 6, 10]);
  const dpo = planBudget(resolveConfig({ method: 'dpo', ...where, budget: { gold: 50 } }));
  assert.deepEqual([dpo.initial, dpo.online, dpo.rounds, dpo.steps], [50, 0, 0, 0]);
  const opo = planBudget(resolveConfig({ method: 'opo-gold', ...where, budget: { gold: 320, initial: 128, rounds: 6 } }));
  assert.deepEqual([opo.steps, opo.roundEnds.at(-1), opo.goldPerRound[0]], [6, 6, 32]);
  assert.deepEqual(split(5, 0), []);
});

const cand = (id: string, margins: number[], identical = false): Candidate => ({ id, margins, identical });

test('confidence selection takes the smallest |margin|, identical pairs last', () => {
  const pool = [cand('a', [3]), cand('b', [-0.1]), cand('c', [0]), cand('d', [0.5]), cand('e', [-2]), cand('same', [0], true)];
  assert.deepEqual(selectForGold(pool, 3, 'confidence', new Rng(1)).map((c) => c.id), ['c', 'b', 'd']);
  assert.deepEqual(selectForGold(pool, 6, 'confidence', new Rng(1)).map((c) => c.id), ['c', 'b', 'd', 'e', 'a', 'same']);
});

test('random selection is seeded and without repeats', () => {
  const pool = Array.from({ length: 20 }, (_, i) => cand(`p${i}`, [i]));
  const s1 = selectForGold(pool, 5, 'random', new Rng(7)).map((c) => c.id);
  const s2 = selectForGold(pool, 5, 'random', new Rng(7)).map((c) => c.id);
  const s3 = selectForGold(pool, 5, 'random', new Rng(8)).map((c) => c.id);
  assert.deepEqual(s1, s2);
  assert.notDeepEqual(s1, s3);
  assert.equal(new Set(s1).size, 5);
});

test('disagreement selection ranks sign splits first', () => {
  const pool = [cand('agree-small', [0.01, 0.02, 0.03]), cand('split1', [1, -1, 2]), cand('split-big', [-0.5, 0.5, 0.2, -0.3]), cand('agree', [1, 1, 1])];
  assert.deepEqual(selectForGold(pool, 3, 'disagreement', new Rng(0)).map((c) => c.id), ['split-big', 'split1', 'agree-small']);
});

test('silver labels: ties, thresholds and disagreement are skipped', () => {
  const rules = { marginThreshold: 0.5, skipDisagreement: true };
  assert.deepEqual(silverLabel(cand('x', [1, 2]), rules), { chosen: 'a' });
  assert.deepEqual(silverLabel(cand('x', [-1, -2]), rules), { chosen: 'b' });
  assert.equal(silverLabel(cand('x', [0]), rules).skip, 'tie');
  assert.equal(silverLabel(cand('x', [0.2]), rules).skip, 'margin');
  assert.equal(silverLabel(cand('x', [3, -1]), rules).skip, 'disagreement');
  assert.equal(silverLabel(cand('x', [3], true), rules).skip, 'identical');
  assert.deepEqual(silverLabel(cand('x', [3, -1]), { marginThreshold: 0, skipDisagreement: false }), { chosen: 'a' });
});

test("variance selection: the members' preference probabilities most apart first, then the smallest |margin|", () => {
  const c = (id: string, margins: number[]): Candidate => ({ id, margins, identical: false });
  const pool = [c('agree', [2, 2, 2]), c('split', [3, -3, 0]), c('near', [0.1, -0.1, 0]), c('split2', [3, -3, 0.5])];
  assert.equal(preferenceVariance(c('x', [1, 1])), 0);
  const p = 1 / (1 + Math.exp(-3));
  assert.ok(Math.abs(preferenceVariance(c('y', [3, -3])) - (p - 0.5) ** 2) < 1e-12);
  assert.deepEqual(selectForGold(pool, 3, 'variance', new Rng(0)).map((x) => x.id), ['split2', 'split', 'near']);
});

test('the least separated pair of k samples: smallest score gap, equal texts passed over while another pair exists', () => {
  assert.deepEqual(leastSeparated([0, 5, 0.5, 9]), [0, 2]);
  assert.deepEqual(leastSeparated([0, 5, 0.5, 9], (i, j) => i === 0 && j === 2), [1, 3]);
  assert.deepEqual(leastSeparated([1, 1], () => true), [0, 1], 'no other pair: the only one');
});

test('best and worst of k samples are distinct', () => {
  assert.deepEqual(bestAndWorst([1, 5, 0, 5]), [1, 2]);
  assert.deepEqual(bestAndWorst([2, 2, 2]), [0, 1]);
  assert.deepEqual(bestAndWorst([0, 1]), [1, 0]);
  assert.throws(() => bestAndWorst([1]));
});

test('run flags: a task defaults to its base model (custom tasks to policy-base); model names resolve to folders', async () => {
  const { configFromArgs } = await import('../src/cli/commands/run.js');
  const math = configFromArgs(['--task', 'math']).user;
  assert.match(math.model as string, /models\/math-base$/);
  const wc = configFromArgs(['--task', 'word-collector', '--discriminator-model', 'cd-small']).user;
  assert.match(wc.model as string, /models\/policy-base$/);
  assert.match((wc.discriminator as { model: string }).model, /models\/cd-small$/);
  assert.match(configFromArgs(['--task', './my-task.mjs']).user.model as string, /models\/policy-base$/, 'a custom task starts from policy-base');
  assert.throws(() => configFromArgs(['--task', 'word-colector']), /unknown task 'word-colector'/);
});
