// d2po run over a custom task whose calls hang or fail: the run ends failed, naming the call.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RunStore } from '../src/store/run-store.js';
import { RewardFunctionGold } from '../src/gold/index.js';
import { resolveConfig } from '../src/d2po/presets.js';
import { runLoop } from '../src/d2po/loop.js';
import type { Task } from '../src/tasks/task.js';
import { tinyModelDir } from './d2po-fixture.js';

const BIN = join(process.cwd(), 'bin', 'd2po.mjs');
let root: string;
let model: string;

before(async () => {
  root = mkdtempSync(join(tmpdir(), 'd2po-user-code-'));
  model = await tinyModelDir();
});
after(() => {
  rmSync(root, { recursive: true, force: true });
  rmSync(model, { recursive: true, force: true });
});

/** A task module whose reward is `reward` (a JS expression of prompt and response). */
function taskWith(name: string, reward: string): string {
  const file = join(root, `${name}.mjs`);
  writeFileSync(file, `export default { name: '${name}', prompts: (split) => ['Once upon a', 'The day'], reward: (prompt, response) => ${reward} };\n`);
  return file;
}

/** Runs a 2-label offline DPO run; a run that outlives `limitMs` is killed and reported as such. */
function runTask(task: string, extra: string[] = [], limitMs = 60_000): Promise<{ code: number | null; signal: string | null; stderr: string; dir: string }> {
  const dir = join(root, `run-${task.replace(/.*\//, '')}`);
  const args = [BIN, 'run', '--method', 'dpo', '--task', task, '--model', model, '--out', dir, '--gold-budget', '2', '--threads', '1', '--no-progress', ...extra];
  return new Promise((resolve) => {
    execFile(process.execPath, args, { timeout: limitMs, killSignal: 'SIGKILL' }, (err, _stdout, stderr) => {
      const e = err as (Error & { code?: number; signal?: string }) | null;
      resolve({ code: e ? (e.code ?? null) : 0, signal: e?.signal ?? null, stderr, dir });
    });
  });
}

function stored(dir: string): { status: unknown; error: unknown } {
  const s = RunStore.open(dir, { readonly: true });
  try {
    return { status: s.getMeta('status'), error: s.getMeta('error') };
  } finally {
    s.close();
  }
}

for (const [name, reward] of [
  ['pending-timer', 'new Promise((r) => setTimeout(r, 3_600_000))'],
  ['nothing-pending', 'new Promise(() => {})'],
] as const) {
  test(`a reward that never settles (${name}) times out by name and the run ends failed`, async () => {
    const task = taskWith(name, reward);
    const r = await runTask(task, ['--set', 'taskTimeoutMs=300']);
    assert.equal(r.signal, null, `the run ended by itself:\n${r.stderr}`);
    assert.equal(r.code, 1, r.stderr);
    const expected = new RegExp(`${name}\\.mjs: reward\\(prompt, response\\) did not settle within 300 ms on item 0`);
    assert.match(r.stderr, expected);
    const s = stored(r.dir);
    assert.equal(s.status, 'failed');
    assert.match(String(s.error), expected);
  });
}

test('a reward rejecting with a non-Error value fails the run with that value and the item', async () => {
  const r = await runTask(taskWith('rejects-string', "Promise.reject('quota exceeded')"));
  assert.equal(r.code, 1, r.stderr);
  const expected = /rejects-string\.mjs: reward\(prompt, response\) failed on item 0 \(prompt "[^"]+"\): rejected with "quota exceeded", a string, not an Error/;
  assert.match(r.stderr, expected);
  assert.doesNotMatch(r.stderr, /NOT NULL/);
  const s = stored(r.dir);
  assert.equal(s.status, 'failed');
  assert.match(String(s.error), expected);
});

test('the loop stores a non-Error failure as what it was, not as a constraint error', async () => {
  const task: Task = { name: 'bare', description: '', prompts: async () => ['Once upon a', 'The day'], rewards: () => Promise.reject('quota exceeded') };
  const dir = join(root, 'bare');
  const c = resolveConfig({ method: 'dpo', task: 'bare', model, out: dir, budget: { gold: 2 } });
  await assert.rejects(runLoop(c, { dir, task, gold: new RewardFunctionGold(task), progress: false }), (e) => e === 'quota exceeded');
  const s = stored(dir);
  assert.equal(s.status, 'failed');
  assert.equal(s.error, 'rejected with "quota exceeded", a string, not an Error');
});
