import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fakeRun } from './run-fixture.js';
import { d2po } from './cli.js';

function run(dir: string, seed: number, pooling: 'last' | 'sum', rewards: [number, number][]): void {
  fakeRun(dir, {
    config: { method: 'd2po', task: 'word-collector', model: 'm', seed, discriminator: { pooling } },
    evals: rewards.map(([gold, r], i) => [i * 12, gold, { 'eval/reward': r }]),
  });
}

test('d2po report: variants by config, NAME=DIR names, and errors for folders without runs', async () => {
  const root = mkdtempSync(join(tmpdir(), 'd2po-report-'));
  for (const seed of [0, 1]) {
    run(join(root, 'last', `d2po-seed${seed}`), seed, 'last', [[64, 1], [128, 2 + seed]]);
    run(join(root, 'sum', `d2po-seed${seed}`), seed, 'sum', [[64, 1], [128, 3 + seed]]);
  }
  const out = join(root, 'report');
  const auto = await d2po(['report', join(root, 'last'), join(root, 'sum'), '--out', out]);
  assert.equal(auto.code, 0, auto.stderr);
  assert.match(auto.stdout, /\| gold used \| d2po \| d2po pooling=sum \|/);
  assert.match(auto.stdout, /\| 128 \| 2\.50 ± 0\.71 \| 3\.50 ± 0\.71 \|/);
  assert.ok(existsSync(join(out, 'report.md')) && existsSync(join(out, 'reward-vs-gold.png')));
  const named = await d2po(['report', `last-token RM=${join(root, 'last')}`, join(root, 'sum'), '--out', out]);
  assert.equal(named.code, 0, named.stderr);
  assert.match(readFileSync(join(out, 'report.md'), 'utf8'), /\| gold used \| last-token RM \| d2po \|/);
  const empty = await d2po(['report', join(root, 'nothing'), '--out', out]);
  assert.equal(empty.code, 2);
  assert.match(empty.stderr, /nothing: no run folder \(run\.db\) there/);
  rmSync(root, { recursive: true });
});
