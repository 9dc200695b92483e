import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync, mkdirSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { parsePretrainConfig } from '../src/train/pretrain-config.js';
import { pretrain } from '../src/train/pretrain.js';
import { loadModel } from '../src/model/index.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const tokenizer = join(root, 'models/brown-bpe-4k/tokenizer.json');

function setup() {
  const dir = mkdtempSync(join(tmpdir(), 'pretrain-'));
  const text = (seed: number) =>
    Array.from({ length: 12 }, (_, i) => `Document ${i + seed}. The jury said the election was conducted well, and ${i * 7} voters agreed.`).join('\n\n');
  writeFileSync(join(dir, 'train.txt'), text(0));
  writeFileSync(join(dir, 'dev.txt'), text(100));
  const cfg = (out: string) =>
    parsePretrainConfig(
      {
        model: { n_embd: 32, n_layer: 1, n_head: 2, n_positions: 16 },
        tokenizer,
        data: { train: join(dir, 'train.txt'), dev: join(dir, 'dev.txt') },
        steps: 6,
        batchSize: 4,
        lr: 0.01,
        warmupSteps: 2,
        seed: 3,
        out: join(dir, out),
      },
      'test config',
    );
  return { dir, cfg };
}

test('interrupting and resuming gives the same model as an uninterrupted run', async () => {
  const { dir, cfg } = setup();
  const quiet = { progress: false, log: () => {} };
  const full = await pretrain(cfg('full'), quiet);
  assert.equal(full.completed, true);
  assert.equal(full.steps, 6);

  const part = await pretrain(cfg('parts'), { ...quiet, stopAfter: 3 });
  assert.equal(part.completed, false);
  assert.equal(part.steps, 3);
  assert.ok(existsSync(join(dir, 'parts/checkpoint/trainer_state.json')));
  assert.ok(!existsSync(join(dir, 'parts/model.safetensors')), 'no final model before the run completes');
  const resumed = await pretrain(null, { ...quiet, resume: join(dir, 'parts') });
  assert.equal(resumed.completed, true);
  assert.equal(resumed.steps, 6);

  assert.deepEqual(resumed.history, full.history, 'same per-step losses');
  assert.equal(resumed.devPpl, full.devPpl);
  const a = readFileSync(join(dir, 'full/model.safetensors'));
  const b = readFileSync(join(dir, 'parts/model.safetensors'));
  assert.ok(a.equals(b), 'bit-identical weights');
  // It learned something: the training loss fell and the dev perplexity is far below the vocabulary size.
  assert.ok(full.history.at(-1)!.loss < full.history[0].loss, JSON.stringify(full.history));
  assert.ok(full.devPpl! < 4096 / 2, `dev ppl ${full.devPpl}`);

  // The output folder is a Hugging Face model folder that loadModel reads.
  const loaded = await loadModel(join(dir, 'full'));
  assert.equal(loaded.config.model_type, 'gpt2');
  assert.equal(loaded.tokenizer?.eosId, 4095);
  assert.equal(loaded.model.numParameters(), full.params);
  loaded.model.dispose();
  const ev = JSON.parse(readFileSync(join(dir, 'full/eval.json'), 'utf8'));
  assert.equal(ev.params, full.params);
  assert.equal(ev.test_ppl, null);

  // Continued pretraining starts from the given weights (a negligible lr keeps them), and
  // refuses a folder of another architecture.
  const cont = await pretrain({ ...cfg('cont'), init: join(dir, 'full'), steps: 1, lr: 1e-12, warmupSteps: 0 }, quiet);
  assert.ok(Math.abs(cont.devPpl! / full.devPpl! - 1) < 1e-3, `${cont.devPpl} vs ${full.devPpl}`);
  const other = cfg('other');
  await assert.rejects(
    pretrain({ ...other, model: { ...other.model, n_embd: 64 }, init: join(dir, 'full') }, quiet),
    /init model .*full does not match the config: n_embd is 32, the config says 64/,
  );
});

test('resuming from a folder that is not a checkpoint, and a missing corpus file, fail clearly', async () => {
  const { dir, cfg } = setup();
  mkdirSync(join(dir, 'empty'));
  await assert.rejects(pretrain(null, { resume: join(dir, 'empty') }), /is not a pretraining checkpoint \(no trainer_state\.json/);
  await assert.rejects(pretrain(null, { resume: join(dir, 'nowhere') }), /cannot resume: .*nowhere does not exist/);
  const c = cfg('x');
  await assert.rejects(
    pretrain({ ...c, data: { train: join(dir, 'missing.txt'), dev: join(dir, 'dev.txt') } }, { progress: false, log: () => {} }),
    /corpus file for the train split not found: .*missing\.txt/,
  );
});

test('d2po pretrain reports a config with a wrong field, naming file and field', async () => {
  const { dir } = setup();
  const file = join(dir, 'cfg.json');
  writeFileSync(file, JSON.stringify({ model: { n_embd: 32, n_layer: 1, n_head: 2, n_positions: 16 }, tokenizer, data: 'brown', steps: 1, batchSize: 1, lr: 'fast', out: 'o' }));
  const r = await promisify(execFile)(process.execPath, [join(root, 'bin/d2po.mjs'), 'pretrain', '--config', file]).then(
    () => assert.fail('should exit non-zero'),
    (e: { code: number; stderr: string }) => e,
  );
  assert.equal(r.code, 1);
  assert.match(r.stderr, new RegExp(`${file.replace(/[.]/g, '\\.')}: field 'lr'`));
});
