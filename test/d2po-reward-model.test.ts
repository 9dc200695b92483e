import { test } from 'node:test';
import assert from 'node:assert/strict';
import { noGrad, scope } from '../src/tensor/index.js';
import { createModel } from '../src/model/index.js';
import { RewardModel } from '../src/train/reward-model.js';
import { RmDiscriminator } from '../src/d2po/discriminator.js';

const cfg = { model_type: 'gpt2' as const, vocab_size: 64, n_positions: 16, n_embd: 32, n_layer: 1, n_head: 2, bos_token_id: 0, eos_token_id: 0 };
const batch = { promptIds: [[0, 3], [0, 4, 5]], responseIds: [[6, 7, 8], [9]] };
const score = (rm: RewardModel) => noGrad(() => scope(() => rm.score(batch).toArray()));

test('reward model pooling: sum = mean x length; last = sum for a one-token response', () => {
  const m = createModel(cfg, { seed: 1 });
  const sum = score(new RewardModel(m, 'sum', { seed: 2 }));
  const mean = score(new RewardModel(m, 'mean', { seed: 2 }));
  const last = score(new RewardModel(m, 'last', { seed: 2 }));
  assert.ok(Math.abs(sum[0] - 3 * mean[0]) < 1e-5);
  assert.ok(Math.abs(sum[1] - mean[1]) < 1e-5);
  assert.ok(Math.abs(last[1] - sum[1]) < 1e-5);
  assert.ok(Math.abs(last[0] - sum[0]) > 1e-6, 'last and sum differ on a longer response');
  m.dispose();
});

test('Bradley-Terry training ranks the chosen responses first; an ensemble has one row per member', () => {
  const ex = Array.from({ length: 6 }, (_, i) => ({ promptIds: [0, 1 + i], chosenIds: [20, 20, 21], rejectedIds: [30, 31, 32] }));
  for (const k of [1, 2]) {
    const d = new RmDiscriminator(
      Array.from({ length: k }, (_, m) => new RewardModel(createModel(cfg, { seed: 10 + m }), 'sum', { seed: m })),
      { lr: 3e-3, batchSize: 4 },
    );
    const b = { promptIds: [...ex.map((e) => e.promptIds), ...ex.map((e) => e.promptIds)], responseIds: [...ex.map((e) => e.chosenIds), ...ex.map((e) => e.rejectedIds)] };
    const loss0 = d.train(ex, 1, 1);
    const loss = d.train(ex, 10, 2);
    assert.ok(loss < loss0, `loss fell: ${loss0} -> ${loss}`);
    const s = d.score(b);
    assert.equal(s.length, k);
    for (const row of s) for (let i = 0; i < ex.length; i++) assert.ok(row[i] > row[i + ex.length], 'chosen scores above rejected');
    d.dispose();
  }
});

test('a frozen backbone (linear probe): the head learns the ranking, the backbone stays bit for bit', () => {
  const ex = Array.from({ length: 6 }, (_, i) => ({ promptIds: [0, 1 + i], chosenIds: [20, 20, 21], rejectedIds: [30, 31, 32] }));
  const m = createModel(cfg, { seed: 12 });
  const before = m.namedParameters().map(([n, t]) => [n, t.toArray()] as const);
  const rm = new RewardModel(m, 'sum', { seed: 3, frozenBackbone: true });
  assert.equal(rm.parameters().length, 2, 'only score.weight and score.bias train');
  const d = new RmDiscriminator([rm], { lr: 3e-2, batchSize: 4 });
  const loss0 = d.train(ex, 1, 1);
  const loss = d.train(ex, 20, 2);
  assert.ok(loss < loss0, `loss fell: ${loss0} -> ${loss}`);
  const s = d.score({ promptIds: [...ex, ...ex].map((e) => e.promptIds), responseIds: [...ex.map((e) => e.chosenIds), ...ex.map((e) => e.rejectedIds)] })[0];
  for (let i = 0; i < ex.length; i++) assert.ok(s[i] > s[i + ex.length], 'chosen scores above rejected');
  for (const [n, t] of m.namedParameters()) assert.deepEqual(t.toArray(), before.find(([b]) => b === n)![1], `${n} unchanged`);
  d.dispose();
});

test('epinet: K heads with fixed priors on one backbone learn the ranking, stay apart where the gold says nothing, and save and load exactly', async () => {
  const { EpinetRewardModel } = await import('../src/train/epinet-reward-model.js');
  const { EpinetDiscriminator } = await import('../src/d2po/epinet-discriminator.js');
  const { mkdtempSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const ex = Array.from({ length: 16 }, (_, i) => ({ promptIds: [0, 1 + (i % 8)], chosenIds: [20, 20, 21], rejectedIds: [30, 31, 32 + (i % 3)] }));
  const make = () => new EpinetDiscriminator(new EpinetRewardModel(createModel(cfg, { seed: 12 }), 'sum', 4, 1, false, 5), { lr: 3e-3, batchSize: 8, seed: 1 });
  const d = make();
  assert.equal(d.members, 4);
  const loss0 = d.train(ex, 1, 1);
  const loss = d.train(ex, 15, 2);
  assert.ok(loss < loss0, `loss fell: ${loss0} -> ${loss}`);
  const both = { promptIds: [...ex, ...ex].map((e) => e.promptIds), responseIds: [...ex.map((e) => e.chosenIds), ...ex.map((e) => e.rejectedIds)] };
  const s = d.score(both);
  assert.equal(s.length, 4);
  for (const row of s) for (let i = 0; i < ex.length; i++) assert.ok(row[i] > row[i + ex.length], 'every head ranks chosen first');
  // responses none of the gold was about: the heads' priors keep them apart
  const unseen = d.score({ promptIds: [[0, 50], [0, 51]], responseIds: [[40, 41, 42], [43, 44, 45]] });
  const spread = Math.max(...unseen.map((r) => r[0] - r[1])) - Math.min(...unseen.map((r) => r[0] - r[1]));
  assert.ok(spread > 0.05, `heads disagree on pairs the gold never covered: ${spread}`);
  const dir = mkdtempSync(join(tmpdir(), 'd2po-epinet-'));
  await d.save(dir);
  const e = make();
  await e.load(dir);
  assert.deepEqual(e.score(both), s, 'a loaded epinet scores exactly as the saved one');
  d.dispose();
  e.dispose();
});
