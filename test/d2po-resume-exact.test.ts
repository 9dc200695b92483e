import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readSafetensors } from '../src/model/index.js';
import { loadTask } from '../src/tasks/registry.js';
import { RewardFunctionGold } from '../src/gold/index.js';
import { runLoop } from '../src/d2po/loop.js';
import { RunStore } from '../src/store/run-store.js';
import type { Method } from '../src/d2po/config.js';
import { tinyModelDir, tinyRunConfig, toyTaskFile } from './d2po-fixture.js';

// A run cut after a checkpoint and resumed must end exactly where an uncut run ends: every
// trained tensor of the last checkpoint, for each kind of discriminator that learns.
const model = await tinyModelDir();
const taskFile = toyTaskFile();
const task = await loadTask(taskFile);

function config(method: Method, out: string, extra: Record<string, unknown> = {}) {
  const { discriminator, ...rest } = extra as { discriminator?: object };
  return tinyRunConfig(method, out, model, taskFile, { discriminator: { epochs: 1, batchSize: 8, lr: 1e-2, ...discriminator }, autocast: false, ...rest });
}

const run = (c: ReturnType<typeof config>, dir: string, o: { resume?: boolean; onStep?: (s: number) => void } = {}) =>
  runLoop(o.resume ? null : c, { dir, task, gold: new RewardFunctionGold(task), progress: false, resume: o.resume, onStep: o.onStep });

const lastCheckpoint = (dir: string) => {
  const s = RunStore.open(dir, { readonly: true });
  try {
    return join(dir, s.checkpoints().at(-1)!.path);
  } finally {
    s.close();
  }
};

for (const [method, files, extra, name] of [
  ['d2po', ['policy/model.safetensors', 'discriminator/rm-0.safetensors'], {}, 'd2po'],
  ['d2po-dpo-discrim', ['policy/model.safetensors', 'discriminator/dpo-discriminator/model.safetensors'], {}, 'd2po-dpo-discrim'],
  ['d2po', ['policy/model.safetensors', 'discriminator/epinet.safetensors'], { discriminator: { kind: 'rm-epinet', ensembleSize: 3 }, selection: { strategy: 'variance' } }, 'd2po with an epinet and variance selection'],
] as [Method, string[], Record<string, unknown>, string][]) {
  test(`${name}: cut after step 3 and resumed, it ends with the weights of an uncut run`, async () => {
    const root = mkdtempSync(join(tmpdir(), 'd2po-resume-exact-'));
    const whole = join(root, 'whole');
    const cut = join(root, 'cut');
    await run(config(method, whole, extra), whole);
    await assert.rejects(run(config(method, cut, extra), cut, { onStep: (step) => assert.notEqual(step, 3, 'cut at step 3') }), /cut at step 3/);
    await run(config(method, cut, extra), cut, { resume: true });
    for (const f of files) {
      const [a, b] = await Promise.all([readSafetensors(join(lastCheckpoint(whole), f)), readSafetensors(join(lastCheckpoint(cut), f))]);
      const differ = [...a].filter(([n, t]) => !t.equal(b.get(n)!)).map(([n]) => n);
      [...a.values(), ...b.values()].forEach((t) => t.dispose());
      assert.deepEqual(differ, [], `${f}: tensors that differ from the uncut run`);
    }
  });
}
