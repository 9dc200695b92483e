// d2po serve with the flags of a run: the run trains with people (a simulated crowd over HTTP)
// as its gold, initial set included, and serving ends when the run does. Killed with SIGKILL in
// the middle, its training process stops too; d2po serve --resume continues the run, and the
// ledger ends with exactly P labels, each answered once.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { RunStore } from '../src/store/run-store.js';
import { processAlive } from '../src/util/process-alive.js';
import { tinyModelDir, toyTaskFile } from './d2po-fixture.js';

const model = await tinyModelDir();
const taskFile = toyTaskFile();
// P = 20: 8 initial + 2 rounds of 6, over 4 steps
const RUN = ['--task', taskFile, '--model', model, '--gold-budget', '20', '--initial-gold', '8', '--rounds', '2', '--steps', '4', '--batch-size', '4', '--seed', '5',
  '--set', 'eval.prompts=2', '--set', 'eval.accuracyPairs=2', '--set', 'init.policyEpochs=1', '--set', 'init.discriminatorEpochs=1', '--set', 'autocast=false', '--checkpoint-every', '1'];

function serve(args: string[]) {
  const child = spawn(process.execPath, ['bin/d2po.mjs', 'serve', '--simulate', 'task-gold', '--annotators', '2', '--delay-ms', '20', '--port', '0', '--lease-ms', '5000', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (c) => (stderr += c));
  const lines: string[] = [];
  createInterface({ input: child.stdout! }).on('line', (l) => lines.push(l));
  const exit = new Promise<string>((resolve) => child.on('exit', (code, signal) => resolve(signal ?? `code ${code}`)));
  return { child, exit, stderr: () => stderr, lines };
}

function ledgerCheck(dir: string) {
  const s = RunStore.open(dir, { readonly: true });
  try {
    assert.equal(s.getMeta('status'), 'done');
    assert.equal(s.goldUsed(), 20);
    assert.equal(s.countLabels('gold'), 20, 'one gold label per request');
    const twice = s.db.prepare(`SELECT pair_id, COUNT(*) AS n FROM human_labels WHERE choice IN ('a','b','tie') GROUP BY pair_id HAVING n > 1`).all();
    assert.deepEqual(twice, [], 'no pair answered twice');
    return s.db.prepare(`SELECT COUNT(*) FROM human_labels WHERE choice IN ('a','b','tie')`).pluck().get() as number;
  } finally {
    s.close();
  }
}

test('serve starts a run with people as its gold; the simulated crowd labels it to the end', async () => {
  const dir = join(mkdtempSync(join(tmpdir(), 'd2po-serve-train-')), 'run');
  const s = serve([...RUN, '--out', dir]);
  assert.equal(await s.exit, 'code 0', s.stderr());
  assert.equal(s.lines.filter((l) => /^annotator sim-\d \S+ http:\/\/127\.0\.0\.1:\d+\/#token=\S+$/.test(l)).length, 2);
  assert.match(s.stderr(), /stopping \(the run is done\)/);
  assert.equal(ledgerCheck(dir), 20, 'people answered every request, the initial set included');
  const again = serve(['--resume', dir]);
  assert.notEqual(await again.exit, 'code 0');
  assert.match(again.stderr(), /the run is done and every gold request is answered; nothing to label/);
});

test('SIGKILL of serve stops its training too; serve --resume continues the run to exactly P labels', async () => {
  const dir = join(mkdtempSync(join(tmpdir(), 'd2po-serve-train-kill-')), 'run');
  const first = serve([...RUN, '--out', dir]);
  // kill once the run has stepped past its warm start
  const until = Date.now() + 120_000;
  for (;;) {
    assert.ok(Date.now() < until, `the run never reached step 1: ${first.stderr()}`);
    try {
      const s = RunStore.open(dir, { readonly: true });
      const step = s.getMeta<number>('step') ?? 0;
      s.close();
      if (step >= 1) break;
    } catch {
      // not created yet
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  first.child.kill('SIGKILL');
  await first.exit;
  const s = RunStore.open(dir, { readonly: true });
  const pid = s.getMeta<number>('pid')!;
  const pidStart = s.getMeta<number | null>('pid_start');
  s.close();
  const gone = Date.now() + 30_000;
  while (processAlive(pid, pidStart) && Date.now() < gone) await new Promise((r) => setTimeout(r, 50));
  assert.equal(processAlive(pid, pidStart), false, 'the training process stopped with its server');

  const second = serve(['--resume', dir]);
  assert.equal(await second.exit, 'code 0', second.stderr());
  assert.match(second.stderr(), /resuming d2po/);
  ledgerCheck(dir);
});

test('SIGTERM stops serve and its run cleanly (exit 0); the run is left to resume', async () => {
  const dir = join(mkdtempSync(join(tmpdir(), 'd2po-serve-train-term-')), 'run');
  const child = spawn(process.execPath, ['bin/d2po.mjs', 'serve', '--annotators', 'alice', '--port', '0', ...RUN, '--out', dir], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (c) => (stderr += c));
  const exit = new Promise<string>((resolve) => child.on('exit', (code, signal) => resolve(signal ?? `code ${code}`)));
  // nobody labels: once serve has printed alice's link, the run is waiting for her
  await new Promise<void>((resolve) => createInterface({ input: child.stdout! }).on('line', (l) => l.startsWith('annotator alice ') && resolve()));
  child.kill('SIGTERM');
  assert.equal(await exit, 'code 0', stderr);
  const s = RunStore.open(dir, { readonly: true });
  try {
    assert.notEqual(s.getMeta('status'), 'done');
    assert.equal(s.goldUsed(), 0);
  } finally {
    s.close();
  }
});
