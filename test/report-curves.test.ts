import { test } from 'node:test';
import assert from 'node:assert/strict';
import { byGoldUsed, fmtStat, goldTable, stat, type RunCurve } from '../src/report/curves.js';

function curve(method: string, seed: number, evals: [number, number, number][]): RunCurve {
  return {
    dir: `/runs/${method}-${seed}`,
    method,
    task: 'word-collector',
    seed,
    goldBudget: 64,
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
