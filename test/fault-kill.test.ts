// Fault suite: a tiny run killed with SIGKILL in a gold chunk, in a checkpoint write and at a
// random point, with its newest checkpoint corrupted in between; each time it resumes, and it
// ends done with exactly P gold labels, none bought twice. FAULT_SEED picks the random point.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync, truncateSync, watch } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { RunStore } from '../src/store/run-store.js';
import { Rng } from '../src/util/rng.js';
import { readProgress, tinyModelDir, toyTaskFile } from './d2po-fixture.js';
import { assertFinished, partialCheckpoints, runArgs, start, type Child } from './fault-run.js';

const SEED = Number(process.env.FAULT_SEED ?? 1);

const ended = (c: Child) => c.proc.exitCode !== null || c.proc.signalCode !== null;

/** Polls `ready` until it holds, then SIGKILLs the child; false when the child ended first. */
async function killWhen(c: Child, ready: () => boolean): Promise<boolean> {
  while (!ended(c)) {
    if (ready()) {
      c.proc.kill('SIGKILL');
      await c.exited;
      return true;
    }
    await sleep(5);
  }
  return false;
}

/**
 * Kills the child in the middle of a checkpoint write: when a `.tmp` checkpoint folder appears
 * the child is stopped at once, then killed if the folder is still there (still being written).
 */
async function killInCheckpointWrite(c: Child, dir: string): Promise<boolean> {
  const root = join(dir, 'checkpoints');
  let killed = false;
  return new Promise((resolve) => {
    const w = watch(root, (_, name) => {
      if (killed || !name?.endsWith('.tmp') || ended(c)) return;
      c.proc.kill('SIGSTOP');
      if (existsSync(join(root, name))) {
        killed = true;
        c.proc.kill('SIGKILL');
      } else c.proc.kill('SIGCONT');
    });
    void c.exited.then(() => {
      w.close();
      resolve(killed);
    });
  });
}

const resumeArgs = (dir: string) => ['run', '--resume', dir, '--no-progress'];

test(`a run killed in a gold chunk, in a checkpoint write and at a random point (FAULT_SEED=${SEED}), its newest checkpoint corrupted, ends with exactly P labels`, async () => {
  const model = await tinyModelDir();
  const task = toyTaskFile(15); // gold takes a while: a chunk in flight can be caught
  const root = mkdtempSync(join(tmpdir(), 'd2po-fault-kill-'));
  const dir = join(root, 'run');
  const before: Map<string, number | null>[] = [];
  const inFlight = new Set<string>();
  const afterKill = () => {
    const p = readProgress(dir)!;
    before.push(p.answered);
    p.pending.forEach((id) => inFlight.add(id));
    return p;
  };

  // 1. killed while an online round's gold chunk is asked (answers not yet stored)
  let c = start(runArgs(task, model, dir));
  const inChunk = () => {
    const p = readProgress(dir);
    return p !== null && p.step >= 1 && p.pending.length > 0;
  };
  assert.ok(await killWhen(c, inChunk), `the run ended before its gold round could be interrupted:\n${c.stderr()}`);
  assert.ok(afterKill().pending.length > 0);

  // 2. resumed, killed while writing a checkpoint
  c = start(resumeArgs(dir));
  assert.ok(await killInCheckpointWrite(c, dir), `no checkpoint write was interrupted:\n${c.stderr()}`);
  assert.equal(partialCheckpoints(dir).length, 1, 'a checkpoint was cut mid-write');
  afterKill();

  // 3. the newest whole checkpoint corrupted: resume falls back to the one before and says so;
  //    then killed at a random point
  const ckpts = readdirSync(join(dir, 'checkpoints')).filter((n) => !n.endsWith('.tmp')).sort();
  assert.ok(ckpts.length >= 2, `${ckpts}`);
  const newest = ckpts.at(-1)!;
  truncateSync(join(dir, 'checkpoints', newest, 'policy-optimizer.safetensors'), 100);
  c = start(resumeArgs(dir));
  while (!ended(c) && !c.stderr().includes('passed over')) await sleep(5);
  assert.match(c.stderr(), new RegExp(`from checkpoints/${ckpts.at(-2)} .*passed over checkpoints/${newest}: .*policy-optimizer\\.safetensors: not a valid safetensors file`));
  const delay = 100 + new Rng(SEED).int(2000);
  await sleep(delay);
  if (!ended(c)) {
    c.proc.kill('SIGKILL');
    await c.exited;
    afterKill();
  }

  // 4. resumed to the end
  const s = RunStore.open(dir, { readonly: true });
  const status = s.getMeta('status');
  s.close();
  if (status !== 'done') {
    c = start(resumeArgs(dir));
    assert.equal(await c.exited, 0, c.stderr());
  }
  assertFinished(dir, before);
  const t = RunStore.open(dir, { readonly: true });
  const twice = t.ledger().filter((e) => e.attempts > 1);
  t.close();
  assert.ok(twice.length > 0 && twice.every((e) => inFlight.has(e.pairId)), 'only requests in flight at a kill were asked again');
  rmSync(root, { recursive: true });
  rmSync(model, { recursive: true });
});
