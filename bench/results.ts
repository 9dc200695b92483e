// Method comparison over seeds (RESULTS.md): runs each method x seed as its own `d2po run`
// process (`--jobs` at a time, one libtorch thread each, which uses a 2-core machine best),
// then writes the comparison report (tables and charts) of all runs.
//
//   node --import tsx bench/results.ts --out results/word-collector --seeds 0-4 \
//        --methods d2po,opo-gold,opo-static-rm [--jobs 2] [-- extra d2po run flags]
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { readRunCurve } from '../src/report/curves.js';
import { writeReport } from '../src/report/report.js';
import { summarizeRun } from '../src/store/run-summary.js';
import { isMethod, presetConfig } from '../src/d2po/presets.js';

const dashdash = process.argv.indexOf('--');
const own = dashdash === -1 ? process.argv.slice(2) : process.argv.slice(2, dashdash);
const extra = dashdash === -1 ? [] : process.argv.slice(dashdash + 1);
const { values } = parseArgs({
  args: own,
  options: {
    out: { type: 'string', default: 'results/word-collector' },
    seeds: { type: 'string', default: '0-4' },
    methods: { type: 'string', default: 'd2po,opo-gold' },
    task: { type: 'string', default: 'word-collector' },
    model: { type: 'string', default: 'policy-base' },
    jobs: { type: 'string', default: '2' },
    'eval-every': { type: 'string', default: '12' },
  },
});
const [lo, hi] = values.seeds!.split('-').map(Number);
const seeds = Array.from({ length: (hi ?? lo) - lo + 1 }, (_, i) => lo + i);
const methods = values.methods!.split(',');
const jobs = Math.max(1, Number(values.jobs));
for (const m of methods) if (!isMethod(m)) throw new Error(`--methods: unknown method '${m}'`);
// gold-labelled methods take one loop step per gold round: evaluate after each, as the
// discriminator-labelled ones do every --eval-every steps (set it to steps/rounds)
const evalEvery = (m: string) => (isMethod(m) && presetConfig(m).rollout.labeller === 'gold' ? '1' : values['eval-every']!);

interface Job { method: string; seed: number; dir: string }
const queue: Job[] = seeds.flatMap((seed) => methods.map((method) => ({ method, seed, dir: join(values.out!, `${method}-seed${seed}`) })));

function runOne(j: Job): Promise<void> {
  // a finished run is kept; a killed one is resumed
  const status = existsSync(join(j.dir, 'run.db')) ? summarizeRun(j.dir).status : null;
  if (status === 'done') return Promise.resolve();
  const args = status
    ? ['bin/d2po.mjs', 'run', '--resume', j.dir, '--no-progress']
    : ['bin/d2po.mjs', 'run', '--method', j.method, '--task', values.task!, '--model', values.model!, '--seed', String(j.seed), '--out', j.dir, '--threads', '1', '--eval-every', evalEvery(j.method), '--no-progress', ...extra];
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'inherit', 'inherit'] });
    child.on('exit', (code) => {
      console.error(`${j.method} seed ${j.seed}: exit ${code} in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
      if (code === 0) resolve();
      else reject(new Error(`${j.method} seed ${j.seed} failed (exit ${code}); see ${j.dir}`));
    });
  });
}

const t0 = performance.now();
await Promise.all(
  Array.from({ length: jobs }, async () => {
    for (let j = queue.shift(); j; j = queue.shift()) await runOne(j);
  }),
);
const dirs = seeds.flatMap((s) => methods.map((m) => join(values.out!, `${m}-seed${s}`)));
const { markdown } = await writeReport(dirs.map(readRunCurve), values.out!);
await writeFile(join(values.out!, 'report.md'), markdown + '\n');
console.log(markdown);
console.log(`\nwall ${((performance.now() - t0) / 1000).toFixed(0)} s for ${dirs.length} runs (${jobs} at a time)`);
