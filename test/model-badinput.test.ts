import assert from 'node:assert/strict';
import { copyFile, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadModel, readSafetensors, readSafetensorsFile, responseLogprobs, sample, writeSafetensors } from '../src/model/index.js';
import { noGrad, scope, tensor, zeros } from '../src/tensor/index.js';

const FIX = join(import.meta.dirname, 'fixtures', 'model');

/** a model folder with the fixture's config and the given weights file bytes */
async function folder(name: string, weights?: Uint8Array): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'd2po-bad-'));
  await copyFile(join(FIX, name, 'config.json'), join(dir, 'config.json'));
  if (weights) await writeFile(join(dir, 'model.safetensors'), weights);
  return dir;
}

test('safetensors round trip: F32, BF16, I64, BOOL, scalars and metadata', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'd2po-st-'));
  const path = join(dir, 'x.safetensors');
  const t = {
    f: tensor([1.5, -2.25, 3e-8, 1e30], { shape: [2, 2] }),
    b: tensor([1, -0.5, 3.140625], { shape: [3] }).to('bfloat16'),
    i: tensor(new BigInt64Array([-3n, 2n ** 40n]), { shape: [2], dtype: 'int64' }),
    m: tensor([1, 0, 1], { shape: [3], dtype: 'bool' }),
    s: tensor([7], { shape: [] }),
  };
  await writeSafetensors(path, t, { format: 'pt', note: 'x' });
  Object.values(t).forEach((x) => x.dispose());
  const { tensors, metadata } = await readSafetensorsFile(path);
  assert.deepEqual(metadata, { format: 'pt', note: 'x' });
  assert.deepEqual([...tensors.keys()], ['f', 'b', 'i', 'm', 's']);
  const g = (k: string) => tensors.get(k)!;
  assert.deepEqual(g('f').shape, [2, 2]);
  assert.deepEqual(Array.from(g('f').toFloat32Array()), Array.from(Float32Array.from([1.5, -2.25, 3e-8, 1e30])));
  assert.equal(g('b').dtype, 'bfloat16');
  assert.deepEqual(g('b').toArray(), [1, -0.5, 3.140625]);
  assert.deepEqual(Array.from(g('i').toBigInt64Array()), [-3n, 2n ** 40n]);
  assert.equal(g('m').dtype, 'bool');
  assert.deepEqual(g('m').toArray(), [1, 0, 1]);
  assert.deepEqual(g('s').shape, []);
  assert.equal(g('s').item(), 7);
  // the header length is a multiple of 8 so that the data section stays aligned
  const bytes = await readFile(path);
  assert.equal(Number(bytes.readBigUInt64LE(0)) % 8, 0);
  for (const t of tensors.values()) t.dispose();
});

test('safetensors: F16 is read (as float32)', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'd2po-st-'));
  const header = Buffer.from(JSON.stringify({ h: { dtype: 'F16', shape: [4], data_offsets: [0, 8] } }));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(header.length));
  // 1.0, -2.0, 0.5, 65504 (the largest half)
  const data = Buffer.from(new Uint16Array([0x3c00, 0xc000, 0x3800, 0x7bff]).buffer);
  await writeFile(join(dir, 'h.safetensors'), Buffer.concat([len, header, data]));
  const t = (await readSafetensors(join(dir, 'h.safetensors'))).get('h')!;
  assert.deepEqual(t.toArray(), [1, -2, 0.5, 65504]);
  t.dispose();
});

test('missing and truncated safetensors files: clear errors naming the path', async () => {
  const full = await readFile(join(FIX, 'gpt2', 'model.safetensors'));
  const missing = await folder('gpt2');
  await assert.rejects(loadModel(missing), new RegExp(`safetensors file not found: ${missing}/model\\.safetensors`));
  const cut = await folder('gpt2', full.subarray(0, full.length - 100));
  await assert.rejects(loadModel(cut), (e: Error) => e.message.includes(`${cut}/model.safetensors`) && /truncated/.test(e.message));
  const tiny = await folder('gpt2', full.subarray(0, 5));
  await assert.rejects(loadModel(tiny), /shorter than the 8-byte header length/);
  const halfHeader = await folder('gpt2', full.subarray(0, 40));
  await assert.rejects(loadModel(halfHeader), /header says \d+ bytes of JSON/);
  const garbage = await folder('gpt2', Buffer.concat([Buffer.from([4, 0, 0, 0, 0, 0, 0, 0]), Buffer.from('{{{{')]));
  await assert.rejects(loadModel(garbage), /header is not JSON/);
  await assert.rejects(loadModel(join(tmpdir(), 'no-such-model-dir')), /is not a model folder: .*config\.json not found/);
});

test('unknown architecture in config.json: error names the file and model_type', async () => {
  const dir = await folder('gpt2');
  await writeFile(join(dir, 'config.json'), JSON.stringify({ model_type: 'bloom', architectures: ['BloomForCausalLM'] }));
  await assert.rejects(loadModel(dir), new RegExp(`${dir}/config\\.json: field 'model_type' = "bloom" is not a supported architecture`));
});

test('checkpoint tensors with the wrong shape, missing or unexpected: errors name the tensor', async () => {
  const source = await readSafetensors(join(FIX, 'gpt2', 'model.safetensors'));
  const write = async (m: Map<string, ReturnType<typeof zeros>>) => {
    const dir = await folder('gpt2');
    await writeSafetensors(join(dir, 'model.safetensors'), m);
    return dir;
  };
  const wrong = new Map(source);
  wrong.set('h.1.mlp.c_fc.weight', zeros([64, 16]).keep()); // Conv1D stored [out, in] by mistake
  await assert.rejects(loadModel(await write(wrong)), /tensor 'h\.1\.mlp\.c_fc\.weight' has shape \[64,16\] but the config needs \[16,64\]/);
  const missing = new Map(source);
  missing.delete('h.0.ln_2.bias');
  await assert.rejects(loadModel(await write(missing)), /missing tensor 'transformer\.h\.0\.ln_2\.bias'/);
  const extra = new Map(source);
  extra.set('h.0.attn.rotary.weight', zeros([2]).keep());
  await assert.rejects(loadModel(await write(extra)), /unexpected tensor 'h\.0\.attn\.rotary\.weight'/);
  const ints = new Map(source);
  ints.set('ln_f.bias', zeros([16], { dtype: 'int64' }).keep());
  await assert.rejects(loadModel(await write(ints)), /tensor 'ln_f\.bias' has dtype int64/);
  for (const t of [...source.values(), ...wrong.values(), ...extra.values(), ...ints.values()]) if (!t.isDisposed) t.dispose();
});

test('prompts longer than the context, empty prompts, bad input tensors: clear errors', async () => {
  const { model } = await loadModel(join(FIX, 'gpt2')); // context 32
  const long = Array.from({ length: 30 }, (_, i) => i);
  assert.throws(() => responseLogprobs(model, { promptIds: [[1], long], responseIds: [[2], [1, 2, 3]] }), /pair 1 has 30 prompt \+ 3 response = 33 tokens, longer than the model's context of 32/);
  assert.throws(() => responseLogprobs(model, { promptIds: [[]], responseIds: [[2]] }), /prompt 0 is empty/);
  assert.throws(() => responseLogprobs(model, { promptIds: [[1]], responseIds: [] }), /need as many responses as prompts/);
  assert.throws(() => sample(model, [long], { maxNewTokens: 5 }), /longest prompt has 30 tokens; with maxNewTokens 5 that is 35, longer than the model's context of 32/);
  assert.throws(() => sample(model, [[1]], { maxNewTokens: 2, topP: 0 }), /topP must be in \(0, 1\]/);
  assert.throws(() => sample(model, [[1]], { maxNewTokens: 2, minNewTokens: 3 }), /minNewTokens must be an integer in \[0, maxNewTokens=2\]/);
  scope(() => {
    assert.throws(() => noGrad(() => model.forward(tensor(new Array(33).fill(1), { shape: [1, 33], dtype: 'int64' }))), /sequence of 33 tokens is longer than the model's context of 32/);
    assert.throws(() => model.forward(tensor([1, 2], { shape: [1, 2] })), /inputIds must be int64, got float32/);
    assert.throws(() => model.forward(tensor([1, 2], { shape: [2], dtype: 'int64' })), /inputIds must be \[batch, length\]/);
    assert.throws(
      () => model.forward(tensor([1, 2], { shape: [1, 2], dtype: 'int64' }), { attentionMask: tensor([1, 1, 1], { shape: [1, 3], dtype: 'int64' }) }),
      /attentionMask has shape \[1,3\]/,
    );
    // an id outside the vocabulary reaches libtorch, which must throw, not crash
    assert.throws(() => noGrad(() => model.forward(tensor([1, 5000], { shape: [1, 2], dtype: 'int64' }))));
  });
  model.dispose();
});
