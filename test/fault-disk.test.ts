// Fault suite: the run folder on a small tmpfs fills up during a checkpoint write. The run must
// fail naming the cause, buy nothing twice, and with space again resume to exactly P labels.
// Mounting needs root (or CAP_SYS_ADMIN); elsewhere the test is skipped, saying why.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readProgress, tinyModelDir, toyTaskFile } from './d2po-fixture.js';
import { assertFinished, runArgs, start } from './fault-run.js';

function mount(args: string[]): string | null {
  try {
    execFileSync('mount', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    return null;
  } catch (e) {
    return String((e as { stderr?: Buffer }).stderr ?? (e as Error).message).trim() || (e as Error).message;
  }
}

test('a disk that fills up fails the run by name; with space again it resumes to exactly P labels', async (t) => {
  const disk = mkdtempSync(join(tmpdir(), 'd2po-fault-disk-'));
  // a checkpoint of the fault run takes about 3.8 MB and two are kept: the third write overflows 9 MB
  const why = process.platform !== 'linux' ? `tmpfs mounts need Linux (this is ${process.platform})` : mount(['-t', 'tmpfs', '-o', 'size=9m', 'tmpfs', disk]);
  if (why !== null) {
    rmSync(disk, { recursive: true });
    t.skip(`cannot mount a small tmpfs to fill: ${why}`);
    return;
  }
  const model = await tinyModelDir();
  const task = toyTaskFile();
  const dir = join(disk, 'run');
  try {
    const c = start(runArgs(task, model, dir));
    assert.notEqual(await c.exited, 0, 'the run cannot finish on a full disk');
    // the cause, with the path it could not write, not a later failure to record the status
    assert.match(c.stderr(), /cannot write checkpoint \S+checkpoints\/step-\d{6}: .*no space left on device/);
    const killed = readProgress(dir);
    assert.ok(killed && killed.answered.size >= 4, 'the initial gold had been bought');
    assert.equal(mount(['-o', 'remount,size=64m', disk]), null);
    const r = start(['run', '--resume', dir, '--no-progress']);
    assert.equal(await r.exited, 0, r.stderr());
    assertFinished(dir, [killed!.answered]);
  } finally {
    execFileSync('umount', [disk]);
    rmSync(disk, { recursive: true });
    rmSync(model, { recursive: true });
  }
});
