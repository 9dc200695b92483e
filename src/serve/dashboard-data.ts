/**
 * What the dashboard page shows besides the run summary: the reward and discriminator-accuracy
 * curves from the run's metrics, and the gold labels stored last with who gave them.
 */
import type { Preference, RunStore } from '../store/run-store.js';

/** Metrics the dashboard plots: dev gold reward, the discriminator's accuracy on fresh pairs and on each gold round. */
const DASHBOARD_METRICS = ['eval/reward', 'eval/disc_acc', 'round/disc_acc'] as const;

export interface RecentLabel {
  pair_id: string;
  round: number;
  prompt: string;
  a: string;
  b: string;
  preference: Preference;
  /** the annotators whose answers decided it; empty for gold from another source */
  annotators: string[];
  answered_at: number;
}

export interface DashboardData {
  series: Record<string, { step: number; gold_used: number; value: number }[]>;
  recent: RecentLabel[];
}

/** Long model outputs are cut for the dashboard (the labelling page shows them whole). */
const TEXT_LIMIT = 400;
const cut = (s: string) => (s.length > TEXT_LIMIT ? `${s.slice(0, TEXT_LIMIT)}…` : s);

export function dashboardData(store: RunStore, recent = 10): DashboardData {
  const series: DashboardData['series'] = {};
  for (const name of DASHBOARD_METRICS) series[name] = store.metrics(name).map((m) => ({ step: m.step, gold_used: m.goldUsed, value: m.value }));
  const rows = store.db
    .prepare(
      `SELECT g.pair_id, g.round, g.preference, g.answered_at, g.raw, p.prompt, p.a, p.b FROM gold_ledger g JOIN pairs p ON p.id = g.pair_id
       WHERE g.answered_at IS NOT NULL ORDER BY g.answered_at DESC, g.rowid DESC LIMIT ?`,
    )
    .all(recent) as { pair_id: string; round: number; preference: Preference; answered_at: number; raw: string | null; prompt: string; a: string; b: string }[];
  return {
    series,
    recent: rows.map((r) => {
      const raw = r.raw === null ? null : (JSON.parse(r.raw) as { annotators?: unknown });
      const annotators = Array.isArray(raw?.annotators) ? raw.annotators.filter((x): x is string => typeof x === 'string') : [];
      return { pair_id: r.pair_id, round: r.round, prompt: cut(r.prompt), a: cut(r.a), b: cut(r.b), preference: r.preference, annotators, answered_at: r.answered_at };
    }),
  };
}
