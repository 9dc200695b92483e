// D2PO against OPO with gold when gold comes from people who take their time. Each cell is one
// `d2po serve --simulate task-gold` run: a simulated crowd of --annotators answers every pair
// from the task's gold, D seconds per pair each, over the HTTP API, while the run trains. D2PO
// keeps taking silver steps while a round's answers are out (budget.maxSilverAhead, one round's
// steps by default under serve); OPO with gold has nothing to do but wait. Reports reward against
// wall time from the end of the warm start, and against online gold labels.
//
//   node --import tsx bench/gold-delay.ts --out DIR [--delays 0,10,60] [--methods d2po,opo-gold]
//     [--seeds 0] [--annotators 4] [--jobs 2] [--report-only] -- RUN-FLAGS...
//
// RUN-FLAGS are those of `d2po run` (task, budget, --set ...), --seed aside. The charts show,
// per method and delay, the mean over seeds at each evaluation. OPO with gold evaluates every
// round (its steps are its rounds). A cell whose run is done is not run again; a cut one is
// resumed (`d2po serve --resume`). With a --warm-cache in RUN-FLAGS the initial set's labels and
// the warm start are bought and trained once and shared by every cell, so that wall time is the
// online phase's: run the 0 s cells first (the default order) and the rest reuse them.
import { parseArgs } from 'node:util';
import { spawn } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { RunStore } from '../src/store/run-store.js';
import { lineChartSpec, renderSvg, svgToPng, type Series } from '../src/report/plot.js';
import { ensureDir } from '../src/util/ensure-dir.js';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    out: { type: 'string' },
    delays: { type: 'string', default: '0,10,60' },
    methods: { type: 'string', default: 'd2po,opo-gold' },
    seeds: { type: 'string', default: '0' },
    annotators: { type: 'string', default: '4' },
    jobs: { type: 'string', default: '2' },
    'report-only': { type: 'boolean', default: false },
  },
});
if (!values.out) {
  console.error('usage: node --import tsx bench/gold-delay.ts --out DIR [--delays 0,10,60] [--methods d2po,opo-gold] [--seeds 0,1] [--annotators N] [--jobs J] [--report-only] -- RUN-FLAGS...');
  process.exit(2);
}
const out = values.out;
const delays = values.delays.split(',').map(Number);
const methods = values.methods.split(',');
const seeds = values.seeds.split(',').map(Number);
const annotators = Number(values.annotators);
const jobs = Number(values.jobs);
if (delays.some((d) => !(d >= 0)) || !(annotators >= 1) || !(jobs >= 1)) throw new Error('--delays, --annotators and --jobs take non-negative numbers (annotators and jobs at least 1)');
const BIN = fileURLToPath(new URL('../bin/d2po.mjs', import.meta.url));

interface Cell {
  method: string;
  delay: number;
  seed: number;
  dir: string;
}
// seed by seed, delays in the order given: 0 first, so that the cells after it reuse its initial labels and warm start
const cells: Cell[] = seeds.flatMap((seed) => delays.flatMap((delay) => methods.map((method) => ({ method, delay, seed, dir: join(out, `${method}-delay${delay}s-seed${seed}`) }))));

function status(dir: string): string | null {
  if (!existsSync(join(dir, 'run.db'))) return null;
  const s = RunStore.open(dir, { readonly: true });
  try {
    return s.getMeta<string>('status') ?? null;
  } finally {
    s.close();
  }
}

function runCell(c: Cell): Promise<void> {
  const st = status(c.dir);
  if (st === 'done') {
    console.error(`${c.dir}: done, kept`);
    return Promise.resolve();
  }
  const crowd = ['--simulate', 'task-gold', '--annotators', String(annotators), '--delay-ms', String(c.delay * 1000), '--port', '0'];
  // opo-gold evaluates every round: after RUN-FLAGS, so that it wins over an --eval-every there
  const start = st === null ? ['--method', c.method, '--seed', String(c.seed), '--out', c.dir, ...positionals, ...(c.method === 'opo-gold' ? ['--eval-every', '1'] : [])] : ['--resume', c.dir];
  console.error(`${c.dir}: ${st === null ? 'starting' : `resuming (${st})`}, ${annotators} simulated annotators at ${c.delay} s per pair`);
  ensureDir(out);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, 'serve', ...crowd, ...start], { stdio: ['ignore', 'ignore', 'inherit'] });
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${c.dir}: d2po serve exited with ${code}`))));
  });
}

async function runAll(): Promise<void> {
  const queue = [...cells];
  const worker = async () => {
    for (let c = queue.shift(); c; c = queue.shift()) await runCell(c);
  };
  await Promise.all(Array.from({ length: Math.min(jobs, queue.length) }, worker));
}

interface Point {
  minutes: number;
  online: number;
  reward: number;
}

/** A run's dev reward after its warm start, against minutes since then and online gold labels. */
function curve(dir: string): { points: Point[]; waited: number; total: number } {
  const s = RunStore.open(dir, { readonly: true });
  try {
    const initial = s.goldUsed('initial');
    const rows = s.db.prepare("SELECT step, gold_used AS gold, value, at FROM metrics WHERE name = 'eval/reward' ORDER BY rowid").all() as { step: number; gold: number; value: number; at: number }[];
    const t0 = rows[0].at;
    const points = rows.map((r) => ({ minutes: (r.at - t0) / 60_000, online: r.gold - initial, reward: r.value }));
    const waited = (s.db.prepare("SELECT COALESCE(SUM(value), 0) FROM metrics WHERE name = 'gold/waited'").pluck().get() as number) / 60;
    return { points, waited, total: points[points.length - 1].minutes };
  } finally {
    s.close();
  }
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

async function report(): Promise<void> {
  const done = cells.filter((c) => status(c.dir) === 'done');
  const lines = [
    `| method | gold delay | seed | final reward | online gold | minutes after warm start | minutes D2PO waited for gold |`,
    `|---|---|---|---|---|---|---|`,
  ];
  const byWall: Series[] = [];
  const byGold: Series[] = [];
  for (const method of methods)
    for (const delay of [...delays].sort((a, b) => a - b)) {
      const runs = done.filter((c) => c.method === method && c.delay === delay).map((c) => ({ c, ...curve(c.dir) }));
      for (const { c, points, waited, total } of runs) {
        const last = points[points.length - 1];
        lines.push(`| ${method} | ${delay} s | ${c.seed} | ${last.reward.toFixed(2)} | ${last.online} | ${total.toFixed(1)} | ${method === 'd2po' ? waited.toFixed(1) : '-'} |`);
      }
      if (runs.length === 0) continue;
      // the same schedule in every seed: the i-th evaluation is at the same step (late gold moves its labels a little)
      const n = Math.min(...runs.map((r) => r.points.length));
      const name = `${method}, ${delay} s per label`;
      for (let i = 0; i < n; i++) {
        const y = mean(runs.map((r) => r.points[i].reward));
        byWall.push({ x: mean(runs.map((r) => r.points[i].minutes)), y, series: name });
        byGold.push({ x: mean(runs.map((r) => r.points[i].online)), y, series: name });
      }
    }
  const missing = cells.filter((c) => !done.includes(c)).map((c) => c.dir);
  const md = [...lines, ...(missing.length ? ['', `not finished: ${missing.join(', ')}`] : [])].join('\n');
  console.log(md);
  writeFileSync(join(out, 'gold-delay.md'), md + '\n');
  const sub = `${annotators} simulated annotators; mean over seeds ${seeds.join(', ')}; one warm start per seed, shared`;
  for (const [file, spec] of [
    ['reward-vs-wall', lineChartSpec('Dev reward against wall time, by gold delay per label', 'minutes after the warm start', 'dev gold reward', byWall, { subtitle: sub })],
    ['reward-vs-online-gold', lineChartSpec('Dev reward against online gold labels, by gold delay per label', 'online gold labels', 'dev gold reward', byGold, { subtitle: sub })],
  ] as const) {
    const svg = await renderSvg(spec);
    writeFileSync(join(out, `${file}.svg`), svg);
    writeFileSync(join(out, `${file}.png`), svgToPng(svg));
  }
}

if (!values['report-only']) await runAll();
await report();
