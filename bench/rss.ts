// Resident memory of whole `d2po run` processes, one per seed: each runs as a child process and its
// /proc/PID/status is sampled, so the figures are the kernel's (VmRSS, VmHWM), not the JS heap's.
// Peak is the child's high-water mark; steady is the median RSS over the second half of its run.
// Linux only (reads /proc).
//
//   node --import tsx bench/rss.ts [--seeds 10] [--parallel 2] [--repo DIR] [--out DIR] [-- RUN FLAGS]
//
// --repo runs another checkout's bin/d2po.mjs (the code before a change); the run flags after `--`
// replace the default D2PO run on policy-base (DEFAULT_RUN below). Every run gets --threads 1.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';

const DEFAULT_RUN = [
  '--method', 'd2po', '--task', 'word-collector', '--model', 'policy-base',
  '--gold-budget', '10', '--initial-gold', '8', '--rounds', '1', '--steps', '2', '--eval-every', '2',
  '--set', 'init.policyEpochs=1', '--set', 'init.discriminatorEpochs=1', '--set', 'eval.prompts=8', '--set', 'eval.accuracyPairs=8',
];

const { values, positionals } = parseArgs({
  options: {
    seeds: { type: 'string', default: '10' },
    parallel: { type: 'string', default: '2' },
    repo: { type: 'string', default: '.' },
    out: { type: 'string' },
    'every-ms': { type: 'string', default: '250' },
  },
  allowPositionals: true,
});
const seeds = Number(values.seeds);
const parallel = Number(values.parallel);
const everyMs = Number(values['every-ms']);
const repo = resolve(values.repo);
const root = values.out ?? mkdtempSync(join(tmpdir(), 'd2po-rss-'));
const runFlags = positionals.length ? positionals : DEFAULT_RUN;

interface Result { seed: number; code: number | null; wallS: number; peakMiB: number; steadyMiB: number; finalMiB: number }

function status(pid: number): { rss: number; hwm: number } | undefined {
  let s: string;
  try {
    s = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return undefined; // exited between samples
  }
  const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(s)?.[1] ?? NaN);
  const rss = kb('VmRSS') * 1024;
  const hwm = kb('VmHWM') * 1024;
  // while the child is still being exec'd (or is a zombie) its status has no memory lines
  return Number.isFinite(rss) && Number.isFinite(hwm) ? { rss, hwm } : undefined;
}

const mib = (n: number) => n / 2 ** 20;
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

function runSeed(seed: number): Promise<Result> {
  const args = [join(repo, 'bin/d2po.mjs'), 'run', ...runFlags, '--seed', String(seed), '--threads', '1', '--no-progress', '--out', join(root, `seed${seed}`)];
  const t0 = performance.now();
  const child = spawn(process.execPath, args, { cwd: repo, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => { stderr = (stderr + d.toString()).slice(-4000); });
  const samples: { t: number; rss: number }[] = [];
  let hwm = 0;
  const timer = setInterval(() => {
    const s = child.pid === undefined ? undefined : status(child.pid);
    if (!s) return;
    samples.push({ t: performance.now() - t0, rss: s.rss });
    hwm = Math.max(hwm, s.hwm, s.rss);
  }, everyMs);
  return new Promise((done) => {
    child.on('exit', (code) => {
      clearInterval(timer);
      const wall = performance.now() - t0;
      if (code !== 0) console.error(`seed ${seed} exited ${code}:\n${stderr}`);
      const late = samples.filter((s) => s.t >= wall / 2).map((s) => s.rss);
      done({ seed, code, wallS: wall / 1000, peakMiB: mib(hwm), steadyMiB: mib(median(late)), finalMiB: mib(samples.at(-1)?.rss ?? NaN) });
    });
  });
}

console.error(`${seeds} seeds, ${parallel} at a time, repo ${repo}, run folders under ${root}\nrun flags: ${runFlags.join(' ')} --threads 1`);
const results: Result[] = [];
let next = 0;
await Promise.all(Array.from({ length: parallel }, async () => {
  while (next < seeds) {
    const r = await runSeed(next++);
    results.push(r);
    console.error(`seed ${r.seed}: exit ${r.code}, ${r.wallS.toFixed(0)} s, peak ${r.peakMiB.toFixed(0)} MiB, steady ${r.steadyMiB.toFixed(0)} MiB`);
  }
}));
results.sort((a, b) => a.seed - b.seed);
const f = (n: number) => n.toFixed(0);
const col = (k: 'peakMiB' | 'steadyMiB') => results.map((r) => r[k]);
console.log(['| seed | exit | wall s | peak RSS MiB | steady RSS MiB | last RSS MiB |', '|---|---|---|---|---|---|',
  ...results.map((r) => `| ${r.seed} | ${r.code} | ${f(r.wallS)} | ${f(r.peakMiB)} | ${f(r.steadyMiB)} | ${f(r.finalMiB)} |`)].join('\n'));
for (const k of ['peakMiB', 'steadyMiB'] as const) {
  const xs = col(k);
  console.log(`${k === 'peakMiB' ? 'peak' : 'steady'}: median ${f(median(xs))} MiB, min ${f(Math.min(...xs))}, max ${f(Math.max(...xs))}`);
}
