import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { RUN_DB, RunStore, type RunStatus } from './run-store.js';
import { processAlive } from '../util/process-alive.js';

/** What `d2po runs` and `d2po runs show` print for one run. */
export interface RunSummary {
  dir: string;
  /** broken: the folder's run.db cannot be read as a run (the reason says why) */
  status: RunStatus | 'broken';
  /** why it failed or is broken (an error message, or the note that its process died) */
  reason?: string;
  method: string;
  task: string;
  /** config.seed; null where the run holds no config */
  seed: number | null;
  /**
   * content hash of the run's warm start (its initial set, warm policy and discriminator; meta
   * warm_start): runs with equal hashes started from the same bytes; null without an initial set
   */
  warm_start: string | null;
  step: number;
  steps: number;
  gold_used: number;
  /** gold labels of the initial offline set (ledger round 0) */
  gold_initial: number;
  /** gold labels of the online rounds (ledger rounds 1 and on) */
  gold_online: number;
  gold_budget: number;
  gold_labels: number;
  silver_labels: number;
  pairs: number;
  checkpoints: number;
  started_at: string | null;
  updated_at: string | null;
  last_eval: { step: number; gold_used: number; metrics: Record<string, number> } | null;
  /** the warm start's metrics (warm/*: held-out accuracy per epoch, epochs kept, reuse, cost); null without one */
  warm: Record<string, number> | null;
}

/** The summary of one run folder; a folder that cannot be read is a `broken` run with the reason, never an error. */
export function summarizeRun(dir: string): RunSummary {
  try {
    return readSummary(dir);
  } catch (e) {
    return {
      dir,
      status: 'broken',
      reason: (e as Error).message,
      method: '?',
      task: '?',
      seed: null,
      warm_start: null,
      step: 0,
      steps: 0,
      gold_used: 0,
      gold_initial: 0,
      gold_online: 0,
      gold_budget: 0,
      gold_labels: 0,
      silver_labels: 0,
      pairs: 0,
      checkpoints: 0,
      started_at: null,
      updated_at: null,
      last_eval: null,
      warm: null,
    };
  }
}

function readSummary(dir: string): RunSummary {
  const store = RunStore.open(dir, { readonly: true });
  try {
    const config = store.getMeta<{ method: string; task: string; seed: number; budget: { gold: number } }>('config');
    let status = store.getMeta<RunStatus>('status') ?? 'running';
    let reason = store.getMeta<string>('error');
    const pid = store.getMeta<number>('pid');
    // a run whose process is gone without saying so was killed (SIGKILL, power loss)
    if (status === 'running' && pid !== undefined && !processAlive(pid, store.getMeta<number | null>('pid_start'))) {
      status = 'failed';
      reason = `process ${pid} is gone (killed?); continue it with d2po run --resume ${dir}`;
    }
    const last = store.lastMetrics('eval/');
    const iso = (k: string) => {
      const t = store.getMeta<number>(k);
      return t === undefined ? null : new Date(t).toISOString();
    };
    return {
      dir,
      status,
      ...(reason ? { reason } : {}),
      method: config?.method ?? '?',
      task: config?.task ?? '?',
      seed: config?.seed ?? null,
      warm_start: store.getMeta<string>('warm_start') ?? null,
      step: store.getMeta<number>('step') ?? 0,
      steps: store.getMeta<number>('steps') ?? 0,
      gold_used: store.goldUsed(),
      gold_initial: store.goldUsed('initial'),
      gold_online: store.goldUsed('online'),
      gold_budget: config?.budget.gold ?? 0,
      gold_labels: store.countLabels('gold'),
      silver_labels: store.countLabels('silver'),
      pairs: store.countPairs(),
      checkpoints: store.checkpoints().length,
      started_at: iso('started_at'),
      updated_at: iso('updated_at'),
      last_eval: last ? { step: last.step, gold_used: last.goldUsed, metrics: last.values } : null,
      warm: store.lastMetrics('warm/')?.values ?? null,
    };
  } finally {
    store.close();
  }
}

/** Run folders under `root` (the folder itself if it is one), newest first. */
export function findRuns(root: string): string[] {
  if (existsSync(join(root, RUN_DB))) return [root];
  if (!existsSync(root)) return [];
  const dirs = readdirSync(root, { withFileTypes: true })
    .filter((d) => d.isDirectory() && existsSync(join(root, d.name, RUN_DB)))
    .map((d) => join(root, d.name));
  return dirs.sort().reverse();
}
