// The human-label queue without HTTP: order shown and mapped back, skips, leases, overlap and
// its conflict rules, refused answers, and waiting for a round.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { RunStore } from '../src/store/run-store.js';
import { LabelQueue, QueueConflict, type Choice } from '../src/serve/label-queue.js';
import { openRequestsRun } from './serve-fixture.js';

function setup(n: number, opts: ConstructorParameters<typeof LabelQueue>[1] = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'd2po-queue-'));
  const pairs = Array.from({ length: n }, (_, i) => ({ prompt: `prompt ${i}`, a: `A${i}`, b: `B${i}` }));
  openRequestsRun(dir, pairs);
  const store = RunStore.open(dir);
  let clock = 1_000_000;
  const queue = new LabelQueue(store, { now: () => clock, ...opts });
  return {
    store,
    queue,
    tick: (ms: number) => (clock += ms),
    done: () => {
      store.close();
      rmSync(dir, { recursive: true });
    },
  };
}

/** The pair id behind a shown query, and whether it was shown swapped. */
function shown(q: { prompt: string; a: string }) {
  const i = q.prompt.split(' ')[1];
  return { pairId: `p${i}`, swapped: q.a === `B${i}` };
}

test('the order shown is random per query and the answer is mapped back to the pair', () => {
  const { store, queue, done } = setup(40);
  let swaps = 0;
  for (let i = 0; i < 40; i++) {
    const q = queue.next('alice')!;
    const { pairId, swapped } = shown(q);
    swaps += swapped ? 1 : 0;
    // alice always prefers the response whose text starts with A, whichever side it is on
    const choice: Choice = q.a.startsWith('A') ? 'a' : 'b';
    assert.deepEqual(queue.answer('alice', q.id, choice), { committed: true });
    assert.equal(store.goldAnswer(pairId)?.preference, 'a');
    const row = store.db.prepare('SELECT swapped, choice, annotator FROM human_labels WHERE id = ?').get(q.id);
    assert.deepEqual(row, { swapped: swapped ? 1 : 0, choice: 'a', annotator: 'alice' });
  }
  assert.ok(swaps > 5 && swaps < 35, `swapped ${swaps} of 40`);
  assert.equal(queue.next('alice'), null);
  assert.equal(store.goldUsed(), 40);
  done();
});

test('withdrawAfterSkips 2: a skip costs nothing and the pair comes back, to the skipper after every other pair', () => {
  const { store, queue, done } = setup(2, { withdrawAfterSkips: 2 });
  const q1 = queue.next('alice')!;
  assert.equal(shown(q1).pairId, 'p0');
  assert.deepEqual(queue.answer('alice', q1.id, 'skip'), { committed: false });
  assert.equal(store.goldUsed(), 0);
  assert.equal(store.ledger(0)[0].answeredAt, null);
  assert.equal(shown(queue.next('bob')!).pairId, 'p0', 'another annotator gets the skipped pair first');
  const q2 = queue.next('alice')!;
  assert.equal(shown(q2).pairId, 'p1', 'the skipper gets the other pair first');
  queue.answer('alice', q2.id, 'tie');
  const q3 = queue.next('alice');
  assert.equal(q3, null, 'p0 is leased to bob');
  assert.deepEqual(queue.stats().by_annotator, { alice: { labels: 1, skips: 1 } });
  assert.equal(store.goldAnswer('p1')?.preference, 'tie');
  done();
});

test('a lease runs out and the pair is offered again; the late answer is still taken while needed', () => {
  const { store, queue, tick, done } = setup(3, { leaseMs: 1000, maxHeld: 2 });
  const a1 = queue.next('alice')!;
  const b1 = queue.next('bob')!;
  assert.notEqual(shown(a1).pairId, shown(b1).pairId);
  tick(1001);
  const c1 = queue.next('carol')!;
  assert.equal(shown(c1).pairId, shown(a1).pairId, 'the oldest request, its lease over, goes to carol');
  assert.deepEqual(queue.answer('alice', a1.id, 'a'), { committed: true }, 'alice answers late: the pair still needed it');
  assert.throws(() => queue.answer('carol', c1.id, 'b'), QueueConflict, 'carol answers a labelled pair');
  assert.equal(store.goldUsed(), 1);
  done();
});

test('an annotator holds at most maxHeld showings: a third (a reloaded page) releases the oldest', () => {
  const { queue, done } = setup(4, { maxHeld: 2 });
  const d = [queue.next('dave')!, queue.next('dave')!, queue.next('dave')!].map((q) => shown(q).pairId);
  assert.deepEqual(d, ['p0', 'p1', 'p2']);
  assert.equal(queue.stats().leased, 2);
  assert.equal(shown(queue.next('erin')!).pairId, 'p0', 'the released one is free again');
  done();
});

test('refused answers: unknown id, another annotator\'s id, answered twice; nothing stored', () => {
  const { store, queue, done } = setup(1);
  const q = queue.next('alice')!;
  assert.throws(() => queue.answer('alice', 'no-such-id', 'a'), /unknown query id/);
  assert.throws(() => queue.answer('bob', q.id, 'a'), /unknown query id/);
  assert.equal(store.db.prepare('SELECT COUNT(*) FROM human_labels WHERE answered_at IS NOT NULL').pluck().get(), 0);
  queue.answer('alice', q.id, 'b');
  assert.throws(() => queue.answer('alice', q.id, 'b'), /already answered/);
  assert.equal(store.goldUsed(), 1);
  assert.equal(store.countLabels('gold'), 1);
  done();
});

/** Pair p0 answered by the given annotators in turn, each choice in the pair's own terms. */
function answerP0(queue: LabelQueue, choices: [string, Choice][]): boolean[] {
  return choices.map(([who, c]) => {
    const q = queue.next(who)!;
    assert.equal(shown(q).pairId, 'p0');
    const asShown = c === 'skip' || c === 'tie' || !shown(q).swapped ? c : c === 'a' ? 'b' : 'a';
    return queue.answer(who, q.id, asShown).committed;
  });
}

test('overlap 2: two annotators per pair, agreement measured; a conflict is a tie, or goes to a third', () => {
  const agree = setup(1, { overlap: 2 });
  assert.deepEqual(answerP0(agree.queue, [['alice', 'a'], ['bob', 'a']]), [false, true]);
  assert.equal(agree.queue.next('carol'), null);
  assert.equal(agree.store.goldAnswer('p0')?.preference, 'a');
  assert.deepEqual(agree.queue.stats().agreement, { pairs: 1, agreed: 1, rate: 1 });
  assert.deepEqual(agree.store.goldAnswer('p0')?.raw, { annotators: ['alice', 'bob'], choices: ['a', 'a'], queries: (agree.store.goldAnswer('p0')?.raw as { queries: string[] }).queries });
  agree.done();

  const tie = setup(1, { overlap: 2, conflict: 'tie' });
  assert.equal(tie.queue.next('alice') !== null && tie.queue.next('alice'), null, 'one showing per annotator');
  tie.queue.releaseLeases();
  assert.deepEqual(answerP0(tie.queue, [['alice', 'a'], ['bob', 'b']]), [false, true]);
  assert.equal(tie.store.goldAnswer('p0')?.preference, 'tie');
  assert.deepEqual(tie.queue.stats().agreement, { pairs: 1, agreed: 0, rate: 0 });
  tie.done();

  const third = setup(1, { overlap: 2, conflict: 'third' });
  assert.deepEqual(answerP0(third.queue, [['alice', 'a'], ['bob', 'b'], ['carol', 'b']]), [false, false, true]);
  assert.equal(third.store.goldAnswer('p0')?.preference, 'b');
  assert.equal(third.store.goldAnswer('p0')?.cost?.calls, 3);
  third.done();
});


test('an answer while the run writes to the same run.db is stored: write transactions take the lock when they begin', () => {
  const dir = mkdtempSync(join(tmpdir(), 'd2po-queue-race-'));
  openRequestsRun(dir, [{ prompt: 'prompt 0', a: 'A0', b: 'B0' }]);
  const store = RunStore.open(dir);
  // the run's connection, which must not wait: it writes between the answer's reads and its writes
  const run = new Database(join(dir, 'run.db'));
  run.pragma('busy_timeout = 0');
  let armed = false;
  let raced = '';
  const queue = new LabelQueue(store, {
    now: () => {
      if (armed) {
        armed = false;
        try {
          run.prepare("INSERT INTO meta (key, value) VALUES ('raced', '1')").run();
          raced = 'written';
        } catch (e) {
          raced = (e as { code?: string }).code ?? String(e);
        }
      }
      return Date.now();
    },
  });
  const q = queue.next('alice')!;
  armed = true;
  // a deferred transaction read first, let the run commit, then failed to write: "database is locked"
  assert.deepEqual(queue.answer('alice', q.id, 'a'), { committed: true });
  assert.equal(raced, 'SQLITE_BUSY', 'the run waited for the answer to commit');
  assert.equal(store.goldUsed(), 1);
  run.close();
  store.close();
  rmSync(dir, { recursive: true });
});
