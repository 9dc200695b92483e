import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { liveTensorCount, noGrad, scope } from '../src/tensor/index.js';
import { loadAdapter, loadModel, readSafetensors, readSafetensorsFile, responseLogprobs } from '../src/model/index.js';
import { loadTask } from '../src/tasks/registry.js';
import { RewardFunctionGold } from '../src/gold/index.js';
import { resolveConfig } from '../src/d2po/presets.js';
import { runLoop } from '../src/d2po/loop.js';
import { RunStore } from '../src/store/run-store.js';
import { configFromArgs } from '../src/cli/commands/run.js';
import type { Method } from '../src/d2po/config.js';
import { tinyModelDir, tinyRunConfig, toyTaskFile } from './d2po-fixture.js';

// d2po run with LoRA on the tiny GPT-2 of the loop tests (2 layers: c_attn of each is adapted).
const model = await tinyModelDir();
const taskFile = toyTaskFile();
const task = await loadTask(taskFile);
const LORA = { r: 4, alpha: 8, dropout: 0, targets: ['c_attn'] };

function config(method: Method, out: string, lora: Record<string, unknown>) {
  return tinyRunConfig(method, out, model, taskFile, { lora });
}

const run = (c: ReturnType<typeof config>, dir: string, o: { resume?: boolean; onStep?: (s: number) => void } = {}) =>
  runLoop(o.resume ? null : c, { dir, task, gold: new RewardFunctionGold(task), progress: false, resume: o.resume, onStep: o.onStep });

test('d2po with LoRA on the policy and the reward model: adapter-only checkpoints in PEFT’s layout that load onto the base', async () => {
  const dir = join(mkdtempSync(join(tmpdir(), 'd2po-lora-')), 'run');
  const before = liveTensorCount();
  const res = await run(config('d2po', dir, { ...LORA, discriminator: true }), dir);
  assert.equal(liveTensorCount(), before, 'every tensor of the run is freed');
  assert.equal(res.goldUsed, 20);
  const s = RunStore.open(dir);
  const ck = join(dir, s.checkpoints().at(-1)!.path);
  s.close();
  assert.ok(!existsSync(join(ck, 'policy', 'model.safetensors')), 'no copy of the base weights');
  const saved = JSON.parse(readFileSync(join(ck, 'policy', 'adapter_config.json'), 'utf8'));
  assert.deepEqual([saved.peft_type, saved.task_type, saved.r, saved.lora_alpha, saved.target_modules, saved.fan_in_fan_out, saved.base_model_name_or_path], ['LORA', 'CAUSAL_LM', 4, 8, ['c_attn'], true, model]);
  // the optimizer holds moments of the 2 x 2 adapter matrices only
  const opt = await readSafetensorsFile(join(ck, 'policy-optimizer.safetensors'));
  assert.deepEqual([...opt.tensors.keys()].sort(), ['exp_avg.0', 'exp_avg.1', 'exp_avg.2', 'exp_avg.3', 'exp_avg_sq.0', 'exp_avg_sq.1', 'exp_avg_sq.2', 'exp_avg_sq.3']);
  opt.tensors.forEach((t) => t.dispose());
  // the reward model: adapters plus its head as modules_to_save, as PEFT saves a SEQ_CLS adapter
  const rmConfig = JSON.parse(readFileSync(join(ck, 'discriminator', 'rm-0', 'adapter_config.json'), 'utf8'));
  assert.deepEqual([rmConfig.task_type, rmConfig.modules_to_save], ['SEQ_CLS', ['score']]);
  const rm = await readSafetensors(join(ck, 'discriminator', 'rm-0', 'adapter_model.safetensors'));
  assert.deepEqual([...rm.keys()].filter((n) => !n.includes('lora_')), ['base_model.model.score.weight', 'base_model.model.score.bias']);
  rm.forEach((t) => t.dispose());
  // the trained adapter loads onto the base as any PEFT adapter does, and moved the policy
  const base = (await loadModel(model)).model;
  const tuned = (await loadModel(model)).model;
  await loadAdapter(join(ck, 'policy'), tuned);
  const batch = { promptIds: [[4095, 10, 11]], responseIds: [[12, 13, 14, 15]] };
  const lp = (m: typeof base) => scope(() => noGrad(() => responseLogprobs(m, batch).sum.item()));
  assert.notEqual(lp(tuned), lp(base));
  base.dispose();
  tuned.dispose();
});

test('a LoRA run cut after a checkpoint resumes from its adapters and ends where an uncut run ends', async () => {
  // the reward model with adapters too: its checkpoint is an adapter folder with the head beside
  const root = mkdtempSync(join(tmpdir(), 'd2po-lora-'));
  const whole = join(root, 'whole');
  const cut = join(root, 'cut');
  await run(config('d2po', whole, { ...LORA, discriminator: true }), whole);
  await assert.rejects(
    run(config('d2po', cut, { ...LORA, discriminator: true }), cut, {
      onStep: (step) => {
        if (step === 3) throw new Error('cut at step 3');
      },
    }),
    /cut at step 3/,
  );
  const res = await run(config('d2po', cut, { ...LORA, discriminator: true }), cut, { resume: true });
  assert.equal(res.goldUsed, 20);
  const last = (dir: string) => {
    const s = RunStore.open(dir);
    const path = join(dir, s.checkpoints().at(-1)!.path);
    s.close();
    return path;
  };
  for (const f of ['policy/adapter_model.safetensors', 'discriminator/rm-0/adapter_model.safetensors']) {
    const [a, b] = await Promise.all([readSafetensors(join(last(whole), f)), readSafetensors(join(last(cut), f))]);
    for (const [n, t] of a) assert.ok(t.equal(b.get(n)!), `${f}: ${n} as in the uncut run`);
    [...a.values(), ...b.values()].forEach((t) => t.dispose());
  }
});

test('a DPO discriminator with LoRA checkpoints its adapter and resumes from it', async () => {
  const dir = join(mkdtempSync(join(tmpdir(), 'd2po-lora-')), 'run');
  const c = config('d2po-dpo-discrim', dir, { ...LORA, discriminator: true });
  await assert.rejects(run(c, dir, { onStep: (step) => assert.notEqual(step, 3, 'cut at step 3') }), /cut at step 3/);
  const s = RunStore.open(dir);
  const ck = join(dir, s.checkpoints().at(-1)!.path, 'discriminator', 'dpo-discriminator');
  s.close();
  assert.deepEqual(JSON.parse(readFileSync(join(ck, 'adapter_config.json'), 'utf8')).task_type, 'CAUSAL_LM');
  assert.ok(!existsSync(join(ck, 'model.safetensors')));
  assert.equal((await run(c, dir, { resume: true })).goldUsed, 20);
});

test('--lora is parsed into the config and checked by name; targets that the model lacks are named', async () => {
  const { user } = configFromArgs(['--task', taskFile, '--model', model, '--lora', 'r=16,alpha=32,dropout=0.05,targets=q_proj,v_proj']);
  const c = resolveConfig(user, 'flags');
  assert.deepEqual(c.lora, { r: 16, alpha: 32, dropout: 0.05, targets: ['q_proj', 'v_proj'], discriminator: false });
  assert.deepEqual(resolveConfig({ method: 'd2po', task: 'x', model: 'm', out: 'o' }).lora.r, 0, 'off by default');
  assert.throws(() => configFromArgs(['--task', taskFile, '--lora', 'r=4,rank=2']), /--lora r=4,rank=2: unknown key 'rank'/);
  assert.throws(() => configFromArgs(['--task', taskFile, '--lora', 'q_proj,r=4']), /'q_proj' is not KEY=VALUE/);
  assert.throws(() => resolveConfig({ ...user, lora: { r: 4, targets: [] } }), /lora\.targets: LoRA \(lora\.r > 0\) needs target modules/);
  assert.throws(() => resolveConfig({ ...user, method: 'opo-gold', lora: { r: 4, discriminator: true } }), /lora\.discriminator: discriminator\.kind 'none' has no backbone/);
  const dir = join(mkdtempSync(join(tmpdir(), 'd2po-lora-')), 'run');
  await assert.rejects(run(config('d2po', dir, { ...LORA, targets: ['c_attn', 'q_proj'] }), dir), /lora\.targets: target module 'q_proj' matches no projection of this model \(its projections: c_attn, c_proj, c_fc\)/);
});
