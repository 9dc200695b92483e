// Runs the tiny d2po, d2po-ppo and d2po-self loops of test/d2po-loop-fixture.test.ts and prints
// what each stored (metrics without timings, labels, training uses, checkpoint files) as JSON;
// `--record` writes that to test/fixtures/loop-stored-results.json instead. The test runs it in a
// child process pinned to portable kernels (PINNED_ENV): libtorch picks its vectorised kernels
// (random init, softmax) by CPU, so on another CPU the same seed samples other tokens.
import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { loadTask } from '../src/tasks/registry.js';
import { RewardFunctionGold } from '../src/gold/index.js';
import { resolveConfig } from '../src/d2po/presets.js';
import { runLoop } from '../src/d2po/loop.js';
import { RunStore } from '../src/store/run-store.js';
import type { Method } from '../src/d2po/config.js';
import { tinyModelDir, toyTaskFile } from './d2po-fixture.js';

export const FIXTURE_FILE = 'test/fixtures/loop-stored-results.json';
export const METHODS: Method[] = ['d2po', 'd2po-ppo', 'd2po-self'];
/** Scalar ATen kernels and one OpenBLAS core type, single-threaded: the same bits on any x86-64 CPU with AVX2. */
export const PINNED_ENV = { ATEN_CPU_CAPABILITY: 'default', OPENBLAS_CORETYPE: 'Haswell', OPENBLAS_NUM_THREADS: '1', OMP_NUM_THREADS: '1' };

export interface Stored {
  metrics: [number, number, string, number][];
  labels: [string, string, number, number, string, string | null][];
  uses: unknown[][];
  checkpointFiles: string[];
}

function files(d: string): string[] {
  return readdirSync(d).flatMap((f) => (statSync(join(d, f)).isDirectory() ? files(join(d, f)) : [join(d, f)]));
}

async function runTiny(method: Method, model: string, taskFile: string): Promise<Stored> {
  const task = await loadTask(taskFile);
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
  const s = RunStore.open(dir, { readonly: true });
  try {
    const ids = [...s.goldLabels().map((l) => l.pair.id), ...s.silverLabels().map((l) => l.pair.id)];
    const labels = [...new Set(ids)].flatMap((id) =>
      s.labelsOf(id).map((l): Stored['labels'][number] => [id, l.source, l.round, l.step, l.preference, l.skip]),
    );
    return {
      metrics: s
        .metrics()
        .filter((m) => !m.name.startsWith('time/') && !m.name.endsWith('_seconds'))
        .map((m) => [m.step, m.goldUsed, m.name, m.value]),
      labels,
      uses: s.uses().map((u) => [u.step, u.round, u.target, u.pairId, u.chosen, u.source, u.epochs]),
      checkpointFiles: files(join(dir, 'checkpoints')).map((f) => relative(join(dir, 'checkpoints'), f)).sort(),
    };
  } finally {
    s.close();
    rmSync(root, { recursive: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const model = await tinyModelDir();
  const taskFile = toyTaskFile();
  const out: Record<string, Stored> = {};
  for (const m of METHODS) out[m] = await runTiny(m, model, taskFile);
  if (process.argv.includes('--record')) writeFileSync(FIXTURE_FILE, JSON.stringify(out, null, 1) + '\n');
  else process.stdout.write(JSON.stringify(out));
}
