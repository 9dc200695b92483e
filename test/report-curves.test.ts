import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { byGoldUsed, fmtStat, goldTable, isOnline, labelVariants, labelsToReach, pearson, readRunCurve, sharedInitialGold, stat, type RunCurve } from '../src/report/curves.js';
import { resolveConfig } from '../src/d2po/presets.js';
import { RunStore } from '../src/store/run-store.js';

function curve(method: string, seed: number, evals: [number, number, number][], config: Record<string, unknown> = {}): RunCurve {
  return {
    dir: `/runs/${method}-${seed}`,
    method,
    label: method,
    config: { method, seed, out: `/runs/${method}-${seed}`, budget: { gold: 64, initial: 32, rounds: 2 }, ...config },
    status: 'done',
    step: 1,
    steps: 1,
    task: 'word-collector',
    seed,
    goldBudget: 64,
    goldInitial: 32,
    warmStart: null,
    command: null,
    lastPair: null,
    evals: evals.map(([step, goldUsed, r]) => ({ step, goldUsed, metrics: { 'eval/reward': r } })),
    series: () => [],
  };
}

test('stat: mean, sample sd and range', () => {
  const s = stat([1, 2, 3, 6]);
  assert.equal(s.mean, 3);
  assert.ok(Math.abs(s.sd - Math.sqrt(14 / 3)) < 1e-12); // squared deviations 4+1+0+9 over n-1
  assert.deepEqual([s.n, s.min, s.max], [4, 1, 6]);
  assert.equal(stat([5]).sd, 0);
  assert.ok(Number.isNaN(stat([]).mean));
});

test('pearson: against numpy.corrcoef, sign, and the cases with no answer', () => {
  // numpy.corrcoef([1, 2, 3, 6, 4], [2, 1, 4, 7, 3])[0, 1]
  assert.ok(Math.abs(pearson([1, 2, 3, 6, 4], [2, 1, 4, 7, 3]) - 0.8806955667454325) < 1e-12);
  assert.ok(Math.abs(pearson([1, 2, 3], [6, 4, 2]) + 1) < 1e-12);
  assert.ok(Number.isNaN(pearson([1, 2, 3], [5, 5, 5])));
  assert.ok(Number.isNaN(pearson([1], [2])));
  assert.throws(() => pearson([1, 2], [1]), /2 values against 1/);
});

test('byGoldUsed pools seeds per gold point, the last evaluation at a gold count standing for it', () => {
  const runs = [
    // d2po evaluates twice at 32 gold (silver steps between rounds): the later one counts
    curve('d2po', 0, [[0, 32, 1.0], [10, 32, 1.5], [20, 64, 2.0]]),
    curve('d2po', 1, [[0, 32, 0.5], [20, 64, 3.0]]),
    curve('opo-gold', 0, [[0, 32, 1.0], [2, 64, 2.5]]),
  ];
  const t = byGoldUsed(runs, 'eval/reward');
  assert.deepEqual([...t.keys()], ['d2po', 'opo-gold']);
  assert.equal(t.get('d2po')!.get(32)!.mean, 1.0); // (1.5 + 0.5) / 2
  assert.equal(t.get('d2po')!.get(64)!.mean, 2.5);
  assert.equal(t.get('opo-gold')!.get(64)!.n, 1);
  const md = goldTable(t);
  assert.equal(md.split('\n')[0], '| gold used | d2po | opo-gold |');
  assert.equal(md.split('\n')[3], `| 64 | ${fmtStat(t.get('d2po')!.get(64))} | 2.50 |`);
  assert.match(md.split('\n')[3], /2\.50 ± 0\.71/);
});

test('writeReport: reward table, per-seed finals, tie shares and time split from run curves; charts written', async () => {
  const { writeReport } = await import('../src/report/report.js');
  const { mkdtempSync, existsSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const rounds = (shares: number[]) => (name: string) =>
    name === 'round/tie_share' ? shares.map((value, i) => ({ step: i, goldUsed: 32 * (i + 1), value })) : name === 'time/sample' ? [{ step: 1, goldUsed: 32, value: 0.5 }] : [];
  const runs = [
    { ...curve('d2po', 0, [[0, 32, 1.0], [20, 64, 2.0]]), series: rounds([0.5, 0.7]) },
    { ...curve('d2po', 1, [[0, 32, 0.5], [20, 64, 3.0]]), series: rounds([0.3]) },
  ];
  runs[0].evals[1].metrics['eval/disc_acc'] = 0.6;
  const out = mkdtempSync(join(tmpdir(), 'd2po-report-'));
  const { markdown, files } = await writeReport(runs, out);
  assert.match(markdown, /\| d2po \| 2\.50 ± 0\.71 \| 0: 2\.00, 1: 3\.00 \|/);
  assert.match(markdown, /\| d2po \| 0\.50 ± 0\.20 \| - \|/); // tie shares 0.5, 0.7, 0.3
  assert.match(markdown, /\| d2po \| 0\.50 \(2\) \|/); // time/sample of two runs
  assert.match(markdown, /\| 20 \| 0\.60 \|/); // accuracy by step
  assert.equal(files.length, 2);
  for (const f of files) assert.ok(existsSync(f));
  // a run cut short shows in the curves, never in the final numbers, and the report says so
  const cut = { ...curve('d2po', 2, [[0, 32, 9.0]]), status: 'failed', step: 4, steps: 96 };
  const withCut = await writeReport([...runs, cut], out);
  assert.match(withCut.markdown, /\| d2po \| 2\.50 ± 0\.71 \| 0: 2\.00, 1: 3\.00 \|/);
  assert.match(withCut.markdown, /Not finished, in the curves only: d2po seed 2 \(failed at step 4 of 96\)\./);
});

test('labelVariants names runs of one method by the varying fields where they depart from its preset', () => {
  const disc = (pooling: string, model: string) => ({ discriminator: { pooling, model }, budget: { gold: 128 } });
  const runs = labelVariants([
    curve('d2po', 0, [], disc('last', '')), // the preset's pooling and backbone
    curve('d2po', 1, [], disc('last', '')),
    curve('d2po', 0, [], disc('sum', '')),
    curve('d2po', 0, [], disc('sum', '/m/models/cd-small')),
    curve('opo-gold', 0, [], { budget: { gold: 128 } }),
    curve('opo-gold', 1, [], { budget: { gold: 128 } }),
  ]);
  assert.deepEqual(
    runs.map((r) => r.label),
    ['d2po', 'd2po', 'd2po pooling=sum', 'd2po pooling=sum model=cd-small', 'opo-gold', 'opo-gold'],
  );
  // the same model folder reached by two paths (two checkouts of the project) is not a variant
  const moved = labelVariants([curve('d2po', 0, [], { model: '/a/models/math-base' }), curve('d2po', 1, [], { model: '/b/models/math-base' })]);
  assert.deepEqual(moved.map((r) => r.label), ['d2po', 'd2po']);
  // a run the caller named keeps its name and is left out of the comparison of the others
  const named = labelVariants([{ ...curve('d2po', 0, [], disc('sum', '')), label: 'sum RM' }, curve('d2po', 0, [], disc('last', ''))]);
  assert.deepEqual(named.map((r) => r.label), ['sum RM', 'd2po']);
  // a method without a preset (a custom one) shows every varying field; pooled per label
  const custom = labelVariants([curve('mine', 0, [[0, 1, 1]], { x: 1 }), curve('mine', 1, [[0, 1, 3]], { x: 2 })]);
  assert.deepEqual([...byGoldUsed(custom, 'eval/reward').keys()], ['mine x=1', 'mine x=2']);
});

test('readRunCurve: a run stored before a config field existed takes its default, so it is not a variant of a newer run', async () => {
  const root = await mkdtemp(join(tmpdir(), 'd2po-curves-'));
  const full = resolveConfig({ method: 'd2po', task: 'word-collector', model: '/m', out: root });
  const { bowLr: _lr, l2: _l2, ...oldDisc } = full.discriminator;
  const { taskTimeoutMs: _t, ...old } = full;
  for (const [name, config] of [['new', full], ['old', { ...old, discriminator: oldDisc }]] as const) {
    const store = RunStore.open(join(root, name), { create: true });
    store.setMeta('config', config);
    store.close();
  }
  const runs = labelVariants([readRunCurve(join(root, 'new')), readRunCurve(join(root, 'old'))]);
  assert.deepEqual(runs.map((r) => r.label), ['d2po', 'd2po']);
  rmSync(root, { recursive: true });
});

test('sharedInitialGold: the smallest initial set among online runs; offline runs do not count', () => {
  const offline = { budget: { gold: 64, initial: 'all', rounds: 0 } };
  const run = (method: string, goldInitial: number, config: Record<string, unknown> = {}) => ({ ...curve(method, 0, [], config), goldInitial });
  assert.equal(sharedInitialGold([run('d2po', 32), run('opo-gold', 16), run('dpo', 64, offline)]), 16);
  assert.deepEqual([run('d2po', 32), run('dpo', 64, offline)].map(isOnline), [true, false]);
  assert.equal(sharedInitialGold([run('dpo', 64, offline)]), 0);
});

test("labelsToReach: online gold to reach the same seed's OPO-gold final reward, and the ratio", () => {
  // initial 32; OPO-gold ends at 2.0 after 32 online labels
  const opo = [curve('opo-gold', 0, [[0, 32, 1], [1, 48, 1.5], [2, 64, 2]]), curve('opo-gold', 1, [[0, 32, 1], [2, 64, 3]]), curve('opo-gold', 2, [[0, 32, 1], [2, 64, 0.9]])];
  const d2po = [curve('d2po', 0, [[0, 32, 1], [8, 40, 2.1], [16, 64, 2.5]]), curve('d2po', 1, [[0, 32, 1], [16, 64, 2.9]]), curve('d2po', 2, [[0, 32, 1], [16, 64, 1.2]])];
  const offline = curve('dpo', 0, [[0, 64, 5]], { budget: { gold: 64, initial: 'all', rounds: 0 } });
  const r = labelsToReach([...opo, ...d2po, offline], 'opo-gold');
  assert.deepEqual(
    r.map((x) => [x.label, x.seed, x.needed, x.ratio]),
    [
      ['d2po', 0, 8, 4],
      ['d2po', 1, null, null],
      ['d2po', 2, 0, null], // OPO-gold ended below the warm start: met at once, no ratio
    ],
  );
});
