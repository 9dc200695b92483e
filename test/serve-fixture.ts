// A stopped run whose gold requests are open (tests of d2po serve only): pairs whose responses
// hold different numbers of Word Collector's target words, entered in the ledger as requested.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RunStore, type PairRecord } from '../src/store/run-store.js';
import { Annotators } from '../src/serve/annotators.js';
import { LabelQueue, type LabelQueueOptions } from '../src/serve/label-queue.js';
import { startLabelServer, type LabelServerOptions } from '../src/serve/http-server.js';
import { resolveConfig } from '../src/d2po/presets.js';
import { WORD_COLLECTOR_WORDS } from '../src/tasks/word-collector.js';

export interface OpenPair {
  prompt: string;
  a: string;
  b: string;
}

/** `n` pairs with a known Word Collector preference; `a` beats `b` in about half of them. */
export function wordPairs(n: number, seed = 1): OpenPair[] {
  let s = seed;
  const rand = (k: number) => {
    s = (s * 1103515245 + 12345) % 2147483648;
    return s % k;
  };
  const words = (k: number) => Array.from({ length: k }, (_, i) => WORD_COLLECTOR_WORDS[(i * 7 + rand(30)) % 30]).join(' ');
  return Array.from({ length: n }, (_, i) => ({ prompt: `prompt ${i}`, a: `${words(1 + rand(6))} x`, b: `${words(1 + rand(6))} y` }));
}

/** A run folder at `dir` whose ledger holds `pairs` as open requests of round `round` (ids p0, p1, ...). */
export function openRequestsRun(dir: string, pairs: OpenPair[], round = 0): string[] {
  const store = RunStore.open(dir, { create: true });
  try {
    store.setMeta('config', resolveConfig({ out: dir, method: 'opo-gold', task: 'word-collector', model: dir, seed: 0, budget: { gold: pairs.length + 8, initial: pairs.length, rounds: 1, steps: 1 } }));
    store.setMeta('status', 'failed');
    store.setMeta('step', 0);
    const records: PairRecord[] = pairs.map((p, i) => ({
      id: `p${i}`,
      phase: round === 0 ? 'initial' : 'online',
      step: 0,
      round,
      ...p,
      promptIds: [1],
      aIds: [2],
      bIds: [3],
      scoresA: null,
      scoresB: null,
    }));
    store.addPairs(records);
    store.requestGold(
      records.map((r) => r.id),
      round,
    );
    return records.map((r) => r.id);
  } finally {
    store.close();
  }
}

/** A run with `pairs` open, served in this process on a free loopback port to `names`. */
export async function servedRun(pairs: OpenPair[], names: string[], opts: Omit<LabelServerOptions, 'queue' | 'annotators' | 'runDir'> & LabelQueueOptions = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'd2po-serve-'));
  openRequestsRun(dir, pairs);
  const store = RunStore.open(dir);
  const queue = new LabelQueue(store, opts);
  const annotators = new Annotators(store);
  const tokens = annotators.issue(names);
  const server = await startLabelServer({ ...opts, queue, annotators, runDir: dir, port: 0 });
  return {
    dir,
    store,
    queue,
    server,
    tokens: Object.fromEntries(tokens.map((t) => [t.name, t.token])),
    async close() {
      await server.close();
      store.close();
      rmSync(dir, { recursive: true });
    },
  };
}
