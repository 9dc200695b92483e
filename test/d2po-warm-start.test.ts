import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadTask } from '../src/tasks/registry.js';
import { RewardFunctionGold } from '../src/gold/index.js';
import type { GoldPair } from '../src/gold/source.js';
import { resolveConfig } from '../src/d2po/presets.js';
import { runLoop } from '../src/d2po/loop.js';
import { RunStore } from '../src/store/run-store.js';
import { summarizeRun } from '../src/store/run-summary.js';
import type { Method } from '../src/d2po/config.js';
import { initialPrompts } from '../src/d2po/initial-set.js';
import { WarmCache } from '../src/d2po/warm-cache.js';
import { earlyStopped, holdOut } from '../src/d2po/warm-start.js';
import { tinyModelDir, toyTaskFile } from './d2po-fixture.js';

const model = await tinyModelDir();
const taskFile = toyTaskFile();
const task = await loadTask(taskFile);

/** Gold from the task's reward, counting every pair it is asked about. */
class CountingGold extends RewardFunctionGold {
  asked = 0;
  override async label(pairs: GoldPair[]) {
    this.asked += pairs.length;
    return super.label(pairs);
  }
}

interface Variant {
  initial?: number | 'all';
  gold?: number;
  /** the run config's lora section (off when absent) */
  lora?: Record<string, unknown>;
  dtype?: 'fp32' | 'bf16';
}

/** 70 initial pairs (two chunks: the second one partial) + 6 online, early stopping on 20% held out. */
function config(method: Method, out: string, { initial = 70, gold = 76, lora, dtype = 'fp32' }: Variant = {}) {
  return resolveConfig({
    method,
    task: taskFile,
    model,
    out,
    seed: 3,
    budget: { gold, initial, ...(initial === 'all' ? {} : { rounds: 2 }), steps: method === 'dpo' ? 0 : 2 },
    rollout: { batchSize: 4 },
    policy: { batchSize: 16, goldEpochs: 1 },
    init: { policyEpochs: 2, discriminatorEpochs: 2, holdout: 0.2 },
    discriminator: { epochs: 1, batchSize: 16, trainOn: 'replay', replaySize: 5 },
    eval: { every: 0, prompts: 2, accuracyPairs: 2 },
    autocast: false,
    dtype,
    ...(lora ? { lora } : {}),
  });
}

async function run(method: Method, dir: string, cache: string, variant: Variant = {}) {
  const gold = new CountingGold(task);
  await runLoop(config(method, dir, variant), { dir, task, gold, progress: false, warmCache: cache });
  return gold.asked;
}

test('methods of one seed share the initial set, its gold and the warm starts through the cache, exactly', async () => {
  const root = mkdtempSync(join(tmpdir(), 'd2po-warm-'));
  const cache = join(root, 'warm-starts');
  const askedA = await run('d2po', join(root, 'a'), cache);
  assert.equal(askedA, 76, 'the first run buys its whole budget');
  const askedB = await run('opo-gold', join(root, 'b'), cache);
  assert.equal(askedB, 6, 'the second buys only its online gold: the initial 70 are reused');
  const askedC = await run('d2po', join(root, 'c'), cache);
  assert.equal(askedC, 6);

  const a = RunStore.open(join(root, 'a'), { readonly: true });
  const b = RunStore.open(join(root, 'b'), { readonly: true });
  const c = RunStore.open(join(root, 'c'), { readonly: true });
  try {
    // the same pairs and labels, in the same order
    const strip = (s: RunStore) => s.goldLabels([0]).map((g) => [g.pair.prompt, g.pair.a, g.pair.b, g.preference].join('|'));
    assert.deepEqual(strip(b), strip(a));
    assert.equal(b.ledger(0).length, 70);
    assert.equal(b.goldUsed(), 76, 'reused labels count in P');
    assert.ok(b.ledger(0).every((e) => b.goldAnswer(e.pairId)!.cached === true), 'reused labels are marked as not bought by this run');
    // the warm-started policy: same bytes in every run that used it
    const policyOf = (s: RunStore, dir: string) => readFileSync(join(root, dir, s.checkpoints()[0].path, 'policy', 'model.safetensors'));
    assert.ok(policyOf(a, 'a').equals(policyOf(b, 'b')), 'opo-gold starts from the policy d2po warm-started');
    const parts = (s: RunStore) => s.getMeta<Record<string, string>>('warm_start_parts')!;
    assert.equal(parts(b).policy, parts(a).policy);
    assert.equal(parts(b).discriminator, undefined, 'opo-gold has no discriminator');
    assert.equal(parts(c).discriminator, parts(a).discriminator);
    assert.equal(c.getMeta('warm_start'), a.getMeta('warm_start'), 'the same method and seed: the same warm start');
    assert.equal(c.lastMetrics('warm/disc_reused')?.values['warm/disc_reused'], 1);
    // early stopping kept an epoch it ran, and said which
    const w = a.lastMetrics('warm/')!.values;
    assert.ok(w['warm/policy_epochs'] >= 1 && w['warm/policy_epochs'] <= w['warm/policy_epochs_run'] && w['warm/policy_epochs_run'] <= 2);
    assert.ok(Number.isFinite(w['warm/disc_heldout_acc']));
    assert.deepEqual(summarizeRun(join(root, 'a')).warm, w, 'runs show --json carries the warm-start metrics');
    // replay: a round's update trains on its own gold plus at most 5 earlier examples
    for (const m of a.metrics('round/disc_pairs')) assert.ok(m.value <= 3 + 5, `round/disc_pairs ${m.value}`);
  } finally {
    a.close();
    b.close();
    c.close();
  }
});

test('LoRA runs share warm starts as adapters, exactly; full fine-tuning shares their initial set but never their warm starts', async () => {
  const root = mkdtempSync(join(tmpdir(), 'd2po-warm-'));
  const cache = join(root, 'warm-starts');
  const lora = { r: 4, alpha: 8, dropout: 0, targets: ['c_attn'], discriminator: true };
  assert.equal(await run('d2po', join(root, 'a'), cache, { lora }), 76);
  assert.equal(await run('d2po', join(root, 'b'), cache, { lora }), 6, 'the initial 70 are reused');
  assert.equal(await run('d2po', join(root, 'full'), cache), 6, 'the initial set does not depend on LoRA: the adapters start as the identity');
  const [a, b, full] = ['a', 'b', 'full'].map((d) => RunStore.open(join(root, d), { readonly: true }));
  try {
    const parts = (s: RunStore) => s.getMeta<Record<string, string>>('warm_start_parts')!;
    const reused = (s: RunStore, what: string) => s.lastMetrics(`warm/${what}_reused`)?.values[`warm/${what}_reused`];
    assert.deepEqual(parts(b), parts(a));
    assert.deepEqual([reused(a, 'policy'), reused(b, 'policy'), reused(b, 'disc')], [0, 1, 1]);
    // what the cache holds for a LoRA policy is its adapter, and the run starts from exactly it
    const stored = join(cache, 'warm-policy', parts(a).policy, 'policy');
    assert.ok(existsSync(join(stored, 'adapter_model.safetensors')) && !existsSync(join(stored, 'model.safetensors')));
    const adapterOf = (s: RunStore, dir: string, file: string) => readFileSync(join(root, dir, s.checkpoints()[0].path, file));
    assert.ok(adapterOf(b, 'b', 'policy/adapter_model.safetensors').equals(adapterOf(a, 'a', 'policy/adapter_model.safetensors')));
    assert.ok(adapterOf(b, 'b', 'policy/adapter_model.safetensors').equals(readFileSync(join(stored, 'adapter_model.safetensors'))));
    assert.ok(adapterOf(b, 'b', 'discriminator/rm-0/adapter_model.safetensors').equals(adapterOf(a, 'a', 'discriminator/rm-0/adapter_model.safetensors')));
    // full fine-tuning: the same initial set, its own warm policy and discriminator
    assert.equal(parts(full).initialSet, parts(a).initialSet);
    assert.notEqual(parts(full).policy, parts(a).policy);
    assert.notEqual(parts(full).discriminator, parts(a).discriminator);
    assert.deepEqual([reused(full, 'policy'), reused(full, 'disc')], [0, 0]);
  } finally {
    for (const s of [a, b, full]) s.close();
  }
});

test('an offline method with a larger initial set extends the shared one: the first pairs and labels are reused', async () => {
  const root = mkdtempSync(join(tmpdir(), 'd2po-warm-'));
  const cache = join(root, 'warm-starts');
  await run('opo-gold', join(root, 'online'), cache);
  const asked = await run('dpo', join(root, 'offline'), cache, { initial: 'all', gold: 76 });
  assert.equal(asked, 6, 'only the 6 pairs beyond the shared 70 are bought');
  const on = RunStore.open(join(root, 'online'), { readonly: true });
  const off = RunStore.open(join(root, 'offline'), { readonly: true });
  try {
    const texts = (s: RunStore) => s.goldLabels([0]).map((g) => `${g.pair.prompt}|${g.pair.a}|${g.pair.b}`);
    assert.deepEqual(texts(off).slice(0, 70), texts(on));
    assert.equal(texts(off).length, 76);
  } finally {
    on.close();
    off.close();
  }
});

test('initial prompts are prefix-stable and pass over every train prompt before repeating', () => {
  const train = Array.from({ length: 7 }, (_, i) => `p${i}`);
  const long = initialPrompts(train, 0, 20, 9);
  assert.deepEqual(initialPrompts(train, 0, 12, 9), long.slice(0, 12));
  assert.deepEqual(initialPrompts(train, 5, 15, 9), long.slice(5, 15));
  assert.deepEqual([...long.slice(0, 7)].sort(), [...train].sort());
  assert.deepEqual([...long.slice(7, 14)].sort(), [...train].sort());
  assert.notDeepEqual(initialPrompts(train, 0, 7, 10), long.slice(0, 7), 'another seed, another order');
});

test('early stopping keeps the best held-out epoch and stops at the first worse one', async () => {
  let weights = 0;
  let saved = -1;
  const acc = [0.5, 0.7, 0.6, 0.9];
  const r = await earlyStopped({
    maxEpochs: 4,
    epoch: () => ++weights,
    heldOut: () => acc[weights - 1],
    save: async () => void (saved = weights),
    load: async () => void (weights = saved),
  });
  assert.deepEqual({ epochs: r.epochs, ran: r.ran, held: r.heldOutAccuracy }, { epochs: 2, ran: 3, held: 0.7 });
  assert.deepEqual(r.perEpoch, [0.5, 0.7, 0.6]);
  assert.equal(weights, 2, 'the weights of epoch 2 are back');
});

test('holdOut splits deterministically and holds out at least one item', () => {
  const xs = Array.from({ length: 10 }, (_, i) => i);
  const a = holdOut(xs, 0.2, 1);
  assert.equal(a.heldOut.length, 2);
  assert.deepEqual(holdOut(xs, 0.2, 1), a);
  assert.deepEqual([...a.train, ...a.heldOut].sort((x, y) => x - y), xs);
  assert.equal(holdOut(xs, 0.01, 1).heldOut.length, 1);
  assert.equal(holdOut(xs, 0, 1).heldOut.length, 0);
});

test('a lock left by a killed process is taken over; a live holder is waited for', async () => {
  const root = mkdtempSync(join(tmpdir(), 'd2po-lock-'));
  const cache = new WarmCache(root);
  // pid 2^22 + 1 is above Linux's pid_max default: no such process
  mkdirSync(join(root, 'locks'));
  writeFileSync(join(root, 'locks', 'k.lock'), JSON.stringify({ pid: 4194305, start: 1 }));
  assert.equal(await cache.withLock('k', async () => 'ran'), 'ran');
  assert.ok(!existsSync(join(root, 'locks', 'k.lock')), 'released');
  const order: string[] = [];
  const first = cache.withLock('k', async () => {
    order.push('first-in');
    await new Promise((r) => setTimeout(r, 300));
    order.push('first-out');
  });
  await new Promise((r) => setTimeout(r, 50));
  await cache.withLock('k', async () => void order.push('second'));
  await first;
  assert.deepEqual(order, ['first-in', 'first-out', 'second']);
});

test('weights held in bf16 sample and train otherwise: they share nothing with float32 runs', async () => {
  const root = mkdtempSync(join(tmpdir(), 'd2po-warm-'));
  const cache = join(root, 'warm-starts');
  await run('opo-gold', join(root, 'fp32'), cache);
  assert.equal(await run('opo-gold', join(root, 'bf16'), cache, { dtype: 'bf16' }), 76, 'a bf16 run buys its own initial set');
  assert.equal(await run('opo-gold', join(root, 'bf16-again'), cache, { dtype: 'bf16' }), 6, 'and a second bf16 run reuses it');
});
