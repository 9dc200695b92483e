// d2po run's flag handling: seeds, threads, the custom task's default model, --device on resume, --dtype.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createModel, readSafetensors, saveModel } from '../src/model/index.js';
import { RunStore } from '../src/store/run-store.js';
import { resolveModelPath } from '../src/util/model-registry.js';
import { d2po } from './cli.js';
import { TOKENIZER, tinyModelDir, toyTaskFile } from './d2po-fixture.js';

const root = mkdtempSync(join(tmpdir(), 'd2po-run-flags-'));
after(() => rmSync(root, { recursive: true, force: true }));
const task = toyTaskFile();
const printed = async (args: string[]) => {
  const r = await d2po(['run', '--task', task, ...args, '--print-config']);
  return { ...r, config: r.code === 0 ? JSON.parse(r.stdout) : null };
};

test('seeds outside 0..2^32-1 are refused by run, sample and demo; the bounds are accepted', async () => {
  for (const seed of ['4294967296', '-1', '1e10']) {
    const r = await printed([`--seed=${seed}`]);
    assert.equal(r.code, 2, `run --seed ${seed}: ${r.stderr}`);
    assert.match(r.stderr, /seed: .*4294967295/);
  }
  assert.equal((await printed(['--seed', '4294967295'])).config.seed, 4294967295);
  assert.equal((await printed(['--seed', '0'])).config.seed, 0);
  for (const cmd of [['sample', '--model', 'policy-base', '--prompt', 'x'], ['demo']]) {
    for (const seed of ['4294967296', '-1']) {
      const r = await d2po([...cmd, `--seed=${seed}`]);
      assert.equal(r.code, 2, `${cmd[0]} --seed ${seed}: ${r.stderr}`);
      assert.match(r.stderr, /--seed must be an integer in 0\.\.4294967295/);
    }
  }
});

test('--threads is bounded by the machine, and the message says so', async () => {
  const max = availableParallelism();
  const r = await printed(['--threads', '100000']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, new RegExp(`threads: 100000 is more than this machine's ${max} CPUs; give at most ${max}`));
  const fromFile = join(root, 'threads.json');
  writeFileSync(fromFile, JSON.stringify({ threads: max + 1 }));
  assert.equal((await printed(['--config', fromFile])).code, 2, 'a config file is bounded too');
  assert.equal((await printed(['--threads', String(max)])).config.threads, max);
});

test('a custom task defaults --model to the shipped policy base, as built-in tasks do', async () => {
  const r = await printed([]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.config.model, resolveModelPath('policy-base'));
});

test('--device (and --threads) are allowed on resume and recorded', async () => {
  const model = await tinyModelDir();
  const dir = join(root, 'resumed');
  const args = ['--method', 'dpo', '--model', model, '--out', dir, '--gold-budget', '2', '--threads', '1', '--no-progress'];
  // a run started elsewhere on a GPU, that stopped before any checkpoint
  const s = RunStore.open(dir, { create: true });
  s.setMeta('config', { ...(await printed(args)).config, device: 'cuda' });
  s.setMeta('status', 'failed');
  s.close();
  const bad = await d2po(['run', '--resume', dir, '--device', 'tpu']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /device: expected 'cpu', 'cuda' or 'cuda:N'/);
  assert.match((await d2po(['run', '--resume', dir, '--seed', '3'])).stderr, /--resume continues a run with its stored config/);
  const r = await d2po(['run', '--resume', dir, '--device', 'cpu', '--no-progress']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /device: cuda -> cpu/);
  const after = RunStore.open(dir, { readonly: true });
  try {
    assert.equal(after.getMeta<{ device: string }>('config')!.device, 'cpu', 'the stored config says what ran');
    assert.deepEqual(
      after.getMeta<{ field: string; from: unknown; to: unknown }[]>('resume_changes')!.map(({ field, from, to }) => ({ field, from, to })),
      [{ field: 'device', from: 'cuda', to: 'cpu' }],
    );
    assert.equal(after.getMeta('status'), 'done');
  } finally {
    after.close();
    rmSync(model, { recursive: true, force: true });
  }
});

test('--dtype bf16 holds the weights in bf16 through a run (a Llama-architecture policy here); fp32 by default; others refused', async () => {
  assert.equal((await printed([])).config.dtype, 'fp32');
  const bad = await printed(['--dtype', 'fp16']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /dtype: .*"fp32".*"bf16"/);
  const model = join(root, 'llama');
  const llama = createModel(
    { model_type: 'llama', vocab_size: 4096, max_position_embeddings: 40, hidden_size: 32, intermediate_size: 48, num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 2, bos_token_id: 4095, eos_token_id: 4095 },
    { seed: 1 },
  );
  await saveModel(model, llama, { tokenizerJson: readFileSync(TOKENIZER, 'utf8') });
  llama.dispose();
  const dir = join(root, 'bf16');
  const r = await d2po(['run', '--task', task, '--model', model, '--dtype', 'bf16', '--out', dir, '--gold-budget', '8', '--initial-gold', '4', '--rounds', '1', '--steps', '2', '--batch-size', '2', '--threads', '1', '--no-progress']);
  assert.equal(r.code, 0, r.stderr);
  const policy = await readSafetensors(join(dir, 'checkpoints', 'step-000002', 'policy', 'model.safetensors'));
  assert.ok([...policy.values()].every((t) => t.dtype === 'bfloat16'), 'the trained policy is checkpointed in bf16');
  policy.forEach((t) => t.dispose());
});
