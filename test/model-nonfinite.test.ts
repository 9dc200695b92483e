import assert from 'node:assert/strict';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { checkSafetensorsFile, loadModel } from '../src/model/index.js';
import { loadOptimizer } from '../src/d2po/optimizer-state.js';
import { AdamW, scope, tensor } from '../src/tensor/index.js';
import { writeSafetensors } from '../src/model/index.js';
import { tinyModelDir } from './d2po-fixture.js';

test('a model whose weights hold NaN or infinity is refused on load, naming the file and the tensor', async () => {
  for (const bad of [NaN, Infinity]) {
    const dir = await tinyModelDir();
    const { model } = await loadModel(dir);
    const named = new Map(model.namedParameters());
    const name = [...named.keys()][3];
    const poisoned = scope(() => {
      const w = named.get(name)!;
      const flat = Array.from(w.toFloat32Array());
      flat[1] = bad;
      return tensor(flat, { shape: w.shape }).keep();
    });
    named.set(name, poisoned);
    await writeSafetensors(join(dir, 'model.safetensors'), named);
    poisoned.dispose();
    model.dispose();
    const what = Number.isNaN(bad) ? /1 NaN, 0 infinite/ : /0 NaN, 1 infinite/;
    await assert.rejects(loadModel(dir), (e: Error) => {
      assert.ok(e.message.includes(join(dir, 'model.safetensors')), e.message);
      assert.ok(e.message.includes(`tensor '${name}' holds non-finite values`), e.message);
      assert.match(e.message, what);
      return true;
    });
    await rm(dir, { recursive: true });
  }
});

test('an optimizer state with non-finite moments is refused on load', async () => {
  const dir = await tinyModelDir();
  const p = tensor([1, 2, 3], { shape: [3] });
  const path = join(dir, 'opt.safetensors');
  const m = tensor([0, NaN, 0], { shape: [3] });
  await writeSafetensors(path, { 'exp_avg.0': m }, { step: '1' });
  const opt = new AdamW([p], { lr: 0.1 });
  await assert.rejects(loadOptimizer(path, opt), /opt\.safetensors: tensor 'exp_avg\.0' holds non-finite values \(1 NaN/);
  p.dispose();
  m.dispose();
  await rm(dir, { recursive: true });
});

test('checkSafetensorsFile tells a cut file from a whole one without reading the tensors', async () => {
  const dir = await tinyModelDir();
  const path = join(dir, 'model.safetensors');
  await checkSafetensorsFile(path);
  const bytes = await readFile(path);
  await writeFile(path, bytes.subarray(0, bytes.length - 100));
  await assert.rejects(checkSafetensorsFile(path), /model\.safetensors: not a valid safetensors file: .*truncated/);
  await writeFile(path, bytes.subarray(0, 5));
  await assert.rejects(checkSafetensorsFile(path), /shorter than the 8-byte header/);
  await assert.rejects(checkSafetensorsFile(join(dir, 'nope.safetensors')), /safetensors file not found/);
  await rm(dir, { recursive: true });
});
