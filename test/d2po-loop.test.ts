import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { liveTensorCount } from '../src/tensor/index.js';
import { loadTask } from '../src/tasks/registry.js';
import { RewardFunctionGold } from '../src/gold/index.js';
import { resolveConfig } from '../src/d2po/presets.js';
import { runLoop } from '../src/d2po/loop.js';
import { RunStore } from '../src/store/run-store.js';
import { summarizeRun } from '../src/store/run-summary.js';
import type { Method } from '../src/d2po/config.js';
import { RandomDiscriminator } from '../src/d2po/random-discriminator.js';
import { S } from '../src/d2po/components.js';
import { hashSeed } from '../src/util/rng.js';
import { tinyModelDir, tinyRunConfig, toyTaskFile } from './d2po-fixture.js';

const model = await tinyModelDir();
const taskFile = toyTaskFile();
const task = await loadTask(taskFile);

/**
 * P = 20: 8 initial + 2 rounds of 6, over 4 steps of 4 prompts (the offline methods put all 20 in
 * D_0), at each method's own learning rates.
 */
function config(method: Method, out: string) {
  const offline = method === 'dpo' || method.includes('static');
  return tinyRunConfig(method, out, model, taskFile, {
    budget: { gold: 20, ...(offline ? {} : { initial: 8, rounds: 2 }), steps: method === 'dpo' ? 0 : 4 },
    policy: { batchSize: 8, goldEpochs: method.includes('ppo') ? 0 : 1 },
    init: { policyEpochs: 1, discriminatorEpochs: 1 },
  });
}

const ALL: Method[] = ['dpo', 'ppo-static-rm', 'opo-static-rm', 'opo-gold', 'd2po', 'd2po-dpo-discrim', 'd2po-self', 'd2po-ppo'];

/** The gold ledger holds exactly `p` labels, each answered and bought once. */
function assertLedgerExact(s: RunStore, p: number): void {
  const ledger = s.ledger();
  assert.equal(ledger.length, p, 'ledger holds exactly P labels');
  assert.ok(ledger.every((e) => e.answeredAt !== null && e.attempts === 1), 'each bought once');
}

for (const method of ALL) {
  test(`${method} runs end to end with exact gold accounting`, async () => {
    const root = mkdtempSync(join(tmpdir(), 'd2po-loop-'));
    const dir = join(root, 'run');
    const c = config(method, dir);
    const before = liveTensorCount();
    const live: number[] = [];
    const res = await runLoop(c, { dir, task, gold: new RewardFunctionGold(task), progress: false, onStep: () => void live.push(liveTensorCount()) });
    assert.ok(live.every((n) => n === live[0]), `live tensors stay flat over the steps: ${live}`);
    assert.equal(liveTensorCount(), before, 'every tensor of the run is freed');
    assert.equal(res.goldUsed, 20);
    const s = RunStore.open(dir);
    assertLedgerExact(s, 20);
    assert.equal(s.countLabels('gold'), 20);
    const gold = new Map(s.goldLabels().map((g) => [g.pair.id, g.preference]));
    // every gold use trains with the gold order, ties train nothing
    for (const u of s.uses({ source: 'gold' })) {
      assert.equal(u.chosen, gold.get(u.pairId), `gold use of ${u.pairId}`);
    }
    // gold order wins over silver order for gold pairs that had a silver label
    for (const [id, pref] of gold) {
      const labels = s.labelsOf(id);
      if (pref === 'tie') assert.equal(s.uses().filter((u) => u.pairId === id && u.source === 'gold').length, 0);
      if (labels.some((l) => l.source === 'silver')) {
        const goldUses = s.uses({ target: 'policy', source: 'gold' }).filter((u) => u.pairId === id);
        if (pref !== 'tie' && c.policy.goldEpochs > 0) assert.ok(goldUses.length > 0 && goldUses.every((u) => u.chosen === pref));
      }
    }
    if (['d2po', 'd2po-dpo-discrim', 'd2po-ppo', 'opo-static-rm', 'ppo-static-rm'].includes(method)) {
      assert.equal(s.uses({ target: 'discriminator', source: 'silver' }).length, 0, 'no silver label trains the discriminator');
      assert.ok(s.uses({ target: 'discriminator', source: 'gold' }).length > 0);
    }
    if (method === 'd2po-self') assert.ok(s.uses({ target: 'discriminator', source: 'silver' }).length > 0);
    if (method === 'opo-gold') assert.equal(s.countLabels('silver'), 0, 'OPO-gold uses no silver');
    if (method.includes('ppo')) assert.ok(s.metrics('train/ppo_kl').length === res.steps, 'a PPO update every step');
    assert.equal(s.metrics('base/reward').length, 1, 'the initial policy is evaluated once, before the warm start');
    const rewards = s.metrics('eval/reward');
    assert.equal(rewards[0].step, 0);
    assert.equal(rewards.at(-1)!.step, res.steps);
    const ck = s.checkpoints();
    assert.equal(ck.at(-1)!.step, res.steps);
    assert.ok(existsSync(join(dir, ck.at(-1)!.path, 'policy', 'model.safetensors')));
    s.close();
    const sum = summarizeRun(dir);
    assert.equal(sum.status, 'done');
    assert.equal(sum.gold_used, 20);
    assert.equal(sum.step, res.steps);
    rmSync(root, { recursive: true });
  });
}

test('a finished run cannot be started twice in the same folder', async () => {
  const root = mkdtempSync(join(tmpdir(), 'd2po-loop-'));
  const dir = join(root, 'run');
  await runLoop(config('dpo', dir), { dir, task, gold: new RewardFunctionGold(task), progress: false });
  await assert.rejects(runLoop(config('dpo', dir), { dir, task, gold: new RewardFunctionGold(task), progress: false }), /already holds a run/);
  await assert.rejects(runLoop(null, { dir, resume: true, task, gold: new RewardFunctionGold(task), progress: false }), /already done/);
  rmSync(root, { recursive: true });
});

test('ensemble discriminator with disagreement selection, k = 3 best-vs-worst and sign-disagreement skipping', async () => {
  const root = mkdtempSync(join(tmpdir(), 'd2po-loop-'));
  const dir = join(root, 'run');
  const base = config('d2po', dir);
  const c = resolveConfig({
    ...base,
    rollout: { ...base.rollout, samplesPerPrompt: 3 },
    discriminator: { ...base.discriminator, kind: 'rm-ensemble', ensembleSize: 2 },
    selection: { strategy: 'disagreement', scope: 'global' },
    silver: { marginThreshold: 0, skipDisagreement: true },
  });
  const res = await runLoop(c, { dir, task, gold: new RewardFunctionGold(task), progress: false });
  assert.equal(res.goldUsed, 20);
  const s = RunStore.open(dir);
  const online = [...s.pairsOfRound(1), ...s.pairsOfRound(2)];
  assert.ok(online.length > 0);
  for (const p of online) {
    assert.equal(p.scoresA!.length, 2, 'one score per member');
    const margins = p.scoresA!.map((x, m) => x - p.scoresB![m]);
    // a is the best of three by the members' mean score
    assert.ok(margins[0] + margins[1] >= 0);
    const silver = s.labelsOf(p.id).find((l) => l.source === 'silver')!;
    if (Math.sign(margins[0]) * Math.sign(margins[1]) < 0) assert.equal(silver.skip, 'disagreement');
  }
  s.close();
  rmSync(root, { recursive: true });
});

test('d2po with the bow discriminator runs end to end with exact gold accounting; its state is checkpointed', async () => {
  const root = mkdtempSync(join(tmpdir(), 'd2po-loop-'));
  const dir = join(root, 'run');
  const base = config('d2po', dir);
  const c = resolveConfig({ ...base, discriminator: { ...base.discriminator, kind: 'bow' } });
  const before = liveTensorCount();
  const res = await runLoop(c, { dir, task, gold: new RewardFunctionGold(task), progress: false });
  assert.equal(liveTensorCount(), before, 'every tensor of the run is freed');
  assert.equal(res.goldUsed, 20);
  const s = RunStore.open(dir);
  assertLedgerExact(s, 20);
  assert.equal(s.uses({ target: 'discriminator', source: 'silver' }).length, 0, 'no silver label trains the discriminator');
  assert.ok(s.uses({ target: 'discriminator', source: 'gold' }).length > 0);
  const online = [...s.pairsOfRound(1), ...s.pairsOfRound(2)];
  assert.ok(online.length > 0 && online.every((p) => p.scoresA!.length === 1), 'one score per pair side');
  assert.ok(online.some((p) => p.scoresA![0] !== p.scoresB![0]), 'the trained bow tells responses apart');
  const ck = s.checkpoints();
  assert.equal(ck.at(-1)!.step, res.steps);
  assert.ok(existsSync(join(dir, ck.at(-1)!.path, 'discriminator', 'bow.safetensors')));
  s.close();
  rmSync(root, { recursive: true });
});

test('d2po with the random discriminator: silver labels are seeded coins, gold trains nothing but the policy, a fresh instance (a resume) scores the same', async () => {
  const root = mkdtempSync(join(tmpdir(), 'd2po-loop-'));
  const dir = join(root, 'run');
  const base = config('d2po', dir);
  const c = resolveConfig({ ...base, discriminator: { ...base.discriminator, kind: 'random' } });
  const res = await runLoop(c, { dir, task, gold: new RewardFunctionGold(task), progress: false });
  assert.equal(res.goldUsed, 20);
  const s = RunStore.open(dir);
  assertLedgerExact(s, 20);
  assert.equal(s.uses({ target: 'discriminator' }).length, 0, 'no label trains it');
  assert.ok(s.uses({ target: 'policy', source: 'gold' }).length > 0, 'gold still trains the policy');
  const online = [...s.pairsOfRound(1), ...s.pairsOfRound(2)];
  const disc = new RandomDiscriminator(hashSeed(c.seed, S.disc));
  for (const p of online) {
    const [[a, b]] = disc.score({ promptIds: [p.promptIds, p.promptIds], responseIds: [p.aIds, p.bIds] });
    assert.deepEqual([p.scoresA![0], p.scoresB![0]], [a, b], `pair ${p.id}: the same seeded scores when scored again`);
  }
  const scores = online.flatMap((p) => [p.scoresA![0], p.scoresB![0]]);
  const distinct = new Set(online.flatMap((p) => [`${p.promptIds}|${p.aIds}`, `${p.promptIds}|${p.bIds}`])).size;
  assert.equal(new Set(scores).size, distinct, 'one draw per distinct response');
  assert.ok(scores.every((x) => x >= 0 && x < 1), 'uniform draws in [0, 1)');
  s.close();
  rmSync(root, { recursive: true });
});

test('variant options: IPO loss, rollouts from the initial policy, random batch-local selection, round-only discriminator updates', async () => {
  const root = mkdtempSync(join(tmpdir(), 'd2po-loop-'));
  const dir = join(root, 'run');
  const base = config('d2po', dir);
  const c = resolveConfig({
    ...base,
    rollout: { ...base.rollout, source: 'initial', batchSize: 6 },
    policy: { ...base.policy, loss: 'ipo' },
    selection: { strategy: 'random', scope: 'batch' },
    discriminator: { ...base.discriminator, trainOn: 'round' },
  });
  const res = await runLoop(c, { dir, task, gold: new RewardFunctionGold(task), progress: false });
  assert.equal(res.goldUsed, 20);
  const s = RunStore.open(dir);
  // batch-local selection: each round's gold comes from the step that closed it (steps 2 and 4)
  assert.deepEqual([...new Set(s.ledger(1).map((e) => s.getPair(e.pairId)!.step))], [2]);
  assert.deepEqual([...new Set(s.ledger(2).map((e) => s.getPair(e.pairId)!.step))], [4]);
  // round-only updates: the discriminator's uses at round 2 are round 2's gold only
  const r2 = s.uses({ target: 'discriminator' }).filter((u) => u.round === 2);
  const round2 = new Set(s.ledger(2).map((e) => e.pairId));
  assert.ok(r2.every((u) => round2.has(u.pairId)));
  s.close();
  rmSync(root, { recursive: true });
});

test('resume refuses a run whose process is still alive', async () => {
  const root = mkdtempSync(join(tmpdir(), 'd2po-loop-'));
  const dir = join(root, 'run');
  const s = RunStore.open(dir, { create: true });
  s.setMeta('config', config('dpo', dir));
  s.setMeta('status', 'running');
  s.setMeta('pid', process.ppid);
  s.close();
  await assert.rejects(runLoop(null, { dir, resume: true, task, gold: new RewardFunctionGold(task), progress: false }), /still running \(process \d+\)/);
  rmSync(root, { recursive: true });
});

test('a discriminator on its own backbone must share the policy tokenizer', async () => {
  const root = mkdtempSync(join(tmpdir(), 'd2po-loop-'));
  const other = await tinyModelDir(2);
  const base = config('d2po', join(root, 'ok'));
  const ok = resolveConfig({ ...base, discriminator: { ...base.discriminator, model: other } });
  const res = await runLoop(ok, { dir: ok.out, task, gold: new RewardFunctionGold(task), progress: false });
  assert.equal(res.goldUsed, 20);
  writeFileSync(join(other, 'tokenizer.json'), readFileSync(join(other, 'tokenizer.json'), 'utf8').replace('"<|endoftext|>"', '"<|end|>"'));
  const bad = resolveConfig({ ...ok, out: join(root, 'bad') });
  await assert.rejects(runLoop(bad, { dir: bad.out, task, gold: new RewardFunctionGold(task), progress: false }), /discriminator\.model: .* different tokenizer\.json/);
  rmSync(root, { recursive: true });
  rmSync(other, { recursive: true });
});
