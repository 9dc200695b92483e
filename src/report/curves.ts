import { RunStore, type PairRecord } from '../store/run-store.js';
import { isMethod, presetConfig } from '../d2po/presets.js';
import { runConfigSchema } from '../d2po/config.js';
import { mdTable, type Table } from './markdown.js';
import { isSecretField, redactCommandLine, redactSecrets } from '../util/secrets.js';

/** One evaluation of one run: where it stood (step, gold labels used) and its metrics. */
export interface EvalPoint {
  step: number;
  goldUsed: number;
  metrics: Record<string, number>;
}

export interface RunCurve {
  dir: string;
  method: string;
  /** what the report calls the run's group: the method, plus what sets its variant apart (labelVariants) */
  label: string;
  /** the stored run config */
  config: Record<string, unknown>;
  /** meta status (done, running, failed, ...) and how far it got: an unfinished run has no final numbers */
  status: string;
  step: number;
  steps: number;
  task: string;
  seed: number;
  goldBudget: number;
  /** gold labels of its initial offline set (ledger round 0) */
  goldInitial: number;
  /** meta warm_start: the content hash of the shared warm start it reused; null when it made its own */
  warmStart: string | null;
  /** meta command: the command line that started it, where the run recorded one (secrets redacted) */
  command: string | null;
  /** the pair it sampled last */
  lastPair: Pick<PairRecord, 'step' | 'prompt' | 'a' | 'b'> | null;
  evals: EvalPoint[];
  /** every metric row named `name` (round/*, time/* ...), in order */
  series(name: string): { step: number; goldUsed: number; value: number }[];
}

/** Reads a run's evaluations (the eval/* metrics grouped by step) from its store. */
export function readRunCurve(dir: string): RunCurve {
  const store = RunStore.open(dir, { readonly: true });
  try {
    const stored = store.getMeta<Record<string, unknown> & { method: string; task: string; seed: number; budget: { gold: number } }>('config');
    if (!stored) throw new Error(`${dir} holds no run config`);
    // fields added since a run was stored take their defaults, so that they do not tell runs
    // apart; runs stored before secrets were redacted on write may still hold one
    const parsed = runConfigSchema.safeParse(stored);
    const config = redactSecrets(parsed.success ? { ...stored, ...parsed.data } : stored);
    const rows = store.metrics();
    const byStep = new Map<number, EvalPoint>();
    for (const r of rows) {
      if (!r.name.startsWith('eval/')) continue;
      let p = byStep.get(r.step);
      if (!p) byStep.set(r.step, (p = { step: r.step, goldUsed: r.goldUsed, metrics: {} }));
      p.metrics[r.name] = r.value;
    }
    const evals = [...byStep.values()].sort((a, b) => a.step - b.step);
    const command = store.getMeta<unknown>('command');
    const pair = store.lastPair();
    return {
      dir,
      method: config.method,
      label: config.method,
      config,
      status: store.getMeta<string>('status') ?? 'unknown',
      step: store.getMeta<number>('step') ?? 0,
      steps: store.getMeta<number>('steps') ?? 0,
      task: config.task,
      seed: config.seed,
      goldBudget: config.budget.gold,
      goldInitial: store.goldUsed('initial'),
      warmStart: store.getMeta<string>('warm_start') ?? null,
      command: typeof command === 'string' ? redactCommandLine(command) : null,
      lastPair: pair ? { step: pair.step, prompt: pair.prompt, a: pair.a, b: pair.b } : null,
      evals,
      series: (name) => rows.filter((r) => r.name === name).map((r) => ({ step: r.step, goldUsed: r.goldUsed, value: r.value })),
    };
  } finally {
    store.close();
  }
}

/** Whether the run buys gold online (budget.rounds > 0); offline methods buy all of it up front. */
export function isOnline(run: RunCurve): boolean {
  const rounds = (run.config.budget as { rounds?: unknown } | undefined)?.rounds;
  return typeof rounds === 'number' && rounds > 0;
}

/**
 * The initial gold set every online run starts from: the smallest initial set among them (0
 * without online runs). Reward is plotted against gold beyond it, as the paper's figures do.
 */
export function sharedInitialGold(runs: RunCurve[]): number {
  const online = runs.filter(isOnline).map((r) => r.goldInitial);
  return online.length ? Math.min(...online) : 0;
}

/** How many online gold labels a run needed to reach a reward, or null when it never did. */
export function onlineGoldToReach(run: RunCurve, reward: number): number | null {
  const e = run.evals.find((p) => (p.metrics['eval/reward'] ?? -Infinity) >= reward);
  return e ? e.goldUsed - run.goldInitial : null;
}

/**
 * The paper's headline, per group and seed: the online gold labels a group's run needed to
 * reach the final reward of the reference group's run of the same seed (OPO-gold), and the
 * ratio of the reference's online gold to that (3 = a third of the labels). Only online groups
 * other than the reference; a seed without both runs is left out; null = never reached.
 */
export function labelsToReach(runs: RunCurve[], reference: string): { label: string; seed: number; target: number; needed: number | null; ratio: number | null }[] {
  const ref = new Map(runs.filter((r) => r.label === reference && r.evals.length).map((r) => [r.seed, r]));
  return runs
    .filter((r) => r.label !== reference && isOnline(r) && ref.has(r.seed))
    .map((r) => {
      const o = ref.get(r.seed)!;
      const last = o.evals.at(-1)!;
      const target = last.metrics['eval/reward'];
      const needed = onlineGoldToReach(r, target);
      const refGold = last.goldUsed - o.goldInitial;
      // reached with no online gold: OPO-gold ended no higher than the shared warm start, and a ratio means nothing
      return { label: r.label, seed: r.seed, target, needed, ratio: needed === null || needed === 0 ? null : refGold / needed };
    });
}

/** Fields that differ between seeds of one experiment without making it another variant. */
const NOT_VARIANT = new Set(['seed', 'out', 'threads', 'device', 'eval.every', 'checkpoint.every']);

function leaves(x: unknown, prefix = '', out = new Map<string, string>()): Map<string, string> {
  if (x !== null && typeof x === 'object' && !Array.isArray(x)) {
    for (const [k, v] of Object.entries(x)) leaves(v, prefix ? `${prefix}.${k}` : k, out);
  } else out.set(prefix, JSON.stringify(x));
  return out;
}

/** What a label shows of a field's value: a path by its last part (a model by its folder's name). */
function shown(v: string | undefined): string {
  if (v === undefined) return 'undefined';
  return v.startsWith('"') ? (JSON.parse(v) as string).split('/').pop() || "''" : v;
}

/**
 * Names variants of one method apart: among the fields that vary between runs of the same method
 * (seed, folder and the like aside), each run is labelled with those where it departs from the
 * method's preset, e.g. `d2po pooling=sum marginThreshold=5`, so a report compares variants
 * side by side. A run on the preset's values keeps the method's name; a run the caller named keeps that name.
 */
export function labelVariants(runs: RunCurve[]): RunCurve[] {
  const flat = runs.map((r) => leaves(r.config));
  const labels = runs.map((r) => r.label);
  for (const method of new Set(runs.map((r) => r.method))) {
    // a run named by the caller (label already set) keeps its name
    const idx = runs.map((r, i) => (r.method === method && r.label === method ? i : -1)).filter((i) => i >= 0);
    // a field varies only where what a label shows of it varies: the same model folder reached
    // by two paths (two checkouts) is one model, not two variants
    const keys = [...new Set(idx.flatMap((i) => [...flat[i].keys()]))].filter(
      (k) => !NOT_VARIANT.has(k) && !k.split('.').some(isSecretField) && new Set(idx.map((i) => shown(flat[i].get(k)))).size > 1,
    );
    const preset = isMethod(method) ? leaves(presetConfig(method)) : new Map<string, string>();
    for (const i of idx) {
      const parts = keys.filter((k) => shown(flat[i].get(k)) !== shown(preset.get(k))).map((k) => `${k.split('.').pop()}=${shown(flat[i].get(k))}`);
      if (parts.length) labels[i] = `${method} ${parts.join(' ')}`;
    }
  }
  return runs.map((r, i) => ({ ...r, label: labels[i] }));
}

export interface Stat {
  mean: number;
  sd: number;
  n: number;
  min: number;
  max: number;
}

/** Mean, sample standard deviation (0 for one value), count and range. */
export function stat(xs: number[]): Stat {
  const n = xs.length;
  if (n === 0) return { mean: NaN, sd: NaN, n: 0, min: NaN, max: NaN };
  const mean = xs.reduce((s, x) => s + x, 0) / n;
  const sd = n > 1 ? Math.sqrt(xs.reduce((s, x) => s + (x - mean) ** 2, 0) / (n - 1)) : 0;
  return { mean, sd, n, min: Math.min(...xs), max: Math.max(...xs) };
}

/** Pearson's correlation of paired values; NaN with fewer than two pairs or where either side does not vary. */
export function pearson(xs: number[], ys: number[]): number {
  if (xs.length !== ys.length) throw new Error(`pearson: ${xs.length} values against ${ys.length}`);
  const mx = stat(xs).mean;
  const my = stat(ys).mean;
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (let i = 0; i < xs.length; i++) {
    sxy += (xs[i] - mx) * (ys[i] - my);
    sxx += (xs[i] - mx) ** 2;
    syy += (ys[i] - my) ** 2;
  }
  return xs.length > 1 && sxx > 0 && syy > 0 ? sxy / Math.sqrt(sxx * syy) : NaN;
}

/**
 * The value of `metric` at each gold-labels-used point, per method (run label), pooled over runs (seeds).
 * Where a run evaluated several times at one gold count (D2PO's silver steps between rounds),
 * the last evaluation at that count stands for it.
 */
export function byGoldUsed(runs: RunCurve[], metric: string): Map<string, Map<number, Stat>> {
  const perMethod = new Map<string, Map<number, number[]>>();
  for (const run of runs) {
    const last = new Map<number, number>();
    for (const e of run.evals) if (metric in e.metrics) last.set(e.goldUsed, e.metrics[metric]);
    let m = perMethod.get(run.label);
    if (!m) perMethod.set(run.label, (m = new Map()));
    for (const [g, v] of last) m.set(g, [...(m.get(g) ?? []), v]);
  }
  const out = new Map<string, Map<number, Stat>>();
  for (const [method, m] of perMethod) {
    out.set(method, new Map([...m.entries()].sort((a, b) => a[0] - b[0]).map(([g, vs]) => [g, stat(vs)])));
  }
  return out;
}

/** `2.31 ± 0.40` (or `2.31` for one run); `-` for no data. */
export function fmtStat(s: Stat | undefined, digits = 2): string {
  if (!s || s.n === 0) return '-';
  return s.n > 1 ? `${s.mean.toFixed(digits)} ± ${s.sd.toFixed(digits)}` : s.mean.toFixed(digits);
}

/** One row per gold-used point (or step), one column per method. */
export function goldRows(table: Map<string, Map<number, Stat>>, label = 'gold used'): Table {
  const methods = [...table.keys()];
  const golds = [...new Set(methods.flatMap((m) => [...table.get(m)!.keys()]))].sort((a, b) => a - b);
  return { head: [label, ...methods], rows: golds.map((g) => [String(g), ...methods.map((m) => fmtStat(table.get(m)!.get(g)))]) };
}

/** A markdown table: one row per gold-used point, one column per method. */
export function goldTable(table: Map<string, Map<number, Stat>>, label = 'gold used'): string {
  return mdTable(goldRows(table, label));
}
