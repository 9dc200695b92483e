import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RunStore, type PairRecord } from '../src/store/run-store.js';
import { summarizeRun, findRuns } from '../src/store/run-summary.js';

function pair(id: string, step: number, round: number, phase: 'initial' | 'online' = 'online'): PairRecord {
  return { id, phase, step, round, prompt: 'p', a: `a${id}`, b: `b${id}`, promptIds: [1], aIds: [2, 3], bIds: [4], scoresA: [0.5], scoresB: [0.1] };
}

function tmp(): string {
  return mkdtempSync(join(tmpdir(), 'd2po-store-'));
}

test('pairs round-trip with ids and scores', () => {
  const dir = tmp();
  const s = RunStore.open(dir, { create: true });
  s.addPairs([pair('x', 3, 1)], [{ pairId: 'x', preference: 'a', margin: 0.4 }]);
  const p = s.getPair('x')!;
  assert.deepEqual(p.aIds, [2, 3]);
  assert.deepEqual(p.scoresA, [0.5]);
  assert.equal(s.countLabels('silver'), 1);
  assert.deepEqual(s.labelsOf('x').map((l) => [l.source, l.preference, l.round, l.step]), [['silver', 'a', 1, 3]]);
  s.close();
  rmSync(dir, { recursive: true });
});

test('gold ledger: request, answer once, never twice', () => {
  const dir = tmp();
  const s = RunStore.open(dir, { create: true });
  s.addPairs([pair('g1', 4, 1), pair('g2', 4, 1), pair('g3', 4, 1)]);
  s.requestGold(['g1', 'g2', 'g3'], 1);
  assert.throws(() => s.requestGold(['g2'], 1), /already requested/);
  assert.equal(s.goldUsed(), 0);
  s.markAsked(['g1', 'g2']);
  s.commitGold([{ pairId: 'g1', preference: 'b', scores: [1, 2], cost: { calls: 1, usd: 0.01 } }, { pairId: 'g2', preference: 'tie' }], 4);
  assert.equal(s.goldUsed(), 2);
  assert.throws(() => s.commitGold([{ pairId: 'g1', preference: 'a' }], 4), /already stored/);
  assert.throws(() => s.commitGold([{ pairId: 'nope', preference: 'a' }], 4), /never requested/);
  // a failed transaction stores nothing: g3 answered together with an already answered g1
  assert.throws(() => s.commitGold([{ pairId: 'g3', preference: 'a' }, { pairId: 'g1', preference: 'a' }], 4));
  assert.equal(s.goldUsed(), 2);
  const open = s.ledger(1).filter((e) => e.answeredAt === null).map((e) => e.pairId);
  assert.deepEqual(open, ['g3']);
  const l = s.ledger(1);
  assert.deepEqual(l.map((e) => e.attempts), [1, 1, 0]);
  assert.equal(l[0].costUsd, 0.01);
  const gold = s.goldLabels();
  assert.deepEqual(gold.map((g) => [g.pair.id, g.preference, g.round]), [['g1', 'b', 1], ['g2', 'tie', 1]]);
  assert.equal(s.labelsOf('g2')[0].skip, 'tie');
  s.close();
  rmSync(dir, { recursive: true });
});

test('gold survives a reopen (durable) and truncateAfter keeps gold pairs', () => {
  const dir = tmp();
  let s = RunStore.open(dir, { create: true });
  s.addPairs([pair('i0', 0, 0, 'initial')]);
  s.requestGold(['i0'], 0);
  s.commitGold([{ pairId: 'i0', preference: 'a' }], 0);
  s.addCheckpoint({ step: 0, roundsDone: 0, goldUsed: 1, path: 'ckpt/0', state: { x: 1 } });
  s.addPairs([pair('s1', 1, 1), pair('s2', 2, 1), pair('s3', 2, 1)], [
    { pairId: 's1', preference: 'a', margin: 1 },
    { pairId: 's2', preference: 'b', margin: -1 },
  ]);
  s.requestGold(['s2'], 1);
  s.commitGold([{ pairId: 's2', preference: 'a' }], 2);
  s.recordUses([{ step: 2, round: 1, target: 'policy', pairId: 's2', chosen: 'a', source: 'gold', epochs: 4 }]);
  s.logMetrics(2, 2, { 'eval/reward': 1.5 });
  s.close();
  s = RunStore.open(dir);
  assert.equal(s.goldUsed(), 2);
  s.truncateAfter(0);
  assert.equal(s.getPair('s1'), undefined);
  assert.equal(s.getPair('s3'), undefined);
  assert.ok(s.getPair('s2'), 'a gold pair is kept for the replay');
  assert.deepEqual(s.labelsOf('s2').map((l) => l.source), ['gold']);
  assert.equal(s.uses().length, 0);
  assert.equal(s.metrics().length, 0);
  assert.equal(s.goldUsed(), 2);
  assert.deepEqual(s.checkpoints().map((c) => [c.step, c.state]), [[0, { x: 1 }]]);
  s.close();
  rmSync(dir, { recursive: true });
});

test('uses filter and run summary', () => {
  const root = tmp();
  const dir = join(root, 'run-a');
  const s = RunStore.open(dir, { create: true });
  s.setMeta('config', { method: 'd2po', task: 'word-collector', budget: { gold: 10 } });
  s.setMeta('status', 'done');
  s.setMeta('step', 5);
  s.setMeta('steps', 5);
  s.addPairs([pair('a', 1, 1)], [{ pairId: 'a', preference: 'a', margin: 1 }]);
  s.recordUses([
    { step: 1, round: 1, target: 'policy', pairId: 'a', chosen: 'a', source: 'silver', epochs: 1 },
    { step: 1, round: 1, target: 'discriminator', pairId: 'a', chosen: 'a', source: 'gold', epochs: 3 },
  ]);
  assert.equal(s.uses({ target: 'discriminator', source: 'silver' }).length, 0);
  assert.equal(s.uses({ source: 'silver' }).length, 1);
  s.logMetrics(0, 0, { 'eval/reward': 1 });
  s.logMetrics(5, 3, { 'eval/reward': 2, 'eval/kl': 0.5, 'train/loss': 0.1 });
  s.close();
  const sum = summarizeRun(dir);
  assert.equal(sum.status, 'done');
  assert.equal(sum.method, 'd2po');
  assert.equal(sum.gold_budget, 10);
  assert.equal(sum.silver_labels, 1);
  assert.deepEqual(sum.last_eval, { step: 5, gold_used: 3, metrics: { 'eval/reward': 2, 'eval/kl': 0.5 } });
  assert.deepEqual(findRuns(root), [dir]);
  rmSync(root, { recursive: true });
});

test('a running run whose process is gone reads as failed', () => {
  const dir = tmp();
  const s = RunStore.open(dir, { create: true });
  s.setMeta('config', { method: 'dpo', task: 't', budget: { gold: 1 } });
  s.setMeta('status', 'running');
  s.setMeta('pid', 2 ** 22 + 12345); // above pid_max's default: no such process
  s.close();
  const sum = summarizeRun(dir);
  assert.equal(sum.status, 'failed');
  assert.match(sum.reason!, /--resume/);
  rmSync(dir, { recursive: true });
});
