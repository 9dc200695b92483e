// People's answers beside the run's own writes. A pair people skip is withdrawn from the ledger:
// it costs nothing against P, and the run asks for the next pair by its own selection rule in its
// place (the initial set's next pair, a round's next candidate, OPO-gold's fresh sample), so a
// run with skips still ends with P labels. Labels reused from the warm-start cache do not collide
// with people answering the same requests.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadTask } from '../src/tasks/registry.js';
import { RewardFunctionGold, createGoldSource } from '../src/gold/index.js';
import { runLoop } from '../src/d2po/loop.js';
import { isOpen, RunStore, type PairRecord } from '../src/store/run-store.js';
import { WarmCache } from '../src/d2po/warm-cache.js';
import { LabelQueue, QueueConflict } from '../src/serve/label-queue.js';
import type { Method } from '../src/d2po/config.js';
import { tinyModelDir, tinyRunConfig, toyTaskFile } from './d2po-fixture.js';

const model = await tinyModelDir();
const taskFile = toyTaskFile();
const task = await loadTask(taskFile);
const tmp = (tag: string) => mkdtempSync(join(tmpdir(), `d2po-withdrawn-${tag}-`));

function storeWith(n: number): RunStore {
  const s = RunStore.open(tmp('queue'), { create: true });
  const pair = (i: number): PairRecord => ({ id: `p${i}`, phase: 'online', step: 1, round: 1, prompt: `x${i}`, a: 'a', b: 'b', promptIds: [1], aIds: [2], bIds: [3], scoresA: null, scoresB: null });
  s.addPairs(Array.from({ length: n }, (_, i) => pair(i)));
  s.requestGold(
    Array.from({ length: n }, (_, i) => `p${i}`),
    1,
  );
  return s;
}

const pairOf = (s: RunStore, queryId: string) => s.db.prepare('SELECT pair_id FROM human_labels WHERE id = ?').pluck().get(queryId) as string;

test('a skip withdraws a pair nobody answered: not offered again, an answer to it is refused, it is owed a replacement', () => {
  const s = storeWith(3);
  const q = new LabelQueue(s);
  const ann = q.next('ann')!;
  const bob = q.next('bob')!;
  assert.equal(pairOf(s, ann.id), 'p0');
  assert.equal(pairOf(s, bob.id), 'p1');
  q.answer('ann', ann.id, 'skip');
  const e = s.ledger(1)[0];
  assert.ok(e.withdrawnAt !== null && e.answeredAt === null, 'p0 withdrawn, unanswered');
  assert.deepEqual(s.unreplaced(1), ['p0']);
  assert.equal(q.open(), 2);
  assert.equal(q.stats().withdrawn, 1);
  assert.equal(s.goldUsed(), 0, 'a withdrawn request costs nothing');
  assert.equal(pairOf(s, q.next('ann')!.id), 'p2', 'p0 is not offered again');
  assert.equal(q.next('cat'), null, 'p1 and p2 are held; p0 is gone');
  // a replacement clears the debt
  s.addPairs([{ ...s.getPair('p0')!, id: 'p3' }]);
  s.requestGold(['p3'], 1, ['p0']);
  assert.deepEqual(s.unreplaced(1), []);
  assert.equal(s.ledger(1)[3].replaces, 'p0');
  s.close();
});

test('an answer to a pair withdrawn meanwhile is a conflict (409), and nothing is stored', () => {
  const s = storeWith(1);
  const q = new LabelQueue(s, { overlap: 2 });
  const ann = q.next('ann')!;
  const bob = q.next('bob')!;
  q.answer('ann', ann.id, 'skip');
  assert.throws(() => q.answer('bob', bob.id, 'a'), (e: unknown) => e instanceof QueueConflict && /withdrawn/.test(e.message));
  assert.equal(s.goldUsed(), 0);
  s.close();
});

test('withdrawAfterSkips 2: one skip leaves the pair offered; a second withdraws it; a pair with an answer is never withdrawn', () => {
  const s = storeWith(2);
  const q = new LabelQueue(s, { withdrawAfterSkips: 2, overlap: 2 });
  const a0 = q.next('ann')!;
  q.answer('ann', a0.id, 'skip');
  assert.equal(s.ledger(1)[0].withdrawnAt, null);
  const b0 = q.next('bob')!;
  assert.equal(pairOf(s, b0.id), 'p0', 'offered again after one skip');
  q.answer('bob', b0.id, 'skip');
  assert.ok(s.ledger(1)[0].withdrawnAt !== null, 'withdrawn after two');
  // p1: one answer, then two skips from others: it still needs a second answer, not a replacement
  const a1 = q.next('ann')!;
  assert.equal(pairOf(s, a1.id), 'p1');
  q.answer('ann', a1.id, 'a');
  for (const who of ['bob', 'cat']) q.answer(who, q.next(who)!.id, 'skip');
  assert.equal(s.ledger(1)[1].withdrawnAt, null);
  assert.throws(() => new LabelQueue(s, { withdrawAfterSkips: 0 }), /withdrawAfterSkips/);
  s.close();
});

/**
 * People labelling in-process: answers every open request from the task's gold, except that the
 * first pair it sees of each round is skipped once (when `skipped` is given). Returns a stop function.
 */
function annotate(dir: string, skipped?: Map<number, string>): () => void {
  const gold = new RewardFunctionGold(task);
  let store: RunStore | null = null;
  let busy = false;
  const timer = setInterval(async () => {
    if (busy) return;
    busy = true;
    try {
      store ??= RunStore.open(dir);
      const q = new LabelQueue(store);
      for (let query = q.next('ann'); query; query = q.next('ann')) {
        const pairId = pairOf(store, query.id);
        const round = store.ledger().find((e) => e.pairId === pairId)!.round;
        if (skipped && !skipped.has(round)) {
          skipped.set(round, pairId);
          q.answer('ann', query.id, 'skip');
          continue;
        }
        const [l] = await gold.label([{ prompt: query.prompt, a: query.a, b: query.b }]);
        q.answer('ann', query.id, l.preference);
      }
    } catch {
      // the run's store is not there yet
      store?.close();
      store = null;
    } finally {
      busy = false;
    }
  }, 5);
  return () => {
    clearInterval(timer);
    store?.close();
  };
}

async function peopleRun(method: Method, tag: string) {
  const dir = tmp(tag);
  const skipped = new Map<number, string>();
  const stop = annotate(dir, skipped);
  try {
    const c = tinyRunConfig(method, dir, model, taskFile, { gold: { type: 'people', pollMs: 10 }, autocast: false });
    await runLoop(c, { dir, task, gold: createGoldSource({ type: 'people', pollMs: 10 }), progress: false });
    return { dir, skipped, store: RunStore.open(dir, { readonly: true }) };
  } finally {
    stop();
  }
}

const absMargin = (p: PairRecord) => Math.abs(p.scoresA!.reduce((t, x, m) => t + x - p.scoresB![m], 0) / p.scoresA!.length);

test('D2PO with people who skip: each withdrawn pair is replaced in its round by the next by the selection rule, and the run ends with P labels', async () => {
  const { skipped, store: s } = await peopleRun('d2po', 'd2po');
  try {
    assert.deepEqual([...skipped.keys()].sort(), [0, 1, 2], 'one skip in the initial set and in each round');
    assert.equal(s.goldUsed(), 20, 'P labels, none for a withdrawn pair');
    for (const [round, pairId] of skipped) {
      const ledger = s.ledger(round);
      const withdrawn = ledger.filter((e) => e.withdrawnAt !== null);
      assert.deepEqual(
        withdrawn.map((e) => e.pairId),
        [pairId],
      );
      const repl = ledger.filter((e) => e.replaces !== null);
      assert.deepEqual(
        repl.map((e) => e.replaces),
        [pairId],
        `round ${round}: one replacement, for the skipped pair`,
      );
      assert.ok(repl[0].answeredAt !== null, 'the replacement was answered');
      if (round === 0) {
        assert.match(repl[0].pairId, /-init-8$/, 'the initial set takes the next pair of its stream');
        continue;
      }
      // the global-scope 'confidence' rule sends the smallest |margin| to gold: the replacement is
      // the round's least confident pair that had not been chosen
      const chosen = new Set(ledger.map((e) => e.pairId));
      const pool = s.pairsOfRound(round).filter((p) => p.a !== p.b);
      const replacement = pool.find((p) => p.id === repl[0].pairId)!;
      const firstChoice = ledger.filter((e) => e.replaces === null).map((e) => pool.find((p) => p.id === e.pairId)!);
      assert.ok(firstChoice.every((p) => absMargin(p) <= absMargin(replacement)), `round ${round}: the replacement ranks after the first choice`);
      assert.ok(
        pool.filter((p) => !chosen.has(p.id)).every((p) => absMargin(p) >= absMargin(replacement)),
        `round ${round}: and before every candidate left out`,
      );
    }
    assert.equal(s.getMeta('status'), 'done');
  } finally {
    s.close();
  }
});

test('OPO with gold and people who skip: a skipped pair is replaced by a fresh sample in the same round', async () => {
  const { skipped, store: s } = await peopleRun('opo-gold', 'opo');
  try {
    assert.equal(s.goldUsed(), 20);
    for (const [round, pairId] of skipped) {
      if (round === 0) continue;
      const repl = s.ledger(round).filter((e) => e.replaces !== null);
      assert.deepEqual(
        repl.map((e) => e.replaces),
        [pairId],
      );
      const p = s.getPair(repl[0].pairId)!;
      assert.equal(p.round, round);
      assert.match(p.id, /-s\d+x1-0$/, 'a fresh sample, drawn for the replacement');
    }
  } finally {
    s.close();
  }
});

test('a run.db written before requests could be withdrawn gains the columns when opened for writing', () => {
  const s = storeWith(1);
  const dir = s.dir;
  s.db.exec('ALTER TABLE gold_ledger DROP COLUMN replaces; ALTER TABLE gold_ledger DROP COLUMN withdrawn_at');
  s.close();
  const old = RunStore.open(dir, { readonly: true });
  assert.equal(old.ledger(1)[0].withdrawnAt, null, 'read-only: the old ledger reads as never withdrawn');
  old.close();
  const again = RunStore.open(dir);
  assert.ok(again.withdrawGold('p0'));
  assert.deepEqual(again.unreplaced(1), ['p0']);
  again.close();
});

test('labels reused from the warm-start cache and people answering the same requests do not collide', async () => {
  const cache = tmp('cache');
  const people = () => createGoldSource({ type: 'people', pollMs: 10 });
  const config = (dir: string) => tinyRunConfig('opo-gold', dir, model, taskFile, { gold: { type: 'people', pollMs: 10 }, autocast: false });
  const first = tmp('first');
  let stop = annotate(first);
  try {
    await runLoop(config(first), { dir: first, task, gold: people(), warmCache: cache, progress: false });
  } finally {
    stop();
  }
  // the second run finds every initial label in the cache; while it reads them, a person answers
  // its first open request from another connection (the server's), which must wait for the reuse
  const second = tmp('second');
  const read = WarmCache.prototype.readJsonSync;
  let raced = '';
  WarmCache.prototype.readJsonSync = function <T>(this: WarmCache, kind: string, key: string, file: string): T {
    if (kind === 'initial-labels' && raced === '') {
      const server = RunStore.open(second);
      server.db.pragma('busy_timeout = 0');
      try {
        const open = server.ledger(0).find(isOpen)!;
        server.commitGold([{ pairId: open.pairId, preference: 'a', cost: { calls: 1 } }], 0);
        raced = 'answered';
      } catch (e) {
        raced = (e as { code?: string }).code ?? String(e);
      } finally {
        server.close();
      }
    }
    return read.call(this, kind, key, file) as T;
  };
  stop = annotate(second);
  try {
    await runLoop(config(second), { dir: second, task, gold: people(), warmCache: cache, progress: false });
  } finally {
    WarmCache.prototype.readJsonSync = read;
    stop();
  }
  assert.equal(raced, 'SQLITE_BUSY', 'the answer waited for the reuse to commit');
  const s = RunStore.open(second, { readonly: true });
  try {
    assert.equal(s.goldUsed('initial'), 8);
    assert.equal(s.metrics('warm/reused_labels')[0].value, 8, 'every initial label came from the cache');
    assert.equal(s.goldUsed(), 20);
  } finally {
    s.close();
  }
});
