// Gold that arrives late: with budget.maxSilverAhead the policy keeps taking silver steps while a
// round's answers are out, folds them in at the first step boundary after they are in, waits when
// it is that many steps ahead, and a run cut with a round outstanding resumes without buying
// twice. People's answers reach the ledger from another connection (d2po serve).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadTask } from '../src/tasks/registry.js';
import { RewardFunctionGold, PeopleGold, createGoldSource, type GoldPair } from '../src/gold/index.js';
import { runLoop } from '../src/d2po/loop.js';
import { buyGold } from '../src/d2po/gold-round.js';
import { RunStore } from '../src/store/run-store.js';
import type { ProgressEvent } from '../src/util/progress-events.js';
import { tinyModelDir, tinyRunConfig, toyTaskFile } from './d2po-fixture.js';

const model = await tinyModelDir();
const taskFile = toyTaskFile();
const task = await loadTask(taskFile);

/** Task gold whose online answers wait for `open()` (the initial set is answered at once). */
class GatedGold extends RewardFunctionGold {
  asked = 0;
  private release!: () => void;
  private readonly gate = new Promise<void>((r) => (this.release = r));
  open(): void {
    this.release();
  }
  override async label(pairs: GoldPair[]) {
    this.asked += pairs.length;
    if (this.asked > 8) await this.gate;
    return super.label(pairs);
  }
}

const tmp = (tag: string) => mkdtempSync(join(tmpdir(), `d2po-late-${tag}-`));
// 8 initial + 2 rounds of 6; rounds requested at steps 2 and 4 of 4
const config = (dir: string, maxSilverAhead: number) => tinyRunConfig('d2po', dir, model, taskFile, { budget: { gold: 20, initial: 8, rounds: 2, steps: 4, maxSilverAhead }, autocast: false });

function folds(dir: string): { step: number; ahead: number; waited: number }[] {
  const s = RunStore.open(dir, { readonly: true });
  try {
    const ahead = s.metrics('gold/steps_ahead');
    const waited = s.metrics('gold/waited');
    return ahead.map((a, i) => ({ step: a.step, ahead: a.value, waited: waited[i].value }));
  } finally {
    s.close();
  }
}

test('the policy steps on while a round is out; its gold is folded in at the first step boundary after it came', async () => {
  const dir = tmp('ahead');
  const gold = new GatedGold(task);
  await runLoop(config(dir, 2), { dir, task, gold, progress: false, onStep: (step) => void (step === 3 && gold.open()) });
  // round 1 (asked at step 2) came during step 3's boundary: folded at step 4, two steps on; round 2 at the end
  assert.deepEqual(folds(dir).map((f) => [f.step, f.ahead]), [[4, 2], [4, 0]]);
  const s = RunStore.open(dir, { readonly: true });
  try {
    assert.equal(s.goldUsed(), 20);
    const round1 = s.uses({ target: 'policy', source: 'gold' }).filter((u) => u.round === 1);
    assert.ok(round1.length > 0 && round1.every((u) => u.step === 4), 'round 1 trained the policy when it was folded in, at step 4');
  } finally {
    s.close();
  }
});

test('maxSilverAhead bounds how far the policy runs: it waits, and says so', async () => {
  const dir = tmp('wait');
  const gold = new GatedGold(task);
  const logs: string[] = [];
  // the answers come 200 ms after the loop says it waits: whatever the machine's speed, it stands still
  const onProgress = (e: ProgressEvent) => {
    if (e.phase !== 'log') return;
    logs.push(e.message);
    // the warm start's notes are log lines too
    if (e.message.startsWith('waiting for gold')) setTimeout(() => gold.open(), 200);
  };
  await runLoop(config(dir, 1), { dir, task, gold, onProgress });
  const [first] = folds(dir);
  assert.equal(first.step, 3, 'one step ahead at most: round 1 folded at step 3');
  assert.ok(first.waited >= 0.15, `the loop stood still for its gold (${first.waited} s)`);
  assert.ok(logs.some((m) => /waiting for gold round 1: \d+ of 6 answers to come/.test(m)), logs.join('\n'));
});

test('a run cut with a round outstanding resumes: the selection is kept, nothing is bought twice, P labels at the end', async () => {
  const dir = tmp('cut');
  const gold = new GatedGold(task);
  await assert.rejects(
    runLoop(config(dir, 2), { dir, task, gold, progress: false, onStep: (step) => {
      if (step === 3) throw new Error('cut');
    } }),
    /cut/,
  );
  const before = RunStore.open(dir, { readonly: true });
  const asked = before.ledger(1).map((e) => e.pairId);
  assert.equal(before.ledger(1).filter((e) => e.answeredAt === null).length, 6, 'round 1 was asked and not answered');
  before.close();
  const again = new GatedGold(task);
  again.open();
  await runLoop(null, { dir, task, gold: again, resume: true, progress: false });
  const s = RunStore.open(dir, { readonly: true });
  try {
    assert.deepEqual(s.ledger(1).map((e) => e.pairId), asked, 'the same selection');
    assert.equal(s.goldUsed(), 20);
    assert.equal(again.asked, 12, 'the resumed run asked for rounds 1 and 2 once each');
  } finally {
    s.close();
  }
});

test("gold type 'people': the loop reads answers another connection commits to the ledger", async () => {
  const dir = tmp('people');
  const s = RunStore.open(dir, { create: true });
  const pair = (i: number) => ({ id: `p${i}`, phase: 'online' as const, step: 1, round: 1, prompt: 'x', a: 'a', b: 'b', promptIds: [1], aIds: [2], bIds: [3], scoresA: null, scoresB: null });
  s.addPairs([pair(0), pair(1)]);
  s.requestGold(['p0', 'p1'], 1);
  const people = createGoldSource({ type: 'people', pollMs: 20 });
  assert.ok(people instanceof PeopleGold);
  await assert.rejects(people.label([{ prompt: 'x', a: 'a', b: 'b' }]), /d2po serve/);
  const other = RunStore.open(dir);
  setTimeout(() => other.commitGold([{ pairId: 'p0', preference: 'a', cost: { calls: 0 }, cached: false }], 1), 50);
  setTimeout(() => other.commitGold([{ pairId: 'p1', preference: 'tie', cost: { calls: 0 }, cached: false }], 1), 120);
  const t0 = performance.now();
  const got = await buyGold(s, people, 1, 1);
  assert.ok(performance.now() - t0 >= 100, 'it waited for the second answer');
  assert.deepEqual(got.map((g) => [g.pair.id, g.preference]), [['p0', 'a'], ['p1', 'tie']]);
  other.close();
  s.close();
});
