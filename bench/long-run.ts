// A long D2PO run (thousands of steps) on a tiny model: resident memory, the C heap (glibc: in use,
// and freed but still mapped), live native tensors and step time every --every steps, to show
// that a run holds steady memory and does not slow down.
//
//   node --expose-gc --import tsx bench/long-run.ts [--steps 2000] [--every 100] [--out DIR]
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createModel, saveModel } from '../src/model/index.js';
import { heapStats, liveTensorCount } from '../src/tensor/index.js';
import { resolveConfig } from '../src/d2po/presets.js';
import { runLoop } from '../src/d2po/loop.js';
import { loadTask } from '../src/tasks/registry.js';
import { createGoldSource } from '../src/gold/index.js';

const { values } = parseArgs({ options: { steps: { type: 'string', default: '2000' }, every: { type: 'string', default: '100' }, out: { type: 'string' } } });
const steps = Number(values.steps);
const every = Number(values.every);
const root = values.out ?? mkdtempSync(join(tmpdir(), 'd2po-long-'));

const model = createModel({ model_type: 'gpt2', vocab_size: 4096, n_positions: 64, n_embd: 64, n_layer: 2, n_head: 2, bos_token_id: 4095, eos_token_id: 4095 }, { seed: 1 });
await saveModel(join(root, 'model'), model, { tokenizerJson: readFileSync(new URL('../models/brown-bpe-4k/tokenizer.json', import.meta.url), 'utf8') });
model.dispose();

const task = await loadTask('word-collector');
const config = resolveConfig({
  method: 'd2po',
  task: 'word-collector',
  model: join(root, 'model'),
  out: join(root, 'run'),
  threads: 1,
  budget: { gold: 64 + steps / 100 * 4, initial: 64, rounds: steps / 100, steps },
  rollout: { batchSize: 4, maxNewTokens: 16 },
  eval: { every: 0, prompts: 8, accuracyPairs: 0 },
  checkpoint: { every: 0 },
}, 'bench/long-run');
const gold = createGoldSource(config.gold, { task });
let t = performance.now();
const rows: string[] = [];
await runLoop(config, {
  dir: config.out,
  task,
  gold,
  progress: false,
  onStep: (step) => {
    if (step % every !== 0) return;
    const now = performance.now();
    // collect first (node --expose-gc) so that the heap column shows what is retained, not garbage
    (globalThis as { gc?: () => void }).gc?.();
    const mem = process.memoryUsage();
    const mib = (n: number) => (n / 2 ** 20).toFixed(0);
    const heap = heapStats();
    const row = `| ${step} | ${((now - t) / every).toFixed(1)} | ${mib(mem.rss)} | ${mib(mem.heapUsed)} | ${heap ? mib(heap.inUse) : '-'} | ${heap ? mib(heap.free) : '-'} | ${liveTensorCount()} |`;
    rows.push(row);
    console.log(row);
    t = now;
  },
});
console.log(['', '| step | ms/step (last block) | RSS MiB | JS heap MiB | C heap in use MiB | C heap free MiB | live tensors |', '|---|---|---|---|---|---|---|', ...rows].join('\n'));
