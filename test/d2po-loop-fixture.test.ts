import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { loadTask } from '../src/tasks/registry.js';
import { RewardFunctionGold } from '../src/gold/index.js';
import { resolveConfig } from '../src/d2po/presets.js';
import { runLoop } from '../src/d2po/loop.js';
import { RunStore } from '../src/store/run-store.js';
import type { Method } from '../src/d2po/config.js';
import { tinyModelDir, toyTaskFile } from './d2po-fixture.js';

// What three tiny runs stored before the loop was split into components and policy updaters
// (test/fixtures/loop-stored-results.json): their metrics (timings left out), labels, training
// uses and checkpoint files. Labels, uses and files must match exactly; metric values to 1e-5,
// since another CPU or BLAS may round the last bits otherwise (on the recording machine they
// matched bit for bit, checkpoint bytes included).
const FIXTURE = JSON.parse(readFileSync('test/fixtures/loop-stored-results.json', 'utf8')) as Record<
  string,
  { metrics: [number, number, string, number][]; labels: unknown[][]; uses: unknown[][]; checkpointFiles: string[] }
>;

const model = await tinyModelDir();
const taskFile = toyTaskFile();
const task = await loadTask(taskFile);

function files(d: string): string[] {
  return readdirSync(d).flatMap((f) => (statSync(join(d, f)).isDirectory() ? files(join(d, f)) : [join(d, f)]));
}

for (const method of ['d2po', 'd2po-ppo', 'd2po-self'] as Method[]) {
  test(`a tiny ${method} run stores what it stored before the loop refactor`, async () => {
    const root = mkdtempSync(join(tmpdir(), 'd2po-fixture-'));
    const dir = join(root, 'run');
    const c = resolveConfig({
      method,
      task: taskFile,
      model,
      out: dir,
      seed: 5,
      threads: 1,
      budget: { gold: 20, initial: 8, rounds: 2, steps: 4 },
      rollout: { batchSize: 4 },
      policy: { batchSize: 8, goldEpochs: method === 'd2po-ppo' ? 0 : 1 },
      init: { policyEpochs: 1, discriminatorEpochs: 1 },
      discriminator: { epochs: 1, batchSize: 8 },
      eval: { every: 2, prompts: 3, accuracyPairs: 3 },
      checkpoint: { every: 2 },
    });
    await runLoop(c, { dir, task, gold: new RewardFunctionGold(task), progress: false });
    const want = FIXTURE[method];
    const s = RunStore.open(dir, { readonly: true });
    try {
      const got = s.metrics().filter((m) => !m.name.startsWith('time/') && !m.name.endsWith('_seconds'));
      assert.deepEqual(
        got.map((m) => [m.step, m.goldUsed, m.name]),
        want.metrics.map(([step, gold, name]) => [step, gold, name]),
        'the same metrics, in the same order',
      );
      got.forEach((m, i) => {
        const v = want.metrics[i][3];
        assert.ok(Math.abs(m.value - v) <= 1e-5 * Math.max(1, Math.abs(v)), `${m.name} at step ${m.step}: ${m.value}, stored before ${v}`);
      });
      assert.equal(s.countLabels('gold') + s.countLabels('silver'), want.labels.length, 'as many labels');
      for (const [pairId, source, ...rest] of want.labels) {
        const l = s.labelsOf(pairId as string).find((x) => x.source === source);
        assert.deepEqual(l && [l.round, l.step, l.preference, l.skip], rest, `${source} label of ${pairId}`);
      }
      assert.deepEqual(
        s.uses().map((u) => [u.step, u.round, u.target, u.pairId, u.chosen, u.source, u.epochs]),
        want.uses,
      );
    } finally {
      s.close();
    }
    const ck = join(dir, 'checkpoints');
    assert.deepEqual(files(ck).map((f) => relative(ck, f)).sort(), want.checkpointFiles);
    rmSync(root, { recursive: true });
  });
}
