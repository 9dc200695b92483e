import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parsePretrainConfig, readPretrainConfig } from '../src/train/pretrain-config.js';
import { cosineLr } from '../src/train/schedule.js';
import { corpusDocuments, evalWindows, tokenStream, trainBatch } from '../src/data/lm-data.js';

const base = {
  model: { n_embd: 32, n_layer: 1, n_head: 2, n_positions: 16 },
  tokenizer: 'tok/tokenizer.json',
  data: 'brown',
  steps: 10,
  batchSize: 2,
  lr: 0.001,
  out: 'out',
};

test('config: defaults, paths relative to the config file, seqLen from n_positions', () => {
  const c = parsePretrainConfig(base, 'x.json', '/cfg');
  assert.equal(c.tokenizer, '/cfg/tok/tokenizer.json');
  assert.equal(c.out, '/cfg/out');
  assert.equal(c.seqLen, 16);
  assert.equal(c.minLr, 0.0001);
  assert.equal(c.bf16, false);
  assert.deepEqual(c.betas, [0.9, 0.95]);
  assert.equal(c.model.resid_pdrop, 0.1);
});

test('config: a wrong field is named, with the file', async () => {
  assert.throws(() => parsePretrainConfig({ ...base, stpes: 5 }, 'cfg.json'), /cfg\.json: field '\(root\)': unknown field\(s\) 'stpes'/);
  assert.throws(() => parsePretrainConfig({ ...base, lr: -1 }, 'cfg.json'), /cfg\.json: field 'lr'/);
  assert.throws(
    () => parsePretrainConfig({ ...base, model: { ...base.model, n_layers: 2 } }, 'cfg.json'),
    /field 'model': unknown field\(s\) 'n_layers'/,
  );
  assert.throws(() => parsePretrainConfig({ ...base, seqLen: 32 }, 'cfg.json'), /'seqLen' \(32\) exceeds 'model.n_positions' \(16\)/);
  assert.throws(() => parsePretrainConfig({ ...base, data: 'wiki' }, 'cfg.json'), /cfg\.json: field 'data'/);
  const dir = mkdtempSync(join(tmpdir(), 'ptcfg-'));
  writeFileSync(join(dir, 'bad.json'), '{ "steps": ');
  await assert.rejects(readPretrainConfig(join(dir, 'bad.json')), /bad\.json: not valid JSON/);
  await assert.rejects(readPretrainConfig(join(dir, 'none.json')), /cannot read config .*none\.json: no such file/);
});

test('cosine schedule with warm-up', () => {
  const o = { lr: 1, minLr: 0.1, warmupSteps: 4, totalSteps: 14 };
  assert.deepEqual([0, 1, 3].map((s) => cosineLr(s, o)), [0.25, 0.5, 1]);
  assert.equal(cosineLr(4, o), 1);
  assert.ok(Math.abs(cosineLr(9, o) - 0.55) < 1e-12); // half way: (1 + 0.1) / 2
  assert.ok(Math.abs(cosineLr(14, o) - 0.1) < 1e-12);
  assert.ok(Math.abs(cosineLr(20, o) - 0.1) < 1e-12);
});

test('token stream, per-step batches and evaluation windows', () => {
  const enc = (t: string) => Array.from(t, (ch) => ch.charCodeAt(0) - 96); // a=1, b=2, ...
  const s = tokenStream(['ab', 'cde'], enc, 0);
  assert.deepEqual([...s], [0, 1, 2, 0, 3, 4, 5, 0]);
  const b1 = trainBatch(s, { batchSize: 3, seqLen: 4, seed: 7, step: 5 });
  const b2 = trainBatch(s, { batchSize: 3, seqLen: 4, seed: 7, step: 5 });
  assert.deepEqual(b1, b2, 'a step\'s batch depends only on (seed, step)');
  for (let b = 0; b < 3; b++) {
    const x = [...b1.inputs.subarray(b * 4, b * 4 + 4)];
    const y = [...b1.targets.subarray(b * 4, b * 4 + 4)];
    const off = [...s].findIndex((_, i) => [...s.subarray(i, i + 4)].join() === x.join());
    assert.ok(off >= 0 && off <= 3);
    assert.deepEqual(y, [...s.subarray(off + 1, off + 5)], 'targets are the inputs shifted by one');
  }
  const others = [0, 1, 2, 3].map((step) => trainBatch(s, { batchSize: 3, seqLen: 4, seed: 7, step }).inputs.join());
  assert.ok(new Set(others).size > 1, 'steps differ');
  assert.throws(() => trainBatch(s, { batchSize: 1, seqLen: 8, seed: 0, step: 0 }), /too short/);
  const w = evalWindows(s, 3);
  assert.deepEqual(w.map((x) => [[...x.inputs], [...x.targets]]), [
    [[0, 1, 2], [1, 2, 0]],
    [[0, 3, 4], [3, 4, 5]],
    [[5], [0]],
  ]);
  assert.equal(evalWindows(s, 3, 4).reduce((n, x) => n + x.targets.length, 0), 4);
});

test('a missing corpus file is named', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ptdata-'));
  writeFileSync(join(dir, 'train.txt'), 'first doc\n\nsecond\ndoc\n');
  assert.deepEqual(await corpusDocuments({ train: join(dir, 'train.txt'), dev: join(dir, 'dev.txt') }, 'train'), ['first doc', 'second\ndoc']);
  await assert.rejects(
    corpusDocuments({ train: join(dir, 'train.txt'), dev: join(dir, 'dev.txt') }, 'dev'),
    new RegExp(`corpus file for the dev split not found: ${join(dir, 'dev.txt')}`),
  );
  assert.equal(await corpusDocuments({ train: join(dir, 'train.txt'), dev: join(dir, 'train.txt') }, 'test'), null);
});
