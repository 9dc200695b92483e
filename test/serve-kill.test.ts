// d2po serve killed with SIGKILL while a simulated crowd labels through it, then started again:
// every label acknowledged before the kill is in the ledger exactly once, the pairs that were
// out with annotators are offered again at once, and the run ends with each request answered once;
// SIGTERM stops it cleanly.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { RunStore } from '../src/store/run-store.js';
import { loadTask } from '../src/tasks/registry.js';
import { RewardFunctionGold } from '../src/gold/reward-function.js';
import { SimulatedCrowd, type CrowdLabel, type CrowdMember } from '../src/serve/simulated-crowd.js';
import { openRequestsRun, wordPairs } from './serve-fixture.js';

const PAIRS = 120;
const NAMES = ['k1', 'k2', 'k3', 'k4'];
/** one more annotator, who takes a pair before the kill and never answers it */
const HOLDER = 'k5';

/** Starts `d2po serve` on a free port; resolves with its annotators once it printed them all. */
async function startServe(dir: string, extra: string[] = []): Promise<{ child: ChildProcess; url: string; members: CrowdMember[]; exit: Promise<string>; stderr: () => string }> {
  const child = spawn(process.execPath, ['bin/d2po.mjs', 'serve', '--resume', dir, '--annotators', [...NAMES, HOLDER].join(','), '--port', '0', '--lease-ms', '600000', ...extra], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (c) => (stderr += c));
  // 'code 0', or the signal that ended it
  const exit = new Promise<string>((resolve) => child.on('exit', (code, signal) => resolve(signal ?? `code ${code}`)));
  const members: CrowdMember[] = [];
  let url = '';
  const lines = createInterface({ input: child.stdout! });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`serve printed no annotators in 30 s: ${stderr}`)), 30_000);
    exit.then((code) => reject(new Error(`serve exited (${code}) before it was ready: ${stderr}`)));
    lines.on('line', (line) => {
      const m = /^annotator (\S+) (\S+) (http:\/\/[^/]+)\/#token=\2$/.exec(line);
      if (!m) return;
      members.push({ name: m[1], token: m[2] });
      url = m[3];
      if (members.length === NAMES.length + 1) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
  return { child, url, members, exit, stderr: () => stderr };
}

test('SIGKILL and restart: acknowledged labels kept exactly once, unanswered queries offered again', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'd2po-serve-kill-'));
  openRequestsRun(dir, wordPairs(PAIRS));
  const gold = new RewardFunctionGold(await loadTask('word-collector'));
  const acked: CrowdLabel[] = [];
  try {
    const first = await startServe(dir);
    const held = await fetch(`${first.url}/api/next`, { headers: { Authorization: `Bearer ${first.members.find((m) => m.name === HOLDER)!.token}` } });
    assert.equal(held.status, 200);
    const heldPair = (await held.json()) as { prompt: string };
    const crowd1 = new SimulatedCrowd({ url: first.url, members: first.members.filter((m) => m.name !== HOLDER), gold, delayMs: 0, idleMs: 50, onLabel: (l) => acked.push(l) });
    const until = Date.now() + 60_000;
    while (acked.length < 30 && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
    first.child.kill('SIGKILL');
    await first.exit;
    const killedAt = Date.now();
    await crowd1.close();
    const beforeKill = acked.length;
    assert.ok(beforeKill >= 30, `${beforeKill} labels before the kill`);

    const store = RunStore.open(dir, { readonly: true });
    const row = store.db.prepare('SELECT pair_id, choice FROM human_labels WHERE id = ?');
    for (const l of acked) {
      const r = row.get(l.id) as { pair_id: string; choice: string } | undefined;
      assert.ok(r && r.choice !== 'skip' && r.choice !== null, `acknowledged label ${l.id} is stored`);
      assert.ok(store.goldAnswer(r.pair_id), `its pair ${r.pair_id} is answered in the ledger`);
    }
    const outstanding = store.db
      .prepare('SELECT DISTINCT h.pair_id FROM human_labels h JOIN gold_ledger g ON g.pair_id = h.pair_id WHERE h.answered_at IS NULL AND g.answered_at IS NULL')
      .pluck()
      .all() as string[];
    const heldId = store.db.prepare('SELECT id FROM pairs WHERE prompt = ?').pluck().get(heldPair.prompt);
    store.close();
    assert.ok(outstanding.includes(heldId as string), "the holder's pair was out at the kill");

    const second = await startServe(dir, ['--until-done']);
    const crowd2 = new SimulatedCrowd({ url: second.url, members: second.members, gold, delayMs: 0, idleMs: 50, onLabel: (l) => acked.push(l) });
    let timer: NodeJS.Timeout | undefined;
    const code = await Promise.race([second.exit, new Promise((r) => (timer = setTimeout(() => r('timeout'), 90_000)))]);
    clearTimeout(timer);
    await crowd2.close();
    if (code === 'timeout') second.child.kill('SIGKILL');
    assert.equal(code, 'code 0', `the restarted server labels every open request and stops (--until-done): ${second.stderr()}`);

    const after = RunStore.open(dir, { readonly: true });
    try {
      const ledger = after.ledger();
      assert.equal(ledger.length, PAIRS);
      assert.ok(ledger.every((e) => e.answeredAt !== null), 'every request answered');
      assert.equal(after.countLabels('gold'), PAIRS, 'one gold label per request');
      const perPair = after.db.prepare(`SELECT pair_id, COUNT(*) AS n FROM human_labels WHERE choice IN ('a','b','tie') GROUP BY pair_id HAVING n > 1`).all();
      assert.deepEqual(perPair, [], 'no pair answered twice');
      const ackedStored = after.db.prepare(`SELECT COUNT(*) FROM human_labels WHERE choice IN ('a','b','tie') AND id IN (${acked.map(() => '?').join(',')})`).pluck().get(...acked.map((l) => l.id));
      assert.equal(ackedStored, acked.length, 'every acknowledged label of both servers is stored');
      const reoffered = after.db.prepare(`SELECT COUNT(*) FROM human_labels WHERE pair_id = ? AND shown_at >= ? AND choice IN ('a','b','tie')`).pluck();
      for (const p of outstanding) assert.equal(reoffered.get(p, killedAt), 1, `${p}, out with an annotator at the kill, was answered after the restart`);
      const truth = await gold.label(after.goldLabels().map((g) => ({ prompt: g.pair.prompt, a: g.pair.a, b: g.pair.b })));
      assert.deepEqual(after.goldLabels().map((g) => g.preference), truth.map((t) => t.preference));
    } finally {
      after.close();
    }

    // SIGTERM: a clean stop, the store closed (its write-ahead log folded in and removed)
    const third = await startServe(dir);
    third.child.kill('SIGTERM');
    assert.equal(await third.exit, 'code 0', third.stderr());
    assert.equal(existsSync(join(dir, 'run.db-wal')), false);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
