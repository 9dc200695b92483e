// Discriminator levers: a ties-aware likelihood (discriminator.ties 'davidson') learns from gold
// ties, in the warm start and in gold rounds, and the policy never sees a tie; a linear probe
// (discriminator.frozenBackbone); a reward model started from the warm policy
// (discriminator.startFrom); soft silver labels (silver.soft). The defaults keep the
// warm-start cache keys made before them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadTask } from '../src/tasks/registry.js';
import { RewardFunctionGold } from '../src/gold/index.js';
import { runLoop } from '../src/d2po/loop.js';
import { RunStore } from '../src/store/run-store.js';
import { resolveConfig } from '../src/d2po/presets.js';
import { warmStartPlan } from '../src/d2po/warm-start.js';
import { readSafetensors } from '../src/model/index.js';
import type { Tensor } from '../src/tensor/index.js';
import { tinyModelDir, tinyRunConfig, toyTaskFile } from './d2po-fixture.js';

const model = await tinyModelDir();
const taskFile = toyTaskFile();
const task = await loadTask(taskFile);

async function run(ties: 'ignore' | 'davidson') {
  const dir = mkdtempSync(join(tmpdir(), `d2po-ties-${ties}-`));
  const c = tinyRunConfig('d2po', dir, model, taskFile, { discriminator: { epochs: 1, batchSize: 8, ties }, autocast: false });
  await runLoop(c, { dir, task, gold: new RewardFunctionGold(task), progress: false });
  return dir;
}

test("discriminator.ties 'davidson': gold ties train the reward model (warm start and rounds), never the policy", async () => {
  const [plain, aware] = [await run('ignore'), await run('davidson')];
  const s = RunStore.open(aware, { readonly: true });
  const p = RunStore.open(plain, { readonly: true });
  try {
    const ties = new Set(s.goldLabels().filter((g) => g.preference === 'tie').map((g) => g.pair.id));
    assert.ok(ties.size > 0, 'the toy task ties some pairs');
    const initialTies = s.goldLabels([0]).filter((g) => g.preference === 'tie').length;
    assert.equal(s.metrics('warm/disc_ties').at(-1)?.value, initialTies, 'every initial tie trains the warm start (no held-out share here)');
    assert.ok(s.metrics('round/disc_ties').length > 0, 'each gold round counts the ties it trained on');
    assert.equal(p.metrics('warm/disc_ties').length + p.metrics('round/disc_ties').length, 0, 'the default trains on no tie');
    // the policy's gold epochs take exactly each online round's decided pairs, as without the lever
    for (const round of [1, 2]) {
      const decided = s.goldLabels([round]).filter((g) => g.preference !== 'tie').map((g) => g.pair.id);
      const used = s.uses({ target: 'policy', source: 'gold' }).filter((u) => u.round === round).map((u) => u.pairId);
      assert.deepEqual(new Set(used), new Set(decided), `round ${round}: the policy trains on its decided gold, no tie`);
    }
  } finally {
    s.close();
    p.close();
  }
});

test("discriminator.ties: the default leaves warm-start keys as they were; 'davidson' has its own, and only a reward model takes it", () => {
  const c = (ties?: 'davidson') => resolveConfig({ method: 'd2po', task: taskFile, model, out: '-', ...(ties && { discriminator: { ties } }) });
  const plan = (ties?: 'davidson') => warmStartPlan(c(ties), { model: 'm', disc: 'm', maxNewTokens: 8, initial: 64 }).discriminator;
  assert.ok(!('ties' in (plan() as { disc: object }).disc), 'no ties field in the default key: caches made before it stay valid');
  assert.notDeepEqual(plan('davidson'), plan());
  assert.throws(() => resolveConfig({ method: 'd2po', task: taskFile, model, out: '-', discriminator: { kind: 'bow', ties: 'davidson' } }), /discriminator\.ties/);
});

test('discriminator.frozenBackbone: its own warm-start key when on, none when off; only a reward model without adapters takes it', () => {
  const c = (extra: Record<string, unknown> = {}) => resolveConfig({ method: 'd2po', task: taskFile, model, out: '-', ...extra });
  const disc = (frozenBackbone: boolean) => (warmStartPlan(c({ discriminator: { frozenBackbone } }), { model: 'm', disc: 'm', maxNewTokens: 8, initial: 64 }).discriminator as { disc: object }).disc;
  assert.ok(!('frozenBackbone' in disc(false)));
  assert.equal((disc(true) as { frozenBackbone?: boolean }).frozenBackbone, true);
  assert.throws(() => c({ discriminator: { kind: 'dpo', frozenBackbone: true } }), /discriminator\.frozenBackbone/);
  assert.throws(() => c({ discriminator: { frozenBackbone: true }, lora: { r: 4, targets: ['c_attn'], discriminator: true } }), /lora\.discriminator/);
});

test('silver.soft: each silver pair trains toward the discriminator\'s own probability; only with the DPO loss', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'd2po-soft-'));
  await runLoop(tinyRunConfig('d2po', dir, model, taskFile, { silver: { soft: true }, autocast: false }), { dir, task, gold: new RewardFunctionGold(task), progress: false });
  const s = RunStore.open(dir, { readonly: true });
  try {
    const conf = s.metrics('train/silver_confidence');
    assert.equal(conf.length, 4, 'one mean confidence per silver step');
    for (const m of conf) assert.ok(m.value > 0.5 && m.value < 1, `a probability above a coin's: ${m.value}`);
  } finally {
    s.close();
  }
  assert.throws(() => resolveConfig({ method: 'd2po-ppo', task: taskFile, model, out: '-', silver: { soft: true } }), /silver\.soft/);
});

test("selection.goldPair 'uncertain': with k = 3 each prompt offers gold its least separated pair, and the silver pair still trains the policy", async () => {
  const dir = mkdtempSync(join(tmpdir(), 'd2po-goldpair-'));
  await runLoop(tinyRunConfig('d2po', dir, model, taskFile, { rollout: { batchSize: 4, samplesPerPrompt: 3 }, selection: { goldPair: 'uncertain' }, autocast: false }), {
    dir,
    task,
    gold: new RewardFunctionGold(task),
    progress: false,
  });
  const s = RunStore.open(dir, { readonly: true });
  try {
    const online = s.goldLabels().filter((g) => g.round > 0).map((g) => g.pair);
    assert.equal(online.length, 12);
    const margin = (p: { scoresA: number[] | null; scoresB: number[] | null }) => Math.abs(p.scoresA![0] - p.scoresB![0]);
    for (const p of online) {
      assert.match(p.id, /-g$/, 'a gold candidate, not a silver pair');
      const [silverPair] = s.getPairs([p.id.slice(0, -2)]);
      assert.ok(margin(p) <= margin(silverPair) + 1e-9, `${p.id}: the least separated pair (${margin(p)}) against best-vs-worst (${margin(silverPair)})`);
    }
    assert.ok(!s.uses({ target: 'policy', source: 'silver' }).some((u) => u.pairId.endsWith('-g')), 'silver training uses the best-vs-worst pairs only');
  } finally {
    s.close();
  }
  assert.throws(() => resolveConfig({ method: 'd2po', task: taskFile, model, out: '-', selection: { goldPair: 'uncertain' } }), /selection\.goldPair/);
});

test("discriminator.startFrom 'warm-policy': the reward model's backbone is the warm policy's, not the base model's", async () => {
  const backboneAfterWarmStart = async (startFrom: 'base' | 'warm-policy') => {
    const dir = mkdtempSync(join(tmpdir(), `d2po-start-${startFrom}-`));
    // no discriminator training at all, so its backbone is exactly where it started
    const c = tinyRunConfig('d2po', dir, model, taskFile, { init: { policyEpochs: 1, discriminatorEpochs: 0, policyLr: 1e-2 }, discriminator: { epochs: 1, batchSize: 8, online: false, startFrom }, checkpoint: { every: 0 }, autocast: false });
    await runLoop(c, { dir, task, gold: new RewardFunctionGold(task), progress: false });
    const s = RunStore.open(dir, { readonly: true });
    try {
      const ck = join(dir, s.checkpoints()[0].path);
      return { rm: await readSafetensors(join(ck, 'discriminator', 'rm-0.safetensors')), policy: await readSafetensors(join(ck, 'policy', 'model.safetensors')) };
    } finally {
      s.close();
    }
  };
  const base = await readSafetensors(join(model, 'model.safetensors'));
  const same = (a: Map<string, Tensor>, b: Map<string, Tensor>) => [...b.keys()].every((k) => a.has(k) && a.get(k)!.equal(b.get(k)!));
  const warm = await backboneAfterWarmStart('warm-policy');
  assert.ok(!same(warm.policy, base), 'the warm start moved the policy');
  assert.ok(same(warm.rm, warm.policy), "every backbone tensor is the warm policy's");
  const plain = await backboneAfterWarmStart('base');
  assert.ok(same(plain.rm, base), "the default starts from the base model's weights");

  const c = (extra: Record<string, unknown> = {}) => resolveConfig({ method: 'd2po', task: taskFile, model, out: '-', ...extra });
  const disc = (cfg: ReturnType<typeof c>) => (warmStartPlan(cfg, { model: 'm', disc: 'm', maxNewTokens: 8, initial: 64 }).discriminator as { disc: object }).disc;
  assert.ok(!('startFrom' in disc(c())), 'the default leaves warm-start keys as they were');
  const fromPolicy = (lr: number) => disc(c({ discriminator: { startFrom: 'warm-policy' }, init: { policyLr: lr } }));
  assert.notDeepEqual(fromPolicy(1e-4), fromPolicy(2e-4), "the reward model's warm start depends on the policy's");
  assert.throws(() => c({ discriminator: { kind: 'dpo', startFrom: 'warm-policy' } }), /discriminator\.startFrom/);
  assert.throws(() => c({ discriminator: { startFrom: 'warm-policy' }, init: { policyEpochs: 0 } }), /discriminator\.startFrom/);
  assert.throws(() => c({ discriminator: { startFrom: 'warm-policy' }, lora: { r: 4, targets: ['c_attn'] } }), /lora\.r/);
});
