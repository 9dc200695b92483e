import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, truncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadTask } from '../src/tasks/registry.js';
import { RewardFunctionGold } from '../src/gold/index.js';
import { resolveConfig } from '../src/d2po/presets.js';
import { runLoop, type LoopOptions } from '../src/d2po/loop.js';
import { RunStore } from '../src/store/run-store.js';
import { createModel, saveModel } from '../src/model/index.js';
import type { PartialConfig, RunConfig } from '../src/d2po/config.js';
import { processStartTime } from '../src/util/process-alive.js';
import { summarizeRun } from '../src/store/run-summary.js';
import { d2po } from './cli.js';
import { TOKENIZER, tinyModelDir, toyTaskFile } from './d2po-fixture.js';

const model = await tinyModelDir();
const taskFile = toyTaskFile();
const task = await loadTask(taskFile);
const root = mkdtempSync(join(tmpdir(), 'd2po-resume-safety-'));
let n = 0;

/** P = 12: 4 initial + 2 rounds of 4 over 4 steps of 4 prompts; checkpoints after steps 0, 2 and 4. */
function config(over: PartialConfig = {}): RunConfig {
  return resolveConfig({
    method: 'd2po',
    task: taskFile,
    model,
    out: join(root, `run-${n++}`),
    seed: 3,
    budget: { gold: 12, initial: 4, rounds: 2, steps: 4 },
    rollout: { batchSize: 4 },
    policy: { batchSize: 4, goldEpochs: 1 },
    init: { policyEpochs: 1, discriminatorEpochs: 1 },
    discriminator: { epochs: 1, batchSize: 4 },
    eval: { every: 0, prompts: 2, accuracyPairs: 0 },
    checkpoint: { every: 2 },
    ...over,
  });
}

const opts = (dir: string, o: Partial<LoopOptions> = {}): LoopOptions => ({ dir, task, gold: new RewardFunctionGold(task), progress: false, ...o });

/** A run stopped by an error after step `at` (its checkpoints up to then written). */
async function stopped(at: number): Promise<string> {
  const c = config();
  await assert.rejects(
    runLoop(c, opts(c.out, { onStep: (s) => { if (s === at) throw new Error('stop here'); } })),
    /stop here/,
  );
  return c.out;
}

function assertExactLedger(dir: string): void {
  const s = RunStore.open(dir, { readonly: true });
  const ledger = s.ledger();
  assert.equal(ledger.length, 12, 'exactly P labels');
  assert.equal(new Set(ledger.map((e) => e.pairId)).size, 12, 'none twice');
  assert.ok(ledger.every((e) => e.answeredAt !== null && e.attempts === 1), 'each asked once');
  assert.equal(s.getMeta('status'), 'done');
  s.close();
}

test('a response length the context cannot hold is refused with the numbers, before any run folder exists', async () => {
  const c = config({ rollout: { batchSize: 4, maxNewTokens: 1000 } });
  await assert.rejects(runLoop(c, opts(c.out)), (e: Error) => {
    assert.match(e.message, /rollout\.maxNewTokens: 1000 new tokens do not fit: the model's context is 40 tokens/);
    assert.match(e.message, /the longest training prompt has \d+\)/);
    assert.match(e.message, /room for 32 response tokens; ask for at most 32/);
    return true;
  });
  assert.ok(!existsSync(c.out), 'no run folder is left behind');
});

test('a model whose context leaves no room for a response is refused', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'd2po-ctx8-'));
  const m = createModel({ model_type: 'gpt2', vocab_size: 4096, n_positions: 8, n_embd: 16, n_layer: 1, n_head: 2, bos_token_id: 4095, eos_token_id: 4095 }, { seed: 1 });
  await saveModel(dir, m, { tokenizerJson: readFileSync(TOKENIZER, 'utf8') });
  m.dispose();
  const c = config({ model: dir });
  await assert.rejects(runLoop(c, opts(c.out)), /rollout\.maxNewTokens: no response fits: the model's context is 8 tokens .*room for 0 response tokens/);
  rmSync(dir, { recursive: true });
});

test('the stored response length is the one sampled: the task default when none is asked', async () => {
  const c = config({ method: 'dpo', budget: { gold: 4, initial: 'all', rounds: 0, steps: 0 } });
  assert.equal(c.rollout.maxNewTokens, 0);
  await runLoop(c, opts(c.out));
  const s = RunStore.open(c.out, { readonly: true });
  assert.equal(s.getMeta<RunConfig>('config')!.rollout.maxNewTokens, 12, "the toy task's generation.maxNewTokens");
  const lengths = s.goldLabels().flatMap((g) => [g.pair.aIds.length, g.pair.bIds.length]);
  assert.ok(Math.max(...lengths) <= 12 && Math.max(...lengths) > 0, `${lengths}`);
  s.close();
});

test('a run whose recorded pid now belongs to another process resumes; a live one needs --force, with a warning', async () => {
  const dir = await stopped(1);
  const s = RunStore.open(dir);
  s.setMeta('status', 'running');
  s.setMeta('pid', 1);
  s.setMeta('pid_start', processStartTime(1)! + 1); // pid 1 started at another time: a reused pid
  s.close();
  await runLoop(null, opts(dir, { resume: true }));
  assertExactLedger(dir);

  // a live process recorded with its own start time is this run still running
  const dir2 = await stopped(1);
  const sleeper = spawn('sleep', ['30']);
  await new Promise((r) => sleeper.once('spawn', r));
  const s2 = RunStore.open(dir2);
  s2.setMeta('status', 'running');
  s2.setMeta('pid', sleeper.pid);
  s2.setMeta('pid_start', processStartTime(sleeper.pid!));
  s2.close();
  await assert.rejects(runLoop(null, opts(dir2, { resume: true })), new RegExp(`still running \\(process ${sleeper.pid}\\); if no process runs it any more, resume with --force`));
  const warnings: string[] = [];
  await runLoop(null, opts(dir2, { resume: true, force: true, warn: (m) => warnings.push(m) }));
  sleeper.kill();
  assert.match(warnings.join('\n'), new RegExp(`marked running by process ${sleeper.pid}, which is alive; resuming anyway \\(--force\\)`));
  assertExactLedger(dir2);
});

test('resume falls back past a truncated newest checkpoint and says so', async () => {
  const dir = await stopped(3); // checkpoints after steps 0 and 2
  const weights = join(dir, 'checkpoints', 'step-000002', 'policy', 'model.safetensors');
  truncateSync(weights, 1000);
  const warnings: string[] = [];
  await runLoop(null, opts(dir, { resume: true, warn: (m) => warnings.push(m) }));
  assert.match(
    warnings.join('\n'),
    /resuming .* from checkpoints\/step-000000 \(step 0\), the newest checkpoint that can be restored; passed over checkpoints\/step-000002: .*model\.safetensors: not a valid safetensors file: .*truncated/,
  );
  assertExactLedger(dir);
});

test('resume refuses to restart from step 0 when the checkpoints are gone, unless forced', async () => {
  const dir = await stopped(3);
  rmSync(join(dir, 'checkpoints'), { recursive: true });
  await assert.rejects(
    runLoop(null, opts(dir, { resume: true })),
    /no checkpoint can be restored \(checkpoints\/step-000002: its folder is gone; checkpoints\/step-000000: its folder is gone\); resuming would restart it from step 0\. Give --force/,
  );
  const warnings: string[] = [];
  await runLoop(null, opts(dir, { resume: true, force: true, warn: (m) => warnings.push(m) }));
  assert.match(warnings.join('\n'), /restarting from step 0 \(--force\); gold labels already bought are reused/);
  assertExactLedger(dir);
});

test('non-finite logits, losses and scores fail the run, naming which and the step', async () => {
  const cases: [PartialConfig, RegExp][] = [
    [{ policy: { batchSize: 4, goldEpochs: 1, lr: 1e30 }, init: { policyEpochs: 1, discriminatorEpochs: 1, policyLr: 1e30 } }, /sample: the model gave non-finite logits for new token 1/],
    [{ discriminator: { epochs: 1, batchSize: 4, lr: 1e30 }, init: { policyEpochs: 1, discriminatorEpochs: 2 } }, /non-finite discriminator warm-start loss \(NaN\) at step 0/],
    [{ discriminator: { epochs: 1, batchSize: 4, lr: 1e10 } }, /non-finite discriminator score \(member 0, sample \d+\) \(NaN\) at step 1/],
  ];
  for (const [over, err] of cases) {
    const c = config(over);
    await assert.rejects(runLoop(c, opts(c.out)), err);
    const s = RunStore.open(c.out, { readonly: true });
    assert.equal(s.getMeta('status'), 'failed');
    assert.match(s.getMeta<string>('error')!, err);
    s.close();
  }
});

test.after(() => {
  rmSync(root, { recursive: true, force: true });
  rmSync(model, { recursive: true, force: true });
});

test('runs show reads a run whose pid was reused as failed, not running', () => {
  const dir = join(root, 'reused-pid');
  const s = RunStore.open(dir, { create: true });
  s.setMeta('config', config());
  s.setMeta('status', 'running');
  s.setMeta('pid', 1);
  s.setMeta('pid_start', processStartTime(1)! + 1);
  s.close();
  const sum = summarizeRun(dir);
  assert.equal(sum.status, 'failed');
  assert.match(sum.reason!, /process 1 is gone .*--resume/);
});

test('--force goes with --resume only', async () => {
  const r = await d2po(['run', '--force', '--task', taskFile, '--model', model]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--force goes with --resume DIR/);
});
