// One table for discriminator levers: each variant's D2PO runs beside the base D2PO runs of the
// same seeds (the same warm start), with OPO with gold of those seeds as the reference. Per
// variant: final dev reward, its paired difference from the base, silver-label accuracy against
// the task's gold (ties left out; tasks whose gold is a free function), the online gold labels it
// needed to reach OPO-gold's final reward (the paper's headline: OPO-gold's labels over those),
// the online phase's compute in minutes (its time/* metrics summed: what a lever adds, read
// beside the base; runs at different load differ by more than that), and where the policy ended:
// its KL from the initial policy at the last evaluation. Below the table, over every variant's
// seeds paired with the base's: how the change in final reward correlates with the change in KL
// and with the change in the discriminator's accuracy on current-policy pairs (eval/disc_acc).
//
//   node --import tsx bench/lever-table.ts opo-gold=RUN_DIR... base=RUN_DIR... NAME=RUN_DIR...
//
// Names other than opo-gold are variants; `base` is the one differences are taken from. Shell
// braces give the seeds: base=runs/sweep-wc/d2po-online300-seed{0,1,2,3,4}.
import { RunStore } from '../src/store/run-store.js';
import { labelsToReach, pearson, readRunCurve, stat, type RunCurve } from '../src/report/curves.js';
import { accuracy, silverAgainstGold } from './silver-gold.js';

const groups = new Map<string, string[]>();
for (const arg of process.argv.slice(2)) {
  const i = arg.indexOf('=');
  if (i <= 0) {
    console.error('usage: node --import tsx bench/lever-table.ts opo-gold=RUN_DIR... base=RUN_DIR... NAME=RUN_DIR...');
    process.exit(2);
  }
  groups.set(arg.slice(0, i), [...(groups.get(arg.slice(0, i)) ?? []), arg.slice(i + 1)]);
}
if (!groups.has('opo-gold') || !groups.has('base')) throw new Error('give opo-gold=RUN_DIR... and base=RUN_DIR...');

interface Row {
  seed: number;
  final: number;
  silver: number;
  needed: number | null;
  ratio: number | null;
  minutes: number;
  kl: number;
  discAcc: number;
}

/** Minutes the online phase spent working: its time/* metrics (sampling, scoring, updates, gold rounds, evaluations) summed after the warm start. */
function onlineMinutes(s: RunStore): number {
  return (s.db.prepare("SELECT COALESCE(SUM(value), 0) FROM metrics WHERE step > 0 AND name LIKE 'time/%'").pluck().get() as number) / 60;
}

const curves = new Map<string, RunCurve[]>();
for (const [name, dirs] of groups) curves.set(name, dirs.map((d) => ({ ...readRunCurve(d), label: name })));
for (const [name, runs] of curves) {
  const unfinished = runs.filter((r) => r.status !== 'done');
  if (unfinished.length) console.error(`${name}: left out, not finished: ${unfinished.map((r) => r.dir).join(', ')}`);
  curves.set(name, runs.filter((r) => r.status === 'done'));
}
const reference = curves.get('opo-gold')!;

const rows = new Map<string, Row[]>();
for (const [name, runs] of curves) {
  if (name === 'opo-gold') continue;
  const reach = new Map(labelsToReach([...reference, ...runs], 'opo-gold').map((r) => [r.seed, r]));
  const list: Row[] = [];
  for (const r of runs) {
    const s = RunStore.open(r.dir, { readonly: true });
    const minutes = onlineMinutes(s);
    const { rows: silver } = await silverAgainstGold(s, r.task).finally(() => s.close());
    const reached = reach.get(r.seed);
    const last = r.evals.at(-1)!.metrics;
    list.push({
      seed: r.seed,
      final: last['eval/reward'],
      silver: accuracy(silver),
      needed: reached?.needed ?? null,
      ratio: reached?.ratio ?? null,
      minutes,
      kl: last['eval/kl'] ?? NaN,
      discAcc: last['eval/disc_acc'] ?? NaN,
    });
  }
  rows.set(name, list.sort((a, b) => a.seed - b.seed));
}

const ms = (xs: number[], d = 2) => {
  const s = stat(xs);
  return xs.length > 1 ? `${s.mean.toFixed(d)} ± ${s.sd.toFixed(d)}` : xs.length ? s.mean.toFixed(d) : '-';
};
const base = new Map(rows.get('base')!.map((r) => [r.seed, r]));
console.log(`OPO-gold's final reward, seeds ${reference.map((r) => r.seed).join(', ')}: ${ms(reference.map((r) => r.evals.at(-1)!.metrics['eval/reward']))}\n`);
console.log('| variant | seeds | final reward | paired with base: difference (wins) | silver accuracy | online gold to reach OPO-gold (ratio; seeds that did not) | online compute, minutes | KL from the initial policy |');
console.log('|---|---|---|---|---|---|---|---|');
for (const [name, list] of rows) {
  const paired = list.filter((r) => base.has(r.seed) && name !== 'base').map((r) => r.final - base.get(r.seed)!.final);
  const reached = list.filter((r) => r.ratio !== null);
  // met at the warm start: OPO-gold ended no higher than it began, so no ratio
  const atStart = list.filter((r) => r.needed === 0).length;
  const missed = list.length - reached.length - atStart;
  console.log(
    [
      name,
      list.map((r) => r.seed).join(', '),
      `${ms(list.map((r) => r.final))} (${list.map((r) => r.final.toFixed(2)).join(', ')})`,
      name === 'base' ? '-' : paired.length ? `${ms(paired)} (${paired.filter((d) => d > 0).length} of ${paired.length})` : '-',
      ms(list.map((r) => r.silver)),
      `${ms(reached.map((r) => r.needed!), 0)} (${ms(reached.map((r) => r.ratio!))}x${missed ? `; ${missed} not reached` : ''}${atStart ? `; ${atStart} met at the warm start` : ''})`,
      ms(list.map((r) => r.minutes), 1),
      `${ms(list.map((r) => r.kl), 1)} (${list.map((r) => r.kl.toFixed(1)).join(', ')})`,
    ].join(' | ').replace(/^/, '| ').replace(/$/, ' |'),
  );
}

// Each variant's seed against the base's: what moves with the reward, the policy's distance or the labels' quality.
const deltas = [...rows]
  .filter(([name]) => name !== 'base')
  .flatMap(([, list]) => list.filter((r) => base.has(r.seed)).map((r) => ({ r, b: base.get(r.seed)! })));
const reward = deltas.map(({ r, b }) => r.final - b.final);
const corr = (f: (x: Row) => number) => pearson(reward, deltas.map(({ r, b }) => f(r) - f(b))).toFixed(2);
console.log(
  `\nOver ${deltas.length} runs paired with the base by seed, the change in final reward correlates at ${corr((x) => x.kl)} with the change in KL ` +
    `and at ${corr((x) => x.discAcc)} with the change in the discriminator's accuracy on current-policy pairs (eval/disc_acc).`,
);
