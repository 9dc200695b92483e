// How good are a run's silver labels? Scores every silver-labelled pair of the given runs with
// the task's gold reward (a diagnostic for tasks whose gold is a free function: nothing here is
// trained on or counted), then prints silver accuracy by the discriminator's |margin| (quintiles
// within each run, since a reward model's scale drifts between runs) and by gold round.
// With --floor, beside each run's silver accuracy: that of the floor every learned discriminator
// must beat, a `bow` discriminator (logistic regression on token presence) trained on the same
// run's initial gold set and scoring the same silver pairs.
//
//   node --import tsx bench/silver-accuracy.ts [--floor] runs/wc/d2po-seed*
import { join } from 'node:path';
import { RunStore, type PairRecord } from '../src/store/run-store.js';
import { readConfig } from '../src/model/index.js';
import { BowDiscriminator } from '../src/d2po/bow-discriminator.js';
import { examplesOf } from '../src/d2po/warm-start.js';
import { validateConfig, type RunConfig } from '../src/d2po/config.js';
import { hashSeed } from '../src/util/rng.js';
import { accuracy, silverAgainstGold, type SilverRow } from './silver-gold.js';
import { stat } from '../src/report/curves.js';

const floorFlag = process.argv.includes('--floor');
const dirs = process.argv.slice(2).filter((a) => a !== '--floor');
if (dirs.length === 0) {
  console.error('usage: node --import tsx bench/silver-accuracy.ts [--floor] RUN_DIR...');
  process.exit(2);
}
/** per run: [the run's silver accuracy, the bow floor's on the same pairs] */
const floorRows: { dir: string; run: number; floor: number; initial: number }[] = [];

/** The bow floor trained on the run's initial gold (the stored config's bow settings, defaults filled in; 6 epochs), scoring each silver pair: +1 = a. */
function floorPreferences(store: RunStore, pairs: PairRecord[], vocab: number, c: RunConfig): number[] {
  const bow = new BowDiscriminator(vocab, { lr: c.discriminator.bowLr, l2: c.discriminator.l2, batchSize: c.discriminator.batchSize });
  try {
    bow.train(examplesOf(store.goldLabels([0])), 6, hashSeed(c.seed, 41));
    const scores = bow.score({ promptIds: [...pairs, ...pairs].map((p) => p.promptIds), responseIds: [...pairs.map((p) => p.aIds), ...pairs.map((p) => p.bIds)] })[0];
    return pairs.map((_, i) => Math.sign(scores[i] - scores[i + pairs.length]));
  } finally {
    bow.dispose();
  }
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
  const floor = floorFlag && silver.length ? floorPreferences(store, silver.map((x) => x.pair), (await readConfig(join((config as RunConfig).model, 'config.json'))).vocab_size, validateConfig(config, dir)) : null;
  const initial = store.goldUsed('initial');
  const { rows, ra, rb } = await silverAgainstGold(store, config.task);
  store.close();
  if (silver.length === 0) {
    console.error(`${dir}: no silver labels, skipped`);
    continue;
  }
  const accOf = (rs: SilverRow[]) => ({ acc: accuracy(rs), ties: rs.filter((r) => r.tie).length / rs.length });
  overall.push(accOf(rows).acc);
  if (floor) {
    const decided = rows.map((r, i) => ({ ...r, i })).filter((r) => !r.tie);
    const floorRight = decided.filter((r) => (floor[r.i] > 0 ? 'a' : floor[r.i] < 0 ? 'b' : 'tie') === (ra[r.i] > rb[r.i] ? 'a' : 'b')).length;
    floorRows.push({ dir, run: accOf(rows).acc, floor: floorRight / Math.max(1, decided.length), initial });
  }
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
if (floorRows.length) {
  console.log('\n| run | initial gold | silver accuracy (its discriminator) | bow floor on the same pairs |');
  console.log('|---|---|---|---|');
  for (const r of floorRows) console.log(`| ${r.dir} | ${r.initial} | ${r.run.toFixed(3)} | ${r.floor.toFixed(3)} |`);
  console.log(`| mean ± sd | | ${f(floorRows.map((r) => r.run))} | ${f(floorRows.map((r) => r.floor))} |`);
}
console.log('\n| candidate round | silver accuracy | gold tie share |');
console.log('|---|---|---|');
for (const [round, e] of [...byRound].sort((x, y) => x[0] - y[0])) console.log(`| ${round} | ${f(e.acc)} | ${f(e.ties)} |`);
