import { join } from 'node:path';
import { byGoldUsed, fmtStat, goldRows, isOnline, labelVariants, labelsToReach, sharedInitialGold, stat, type RunCurve } from './curves.js';
import { lineChartSpec, renderSvg, svgToPng, type ChartOptions, type Series } from './plot.js';
import { mdText, sectionsMarkdown, type Section } from './markdown.js';
import { reportHtml } from './html.js';
import { OutputError, describeWriteError, writeFileAtomic } from '../util/atomic-write.js';
import { ensureDir } from '../util/ensure-dir.js';

const TIME_PARTS = ['time/sample', 'time/score', 'time/policy', 'time/disc', 'time/policy_gold', 'time/gold', 'time/eval'] as const;

/** Points of a per-method chart: mean with a ±1 sd band over runs. */
function seriesOf(table: Map<string, Map<number, ReturnType<typeof stat>>>): Series[] {
  return [...table.entries()].flatMap(([method, m]) =>
    [...m.entries()].map(([x, s]) => ({ x, y: s.mean, series: method, ...(s.n > 1 ? { lo: s.mean - s.sd, hi: s.mean + s.sd } : {}) })),
  );
}

/** `metric` against the training step, per method, pooled over runs. */
function byStep(runs: RunCurve[], metric: string): Map<string, Map<number, ReturnType<typeof stat>>> {
  const acc = new Map<string, Map<number, number[]>>();
  for (const r of runs) {
    let m = acc.get(r.label);
    if (!m) acc.set(r.label, (m = new Map()));
    for (const e of r.evals) if (metric in e.metrics) m.set(e.step, [...(m.get(e.step) ?? []), e.metrics[metric]]);
  }
  return new Map([...acc.entries()].filter(([, m]) => m.size > 0).map(([k, m]) => [k, new Map([...m.entries()].sort((a, b) => a[0] - b[0]).map(([s, v]) => [s, stat(v)]))]));
}

export interface ReportOutput {
  markdown: string;
  /** the PNG charts written */
  files: string[];
  /** report.html, written beside them */
  html: string;
}

/**
 * The comparison report of a set of runs (several methods and seeds of one task): dev gold reward
 * against online gold labels, discriminator and implicit-reward accuracy on current-policy pairs
 * over training, the share of tied gold labels, and where the time of a step goes. Writes PNG
 * charts and report.html into `outDir`; returns the Markdown.
 */
export async function writeReport(allRuns: RunCurve[], outDir: string): Promise<ReportOutput> {
  if (allRuns.length === 0) throw new Error('no runs to report');
  const runs = labelVariants(allRuns).sort((a, b) => a.seed - b.seed);
  try {
    ensureDir(outDir);
  } catch (err) {
    throw new OutputError(`cannot create the report folder ${outDir}: ${describeWriteError(err)}`);
  }
  const files: string[] = [];
  const chart = async (file: string, title: string, x: string, y: string, points: Series[], opts: ChartOptions = {}) => {
    if (points.length === 0 && !opts.markers?.length) return undefined;
    const svg = await renderSvg(lineChartSpec(title, x, y, points, opts));
    const path = join(outDir, file);
    await writeFileAtomic(path, svgToPng(svg));
    files.push(path);
    return { file, svg };
  };
  const task = [...new Set(runs.map((r) => r.task.split('/').pop()))].join(', ');
  const methods = [...new Set(runs.map((r) => r.label))];
  const seeds = (m: string) => runs.filter((r) => r.label === m).map((r) => r.seed);
  // a run not finished shows in the curves as far as it got, never in final numbers
  const done = runs.filter((r) => r.status === 'done');
  const unfinished = runs.filter((r) => r.status !== 'done').map((r) => `${r.label} seed ${r.seed} (${r.status} at step ${r.step} of ${r.steps})`);
  const runList = (name: (m: string) => string) =>
    `Runs: ${methods.map((m) => `${name(m)} (seeds ${seeds(m).join(', ')})`).join('; ')}. Mean ± sample sd over seeds.` +
    (unfinished.length ? ` Not finished, in the curves only: ${unfinished.map(name).join('; ')}.` : '');
  const sections: Section[] = [];

  // the paper's Figure 3: reward against online gold; offline methods (all gold initial) as stars
  const initial = sharedInitialGold(runs);
  const shift = (points: Series[]) => points.map((p) => ({ ...p, x: p.x - initial }));
  const online = runs.filter(isOnline);
  const offline = runs.filter((r) => !isOnline(r)).map((r) => ({ ...r, evals: r.evals.slice(-1) }));
  const beyond = `not counting the ${initial} initial gold labels every method starts from`;
  sections.push({
    title: 'Dev gold reward by gold labels used',
    table: goldRows(byGoldUsed(runs, 'eval/reward')),
    chart: await chart(
      'reward-vs-gold.png',
      `${task}: dev gold reward`,
      initial > 0 ? 'online gold labels' : 'gold labels used',
      'mean dev gold reward',
      shift(seriesOf(byGoldUsed(online, 'eval/reward'))),
      { ...(initial > 0 && { subtitle: beyond }), markers: shift(seriesOf(byGoldUsed(offline, 'eval/reward'))) },
    ),
    note:
      (initial > 0 ? `The chart counts online gold labels, ${beyond}` : 'The chart counts gold labels used') +
      (offline.length ? `; offline methods (all their gold initial) are stars at their final reward${initial > 0 ? ` and gold labels used minus ${initial}` : ''}.` : '.'),
  });

  const finals = methods.map((m) => {
    const f = done.filter((r) => r.label === m).flatMap((r) => {
      const v = r.evals.at(-1)?.metrics['eval/reward'];
      return v === undefined ? [] : [{ seed: r.seed, v }];
    });
    return [m, f.length ? fmtStat(stat(f.map((x) => x.v))) : 'none finished', f.map((x) => `${x.seed}: ${x.v.toFixed(2)}`).join(', ')];
  });
  sections.push({ title: 'Final dev gold reward', table: { head: ['method', 'mean ± sd', 'per seed'], rows: finals } });

  // the paper's headline: online gold to reach OPO-gold's final reward, seed by seed
  const reach = labelsToReach(done, 'opo-gold');
  if (reach.length) {
    const rows = [...new Set(reach.map((x) => x.label))].map((label) => {
      const mine = reach.filter((x) => x.label === label);
      const ratios = mine.map((x) => x.ratio).filter((v): v is number => v !== null);
      const perSeed = mine.map((x) => `${x.seed}: ${x.needed === null ? 'not reached' : x.needed === 0 ? '0, at the warm start' : x.needed} (${x.target.toFixed(2)})`).join(', ');
      return [label, `${ratios.length} of ${mine.length}`, ratios.length ? fmtStat(stat(ratios)) : '-', perSeed];
    });
    sections.push({
      title: "Online gold to reach OPO-gold's final reward",
      table: { head: ['method', 'seeds that reach it', "OPO-gold's online gold / this method's (mean ± sd over those seeds)", 'per seed: online gold needed (target reward)'], rows },
      note: "Each seed's target is the final dev reward of OPO-gold's run of the same seed; a method reaches it at its first evaluation at or above it. A ratio of 3 means a third of OPO-gold's online labels. A seed met at the warm start (OPO-gold ended no higher than it began) has no ratio.",
    });
  }

  // the paper's Figures 5 and 6: the discriminator's and the policy's accuracy on current-policy pairs
  const acc = byStep(runs, 'eval/disc_acc');
  const implicit = byStep(runs, 'eval/implicit_acc');
  const accuracy = await chart('disc-accuracy.png', `${task}: accuracy against gold on current-policy pairs`, 'policy step', 'accuracy', [
    ...seriesOf(acc).map((p) => ({ ...p, series: `${p.series}: discriminator` })),
    ...seriesOf(implicit).map((p) => ({ ...p, series: `${p.series}: implicit reward` })),
  ]);
  if (acc.size > 0)
    sections.push({ title: 'Discriminator accuracy against gold on fresh current-policy pairs (gold ties left out)', table: goldRows(acc, 'step'), chart: accuracy });
  if (implicit.size > 0)
    sections.push({ title: 'Policy implicit-reward accuracy (DPO reward of the policy)', table: goldRows(implicit, 'step'), ...(acc.size === 0 && { chart: accuracy }) });

  const ties = methods.map((m) => {
    const shares = runs.filter((r) => r.label === m).flatMap((r) => r.series('round/tie_share').map((p) => p.value));
    const fresh = runs.filter((r) => r.label === m).flatMap((r) => r.evals.map((e) => e.metrics['eval/gold_tie_share']).filter((v) => v !== undefined));
    return [m, fmtStat(stat(shares)), fmtStat(stat(fresh))];
  });
  sections.push({ title: 'Tied pairs', table: { head: ['method', 'tie share of gold rounds (paid, train nothing)', 'tie share of fresh policy pairs'], rows: ties } });

  const timeRows = methods.map((m) => {
    const mine = runs.filter((r) => r.label === m);
    return [
      m,
      ...TIME_PARTS.map((name) => {
        const vs = mine.flatMap((r) => r.series(name).map((p) => p.value));
        return vs.length ? `${stat(vs).mean.toFixed(2)} (${vs.length})` : '-';
      }),
    ];
  });
  sections.push({
    title: 'Time per event, seconds (mean, with the count of events)',
    table: { head: ['method', ...TIME_PARTS.map((t) => t.slice(5))], rows: timeRows },
    note: 'sample, score, policy: one online step (sampling the pairs, scoring them with the discriminator, the policy update); disc, policy_gold, gold: one gold round (discriminator update, policy epochs on the gold pairs, the gold source); eval: one evaluation.',
  });

  const html = join(outDir, 'report.html');
  await writeFileAtomic(html, reportHtml(`${task}: comparison of runs`, runList((m) => m), sections, runs));
  return { markdown: sectionsMarkdown(runList(mdText), sections), files, html };
}
