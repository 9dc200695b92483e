// How good are a run's silver labels? Scores every silver-labelled pair of the given runs with
// the task's gold reward (a diagnostic for tasks whose gold is a free function: nothing here is
// trained on or counted), then prints silver accuracy by the discriminator's |margin| (quintiles
// within each run, since a reward model's scale drifts between runs) and by gold round.
//
//   node --import tsx bench/silver-accuracy.ts runs/wc/d2po-seed*
import { RunStore } from '../src/store/run-store.js';
import { loadTask } from '../src/tasks/registry.js';
import { stat } from '../src/report/curves.js';

const dirs = process.argv.slice(2);
if (dirs.length === 0) {
  console.error('usage: node --import tsx bench/silver-accuracy.ts RUN_DIR...');
  process.exit(2);
}

const BINS = 5;
/** per bin: accuracy of each run (non-tied gold only) and tie share */
const byMargin = Array.from({ length: BINS }, () => ({ acc: [] as number[], ties: [] as number[], lo: [] as number[] }));
const byRound = new Map<number, { acc: number[]; ties: number[] }>();
const overall: number[] = [];
/** accuracy of the silver labels that trained the policy (not skipped by margin or disagreement) */
const used: number[] = [];
const skipped: number[] = [];

for (const dir of dirs) {
  const store = RunStore.open(dir, { readonly: true });
  const config = store.getMeta<{ task: string }>('config');
  if (!config) throw new Error(`${dir} holds no run config`);
  const silver = store.silverLabels();
  store.close();
  if (silver.length === 0) {
    console.error(`${dir}: no silver labels, skipped`);
    continue;
  }
  const task = await loadTask(config.task);
  const ra = await task.rewards(silver.map((s) => ({ prompt: s.pair.prompt, response: s.pair.a })));
  const rb = await task.rewards(silver.map((s) => ({ prompt: s.pair.prompt, response: s.pair.b })));
  const rows = silver.map((s, i) => ({
    abs: Math.abs(s.margin),
    round: s.pair.round,
    tie: ra[i] === rb[i],
    right: (ra[i] > rb[i] ? 'a' : 'b') === s.preference,
    skip: s.skip !== null,
  }));
  const accOf = (rs: typeof rows) => {
    const decided = rs.filter((r) => !r.tie);
    return { acc: decided.length ? decided.filter((r) => r.right).length / decided.length : NaN, ties: rs.filter((r) => r.tie).length / rs.length };
  };
  overall.push(accOf(rows).acc);
  used.push(accOf(rows.filter((r) => !r.skip)).acc);
  skipped.push(rows.filter((r) => r.skip).length / rows.length);
  const sorted = [...rows].sort((x, y) => x.abs - y.abs);
  for (let b = 0; b < BINS; b++) {
    const part = sorted.slice(Math.floor((b * sorted.length) / BINS), Math.floor(((b + 1) * sorted.length) / BINS));
    const { acc, ties } = accOf(part);
    byMargin[b].acc.push(acc);
    byMargin[b].ties.push(ties);
    byMargin[b].lo.push(part[0].abs);
  }
  for (const round of new Set(rows.map((r) => r.round))) {
    const { acc, ties } = accOf(rows.filter((r) => r.round === round));
    const e = byRound.get(round) ?? { acc: [], ties: [] };
    e.acc.push(acc);
    e.ties.push(ties);
    byRound.set(round, e);
  }
}

const f = (xs: number[]) => {
  const s = stat(xs.filter(Number.isFinite));
  return `${s.mean.toFixed(2)} ± ${s.sd.toFixed(2)}`;
};
console.log(`silver accuracy against gold (gold ties left out), ${overall.length} runs: ${f(overall)}`);
console.log(`of the silver labels that trained the policy: ${f(used)} (skipped: ${f(skipped)} of silver pairs)\n`);
console.log('| discriminator |margin| quintile (within run) | silver accuracy | gold tie share | lowest |margin| (mean) |');
console.log('|---|---|---|---|');
byMargin.forEach((b, i) => console.log(`| ${i + 1} of ${BINS} | ${f(b.acc)} | ${f(b.ties)} | ${stat(b.lo).mean.toFixed(2)} |`));
console.log('\n| candidate round | silver accuracy | gold tie share |');
console.log('|---|---|---|');
for (const [round, e] of [...byRound].sort((x, y) => x[0] - y[0])) console.log(`| ${round} | ${f(e.acc)} | ${f(e.ties)} |`);
