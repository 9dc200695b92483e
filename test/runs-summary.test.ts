// `d2po runs show`: initial and online gold apart, the seed and the shared warm start's hash.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { summarizeRun } from '../src/store/run-summary.js';
import { fakeRun } from './run-fixture.js';
import { d2po } from './cli.js';

test('runs show --json: gold_initial (ledger round 0), gold_online (rounds 1+), seed and warm_start', async () => {
  const root = mkdtempSync(join(tmpdir(), 'd2po-runs-summary-'));
  const config = { method: 'd2po', task: 'word-collector', model: '/m', seed: 7 };
  const shared = join(root, 'shared');
  fakeRun(shared, { config, gold: [6, 3, 2], meta: { warm_start: 'sha256:abc' } });
  // stored before warm starts were shared: no warm_start entry
  const own = join(root, 'own');
  fakeRun(own, { config: { ...config, seed: 8 }, gold: [4] });

  const show = await d2po(['runs', 'show', shared, '--json']);
  assert.equal(show.code, 0, show.stderr);
  const s = JSON.parse(show.stdout);
  assert.deepEqual([s.gold_used, s.gold_initial, s.gold_online, s.seed, s.warm_start], [11, 6, 5, 7, 'sha256:abc']);
  // the fields that were there before keep their values and shapes
  assert.deepEqual([s.status, s.method, s.gold_budget, s.gold_labels, s.pairs, s.last_eval], ['done', 'd2po', 320, 11, 11, null]);
  const o = summarizeRun(own);
  assert.deepEqual([o.gold_used, o.gold_initial, o.gold_online, o.seed, o.warm_start], [4, 4, 0, 8, null]);

  const text = await d2po(['runs', 'show', shared]);
  assert.match(text.stdout, /gold: +11 used of 320: 6 initial, 5 online \(11 stored labels\)/);
  assert.match(text.stdout, /warm start: sha256:abc/);
  rmSync(root, { recursive: true });
});

test('a broken run has no seed or warm start and no gold', () => {
  const root = mkdtempSync(join(tmpdir(), 'd2po-runs-summary-'));
  const s = summarizeRun(join(root, 'missing'));
  assert.equal(s.status, 'broken');
  assert.deepEqual([s.seed, s.warm_start, s.gold_initial, s.gold_online], [null, null, 0, 0]);
  rmSync(root, { recursive: true });
});
