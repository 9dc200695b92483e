import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { FIXTURE_FILE, METHODS, PINNED_ENV, type Stored } from './loop-fixture-run.js';

// What three tiny runs stored when recorded (test/loop-fixture-run.ts --record, under PINNED_ENV):
// their metrics (timings left out), labels, training uses and checkpoint files. The runs go in a
// child process pinned to portable kernels, so that another CPU samples the same tokens; labels,
// uses and files must match exactly, metric values to 1e-5.
const FIXTURE = JSON.parse(readFileSync(FIXTURE_FILE, 'utf8')) as Record<string, Stored>;
const GOT = JSON.parse(
  execFileSync(process.execPath, ['--import', 'tsx', 'test/loop-fixture-run.ts'], {
    env: { ...process.env, ...PINNED_ENV },
    encoding: 'utf8',
    maxBuffer: 64 << 20,
  }),
) as Record<string, Stored>;

for (const method of METHODS) {
  test(`a tiny ${method} run stores what it stored when recorded`, () => {
    const got = GOT[method];
    const want = FIXTURE[method];
    assert.deepEqual(
      got.metrics.map(([step, gold, name]) => [step, gold, name]),
      want.metrics.map(([step, gold, name]) => [step, gold, name]),
      'the same metrics, in the same order',
    );
    got.metrics.forEach(([step, , name, value], i) => {
      const v = want.metrics[i][3];
      assert.ok(Math.abs(value - v) <= 1e-5 * Math.max(1, Math.abs(v)), `${name} at step ${step}: ${value}, recorded ${v}`);
    });
    const key = (l: unknown[]) => `${l[0]}/${l[1]}`;
    assert.deepEqual(new Map(got.labels.map((l) => [key(l), l])), new Map(want.labels.map((l) => [key(l), l])), 'the same labels');
    assert.deepEqual(got.uses, want.uses, 'the same training uses');
    assert.deepEqual(got.checkpointFiles, want.checkpointFiles, 'the same checkpoint files');
  });
}
