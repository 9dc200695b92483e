import { join } from 'node:path';
import { byGoldUsed, fmtStat, goldTable, labelVariants, mdText, stat, type RunCurve } from './curves.js';
import { lineChartSpec, renderSvg, svgToPng, type Series } from './plot.js';
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
  files: string[];
}

/**
 * The comparison report of a set of runs (several methods and seeds of one task): dev gold reward
 * against gold labels used, discriminator accuracy on current-policy pairs over training, the
 * share of tied gold labels, and where the time of a step goes. Writes PNG charts into `outDir`.
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
  const chart = async (name: string, title: string, x: string, y: string, points: Series[]) => {
    if (points.length === 0) return;
    const path = join(outDir, name);
    await writeFileAtomic(path, svgToPng(await renderSvg(lineChartSpec(title, x, y, points))));
    files.push(path);
  };
  const task = [...new Set(runs.map((r) => r.task.split('/').pop()))].join(', ');
  const methods = [...new Set(runs.map((r) => r.label))];
  const lines: string[] = [];
  const seeds = (m: string) => runs.filter((r) => r.label === m).map((r) => r.seed);
  lines.push(`Runs: ${methods.map((m) => `${mdText(m)} (seeds ${seeds(m).join(', ')})`).join('; ')}. Mean ± sample sd over seeds.`, '');

  const reward = byGoldUsed(runs, 'eval/reward');
  lines.push('### Dev gold reward by gold labels used', '', goldTable(reward), '');
  await chart('reward-vs-gold.png', `${task}: dev gold reward`, 'gold labels used', 'mean dev gold reward', seriesOf(reward));

  const finals = methods.map((m) => {
    const f = runs.filter((r) => r.label === m).map((r) => r.evals.at(-1)?.metrics['eval/reward']).filter((v): v is number => v !== undefined);
    return `| ${mdText(m)} | ${fmtStat(stat(f))} | ${f.map((v) => v.toFixed(2)).join(', ')} |`;
  });
  lines.push('### Final dev gold reward', '', '| method | mean ± sd | per seed |', '|---|---|---|', ...finals, '');

  const acc = byStep(runs, 'eval/disc_acc');
  if (acc.size > 0) {
    lines.push('### Discriminator accuracy against gold on fresh current-policy pairs (gold ties left out)', '');
    lines.push(goldTable(acc, 'step'), '');
    await chart('disc-accuracy.png', `${task}: discriminator accuracy on current-policy pairs`, 'policy step', 'accuracy', seriesOf(acc));
  }
  const implicit = byStep(runs, 'eval/implicit_acc');
  if (implicit.size > 0) lines.push('### Policy implicit-reward accuracy (DPO reward of the policy)', '', goldTable(implicit, 'step'), '');

  const ties = methods.map((m) => {
    const shares = runs.filter((r) => r.label === m).flatMap((r) => r.series('round/tie_share').map((p) => p.value));
    const fresh = runs.filter((r) => r.label === m).flatMap((r) => r.evals.map((e) => e.metrics['eval/gold_tie_share']).filter((v) => v !== undefined));
    return `| ${mdText(m)} | ${fmtStat(stat(shares))} | ${fmtStat(stat(fresh))} |`;
  });
  lines.push('### Tied pairs', '', '| method | tie share of gold rounds (paid, train nothing) | tie share of fresh policy pairs |', '|---|---|---|', ...ties, '');

  const timeRows = methods.map((m) => {
    const mine = runs.filter((r) => r.label === m);
    const cells = TIME_PARTS.map((name) => {
      const vs = mine.flatMap((r) => r.series(name).map((p) => p.value));
      return vs.length ? `${stat(vs).mean.toFixed(2)} (${vs.length})` : '-';
    });
    return `| ${mdText(m)} | ${cells.join(' | ')} |`;
  });
  lines.push(
    '### Time per event, seconds (mean, with the count of events)',
    '',
    `| method | ${TIME_PARTS.map((t) => t.slice(5)).join(' | ')} |`,
    `|---|${TIME_PARTS.map(() => '---').join('|')}|`,
    ...timeRows,
    '',
    'sample, score, policy: one online step (sampling the pairs, scoring them with the discriminator, the policy update); disc, policy_gold, gold: one gold round (discriminator update, policy epochs on the gold pairs, the gold source); eval: one evaluation.',
    '',
  );
  return { markdown: lines.join('\n'), files };
}
