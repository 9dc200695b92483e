// A bounded load test: a fixed crowd of simulated annotators, answering at once, for a fixed few
// seconds against a loopback server. No label is lost or stored twice, every stored preference
// is the task's gold mapped back from the order shown, and POST /api/label's latency is printed
// (BENCHMARKS.md). SERVE_LOAD_ANNOTATORS and SERVE_LOAD_SECONDS change the load.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadTask } from '../src/tasks/registry.js';
import { RewardFunctionGold } from '../src/gold/reward-function.js';
import { SimulatedCrowd, type CrowdLabel } from '../src/serve/simulated-crowd.js';
import { servedRun, wordPairs } from './serve-fixture.js';

const ANNOTATORS = Number(process.env.SERVE_LOAD_ANNOTATORS ?? 8);
const SECONDS = Number(process.env.SERVE_LOAD_SECONDS ?? 3);

const quantile = (xs: number[], q: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))];

test(`load: ${ANNOTATORS} simulated annotators for ${SECONDS} s, no label lost or duplicated`, async () => {
  const pairs = wordPairs(20_000);
  const names = Array.from({ length: ANNOTATORS }, (_, i) => `sim-${i + 1}`);
  const run = await servedRun(pairs, names);
  const gold = new RewardFunctionGold(await loadTask('word-collector'));
  const acked: CrowdLabel[] = [];
  const errors: string[] = [];
  try {
    const crowd = new SimulatedCrowd({
      url: run.server.url,
      members: names.map((name) => ({ name, token: run.tokens[name] })),
      gold,
      delayMs: 0,
      onLabel: (l) => acked.push(l),
      onError: (name, e) => errors.push(`${name}: ${e.message}`),
    });
    await new Promise((r) => setTimeout(r, SECONDS * 1000));
    await crowd.close();

    assert.deepEqual(errors, []);
    // a floor, not a speed requirement: the machine may be shared; the figures are printed below
    assert.ok(acked.length >= 10, `only ${acked.length} labels in ${SECONDS} s`);
    const ids = new Set(acked.map((l) => l.id));
    assert.equal(ids.size, acked.length, 'no query acknowledged twice');
    const db = run.store.db;
    const stored = db.prepare(`SELECT id, pair_id FROM human_labels WHERE choice IN ('a','b','tie')`).all() as { id: string; pair_id: string }[];
    assert.deepEqual(new Set(stored.map((r) => r.id)), ids, 'every acknowledged label is stored, and nothing else');
    assert.equal(new Set(stored.map((r) => r.pair_id)).size, stored.length, 'no pair answered twice');
    assert.equal(run.store.goldUsed(), acked.length, 'one gold label per acknowledged answer');
    assert.equal(run.store.countLabels('gold'), acked.length);
    const labelled = run.store.goldLabels();
    const truth = await gold.label(labelled.map((g) => ({ prompt: g.pair.prompt, a: g.pair.a, b: g.pair.b })));
    assert.deepEqual(
      labelled.map((g) => g.preference),
      truth.map((t) => t.preference),
      "every stored preference is the task's gold in the pair's own order",
    );

    const ms = acked.map((l) => l.latencyMs);
    const line = `serve load: ${ANNOTATORS} annotators, ${SECONDS} s: ${acked.length} labels (${(acked.length / SECONDS).toFixed(0)}/s); POST /api/label p50 ${quantile(ms, 0.5).toFixed(1)} ms, p95 ${quantile(ms, 0.95).toFixed(1)} ms, max ${Math.max(...ms).toFixed(1)} ms`;
    console.log(line);
  } finally {
    await run.close();
  }
});

test('a simulated annotator that cannot answer a pair skips it, so it is offered again at once rather than when its lease ends', async () => {
  const run = await servedRun(wordPairs(4), ['solo'], { leaseMs: 600_000 });
  const task = new RewardFunctionGold(await loadTask('word-collector'));
  let failures = 1;
  // the first pair it is shown cannot be judged (a failing gold call); it answers every other one
  const flaky = { name: 'flaky', paid: false, label: (p: Parameters<typeof task.label>[0]) => (failures-- > 0 ? Promise.reject(new Error('cannot judge')) : task.label(p)) };
  const errors: string[] = [];
  const crowd = new SimulatedCrowd({ url: run.server.url, members: [{ name: 'solo', token: run.tokens.solo }], gold: flaky, delayMs: 0, idleMs: 20, onError: (_, e) => errors.push(e.message) });
  try {
    const deadline = Date.now() + 60_000;
    while (run.queue.open() > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.equal(run.queue.open(), 0, 'all four answered, the failed one too, long before a lease of 10 minutes ends');
    assert.deepEqual(errors, ['cannot judge']);
    assert.equal(run.queue.stats().skips, 1);
  } finally {
    await crowd.close();
    await run.close();
  }
});
