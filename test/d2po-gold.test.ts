import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RunStore, type PairRecord } from '../src/store/run-store.js';
import { roundSelection, buyGold } from '../src/d2po/gold-round.js';
import type { GoldLabel, GoldPair, GoldSource } from '../src/gold/source.js';

function pair(i: number): PairRecord {
  return { id: `p${i}`, phase: 'online', step: 1, round: 1, prompt: 'q', a: `x${i}`, b: `y${i}`, promptIds: [], aIds: [], bIds: [], scoresA: null, scoresB: null };
}

/** Prefers the longer text; fails on call number `failOn` (a crash between asking and storing). */
class FakeSource implements GoldSource {
  readonly name = 'fake';
  asked = new Map<string, number>();
  calls = 0;
  constructor(readonly paid: boolean, private failOn = -1) {}
  async label(pairs: GoldPair[]): Promise<GoldLabel[]> {
    this.calls++;
    for (const p of pairs) this.asked.set(p.a, (this.asked.get(p.a) ?? 0) + 1);
    if (this.calls === this.failOn) throw new Error('crash');
    return pairs.map((p) => ({ preference: p.a === 'x3' ? 'tie' : 'a', scores: [1, 0], cost: { calls: 1 }, cached: false }));
  }
}

test('a round interrupted mid-purchase re-asks only the unanswered pairs', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'd2po-gold-'));
  const store = RunStore.open(dir, { create: true });
  const pairs = Array.from({ length: 10 }, (_, i) => pair(i));
  let selections = 0;
  const select = () => {
    selections++;
    return pairs;
  };
  roundSelection(store, 1, select, true);
  const crashing = new FakeSource(false, 2);
  await assert.rejects(buyGold(store, crashing, 1, 5, 4), /crash/);
  assert.equal(store.goldUsed(), 4, 'the first chunk was committed before the second was asked');
  // resume: same selection, select() not called again
  const again = roundSelection(store, 1, select, true);
  assert.equal(selections, 1);
  assert.deepEqual(again.map((p) => p.id), pairs.map((p) => p.id));
  const src = new FakeSource(false);
  const gold = await buyGold(store, src, 1, 5, 4);
  assert.equal(gold.length, 10);
  assert.equal(store.goldUsed(), 10);
  assert.deepEqual([...src.asked.keys()].sort(), ['x4', 'x5', 'x6', 'x7', 'x8', 'x9']);
  assert.equal(gold.find((g) => g.pair.id === 'p3')!.preference, 'tie');
  // the crashed chunk was asked once before and once after: attempts record it
  assert.deepEqual(store.ledger(1).map((e) => e.attempts), [1, 1, 1, 1, 2, 2, 2, 2, 1, 1]);
  // nothing left to buy: a further call asks nothing
  const idle = new FakeSource(false);
  await buyGold(store, idle, 1, 5);
  assert.equal(idle.calls, 0);
  store.close();
  rmSync(dir, { recursive: true });
});

test('paid sources are asked in small chunks', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'd2po-gold-'));
  const store = RunStore.open(dir, { create: true });
  roundSelection(store, 2, () => Array.from({ length: 20 }, (_, i) => pair(i)), true);
  const src = new FakeSource(true);
  await buyGold(store, src, 2, 1, 32);
  assert.equal(src.calls, 3);
  assert.equal(store.goldUsed(), 20);
  store.close();
  rmSync(dir, { recursive: true });
});
