import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { RunStore } from '../src/store/run-store.js';
import { readProgress, tinyModelDir, toyTaskFile } from './d2po-fixture.js';

const BIN = join(process.cwd(), 'bin', 'd2po.mjs');

test('a run killed with SIGKILL mid-round resumes and buys every gold label exactly once', async () => {
  const model = await tinyModelDir();
  const task = toyTaskFile();
  const root = mkdtempSync(join(tmpdir(), 'd2po-resume-'));
  const dir = join(root, 'run');
  // P = 20: 8 initial + rounds of 6 after steps 4 and 8; checkpoints after steps 0, 3, 6, 8
  const args = [
    BIN, 'run', '--method', 'd2po', '--task', task, '--model', model, '--out', dir, '--seed', '5',
    '--gold-budget', '20', '--initial-gold', '8', '--rounds', '2', '--steps', '8', '--batch-size', '4',
    '--checkpoint-every', '3', '--eval-every', '0', '--threads', '1',
    '--set', 'policy.batchSize=8', '--set', 'policy.goldEpochs=1', '--set', 'init.policyEpochs=1', '--set', 'init.discriminatorEpochs=1',
    '--set', 'discriminator.epochs=1', '--set', 'eval.prompts=2', '--set', 'eval.accuracyPairs=2', '--no-progress',
  ];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const exited = new Promise((res) => child.on('exit', res));
  // kill after round 1's gold (bought at step 4) is stored, before the run ends
  let before: ReturnType<typeof readProgress> = null;
  for (;;) {
    before = readProgress(dir);
    if (before && before.step >= 5) break;
    if (child.exitCode !== null) assert.fail(`the run ended before it could be killed:\n${stderr}`);
    await sleep(20);
  }
  child.kill('SIGKILL');
  await exited;
  const killedAt = readProgress(dir)!;
  assert.ok(killedAt.step < 8, 'killed before the end');
  const show = JSON.parse(execFileSync(process.execPath, [BIN, 'runs', 'show', dir, '--json'], { encoding: 'utf8' }));
  assert.equal(show.status, 'failed', 'a killed run reads as failed');

  execFileSync(process.execPath, [BIN, 'run', '--resume', dir, '--no-progress'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

  const s = RunStore.open(dir);
  const ledger = s.ledger();
  assert.equal(ledger.length, 20, 'exactly P labels');
  assert.equal(new Set(ledger.map((e) => e.pairId)).size, 20, 'none twice');
  assert.ok(ledger.every((e) => e.answeredAt !== null));
  // every label answered before the kill was reused as it was, not bought again
  for (const [id, at] of killedAt.answered) if (at !== null) assert.equal(ledger.find((e) => e.pairId === id)!.answeredAt, at, `label of ${id} reused`);
  assert.ok(killedAt.answered.size >= 14, 'round 1 had been bought before the kill');
  assert.ok(ledger.every((e) => e.attempts === 1), 'no pair asked twice');
  // the replayed steps sampled new pairs (second incarnation); round 1's gold pairs are the first run's
  assert.ok(s.pairsOfRound(2).some((p) => p.id.startsWith('1-')));
  assert.equal(s.getMeta('incarnation'), 1);
  assert.ok(s.ledger(1).every((e) => e.pairId.startsWith('0-')), "round 1's gold pairs are the killed run's");
  s.close();
  const done = JSON.parse(execFileSync(process.execPath, [BIN, 'runs', 'show', dir, '--json'], { encoding: 'utf8' }));
  assert.equal(done.status, 'done');
  assert.equal(done.method, 'd2po');
  assert.equal(done.step, 8);
  assert.equal(done.steps, 8);
  assert.equal(done.gold_used, 20);
  assert.equal(done.gold_budget, 20);
  assert.equal(done.gold_labels, 20);
  assert.equal(done.last_eval.step, 8);
  assert.ok(Number.isFinite(done.last_eval.metrics['eval/reward']));
  const list = JSON.parse(execFileSync(process.execPath, [BIN, 'runs', root, '--json'], { encoding: 'utf8' }));
  assert.deepEqual(list.map((r: { dir: string }) => r.dir), [dir]);
  rmSync(root, { recursive: true });
  rmSync(model, { recursive: true });
});

test('run flags and config fields are validated by name', () => {
  let err = '';
  try {
    execFileSync(process.execPath, [BIN, 'run', '--task', 'word-collector', '--model', 'x', '--set', 'budget.gold=ten', '--set', 'silver.margin=1'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    err = (e as { stderr: string; status: number }).stderr;
    assert.equal((e as { status: number }).status, 2);
  }
  assert.match(err, /budget\.gold: /);
  assert.match(err, /silver\.margin: unknown field/);
});
