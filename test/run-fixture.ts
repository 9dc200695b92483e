// Fabricates a finished run folder without training (tests only): its config, gold ledger,
// evaluations, one sampled pair and meta entries, as the loop would have stored them.
import { RunStore } from '../src/store/run-store.js';
import { resolveConfig } from '../src/d2po/presets.js';

export interface FakeRun {
  /** user config fields over the method's preset (method, task and model at least) */
  config: Record<string, unknown>;
  /** gold labels bought per ledger round: [initial set, online round 1, round 2, ...] */
  gold?: number[];
  /** [step, gold used, eval/* metrics] */
  evals?: [number, number, Record<string, number>][];
  /** the text of the run's one stored pair */
  sample?: { prompt: string; a: string; b: string };
  meta?: Record<string, unknown>;
}

export function fakeRun(dir: string, spec: FakeRun): void {
  const store = RunStore.open(dir, { create: true });
  try {
    store.setMeta('config', resolveConfig({ out: dir, ...spec.config }));
    store.setMeta('status', 'done');
    (spec.gold ?? []).forEach((n, round) => {
      const ids = Array.from({ length: n }, (_, i) => `r${round}-${i}`);
      const phase = round === 0 ? 'initial' : 'online';
      store.addPairs(ids.map((id) => ({ id, phase, step: round, round, prompt: 'p', a: 'a', b: 'b', promptIds: [1], aIds: [2], bIds: [3], scoresA: null, scoresB: null })));
      store.requestGold(ids, round);
      store.commitGold(ids.map((pairId) => ({ pairId, preference: 'a' as const })), round);
    });
    for (const [step, gold, metrics] of spec.evals ?? []) store.logMetrics(step, gold, metrics);
    if (spec.sample) {
      const step = spec.evals?.at(-1)?.[0] ?? 0;
      store.addPairs([{ id: 'sample', phase: 'online', step, round: 1, ...spec.sample, promptIds: [1], aIds: [2], bIds: [3], scoresA: null, scoresB: null }]);
    }
    for (const [k, v] of Object.entries(spec.meta ?? {})) store.setMeta(k, v);
  } finally {
    store.close();
  }
}
