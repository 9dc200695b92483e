import { UsageError, parseFlags, type Command } from '../command.js';
import { findRuns, summarizeRun, type RunSummary } from '../../store/run-summary.js';

const help = `usage: d2po runs [ROOT] [--json]
       d2po runs show DIR [--json]

Lists the run folders under ROOT (default runs/): status (running, done or failed; a run whose
process died shows as failed; a folder whose run.db cannot be read shows as broken, with the
reason on stderr and in 'show' and --json), method, step/steps, gold labels used against the budget, and the
last evaluation's dev gold reward. 'show' prints one run in full.

options:
  --json   JSON: an array of run summaries, or one summary for 'show', with status, method,
           seed, step, steps, gold_used (= gold_initial, the initial set, + gold_online),
           gold_budget, gold_labels, silver_labels, warm_start (the shared warm start's hash,
           or null), last_eval, ...`;

function fmt(x: number | undefined): string {
  return x === undefined || !Number.isFinite(x) ? '-' : x.toFixed(3);
}

function table(runs: RunSummary[]): string {
  const rows = [
    ['dir', 'status', 'method', 'step', 'gold', 'reward'],
    ...runs.map((r) => [r.dir, r.status, r.method, `${r.step}/${r.steps}`, `${r.gold_used}/${r.gold_budget}`, fmt(r.last_eval?.metrics['eval/reward'])]),
  ];
  const w = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  return rows.map((r) => r.map((v, c) => v.padEnd(w[c])).join('  ').trimEnd()).join('\n');
}

function showText(s: RunSummary): string {
  const lines = [
    `run:        ${s.dir}`,
    `status:     ${s.status}${s.reason ? ` (${s.reason})` : ''}`,
    `method:     ${s.method} on ${s.task}, seed ${s.seed ?? '?'}`,
    `step:       ${s.step}/${s.steps}`,
    `gold:       ${s.gold_used} used of ${s.gold_budget}: ${s.gold_initial} initial, ${s.gold_online} online (${s.gold_labels} stored labels)`,
    `silver:     ${s.silver_labels} labels over ${s.pairs} pairs`,
    `checkpoints: ${s.checkpoints}`,
  ];
  if (s.warm_start) lines.push(`warm start: ${s.warm_start} (shared)`);
  if (s.last_eval) {
    lines.push(`last evaluation (step ${s.last_eval.step}, gold ${s.last_eval.gold_used}):`);
    for (const [k, v] of Object.entries(s.last_eval.metrics)) lines.push(`  ${k.padEnd(24)} ${fmt(v)}`);
  }
  return lines.join('\n');
}

export const runs: Command = {
  name: 'runs',
  summary: 'list runs and their status, or show one run (runs show DIR)',
  help,
  async run(argv) {
    const { values, positionals } = parseFlags({ args: argv, options: { json: { type: 'boolean', default: false } }, strict: true, allowPositionals: true });
    if (positionals[0] === 'show') {
      if (positionals.length !== 2) throw new UsageError('usage: d2po runs show DIR [--json]');
      const dirs = findRuns(positionals[1]);
      if (dirs.length !== 1 || dirs[0] !== positionals[1]) throw new UsageError(`${positionals[1]} is not a run folder (no run.db)`);
      const s = summarizeRun(positionals[1]);
      console.log(values.json ? JSON.stringify(s, null, 2) : showText(s));
      return 0;
    }
    if (positionals.length > 1) throw new UsageError('usage: d2po runs [ROOT] [--json]');
    const root = positionals[0] ?? 'runs';
    const list = findRuns(root).map(summarizeRun);
    if (values.json) console.log(JSON.stringify(list, null, 2));
    else {
      console.log(list.length ? table(list) : `no runs under ${root}`);
      for (const r of list) if (r.status === 'broken') console.error(`broken: ${r.reason}`);
    }
    return 0;
  },
};
