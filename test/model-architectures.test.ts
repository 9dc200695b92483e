import assert from 'node:assert/strict';
import { cp, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { createModel, loadModel, readSafetensorsFile, responseLogprobs, sample, saveModel, type CausalLM } from '../src/model/index.js';
import { noGrad, scope } from '../src/tensor/index.js';
import { TEST_DEVICE } from './device.js';

// What the Llama-family and GPT-NeoX loaders accept and refuse beyond the numerics
// (test/model-numerics.test.ts) and KV-cache sampling (test/model-sample.test.ts).
const FIX = join(import.meta.dirname, 'fixtures', 'model');
const PAIRS = { promptIds: [[5, 17, 3], [60, 2]], responseIds: [[8, 40, 2, 9], [33]] };

/** a copy of a fixture folder whose config.json has `changes` applied (undefined deletes a field) */
async function variant(name: string, changes: Record<string, unknown>): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), `d2po-${name}-`));
  await cp(join(FIX, name), dir, { recursive: true });
  const cfg = JSON.parse(await readFile(join(dir, 'config.json'), 'utf8'));
  await writeFile(join(dir, 'config.json'), JSON.stringify({ ...cfg, ...changes }));
  return dir;
}

const logprobs = (m: CausalLM) => scope(() => noGrad(() => responseLogprobs(m, PAIRS).tokenLogprobs.toFloat32Array()));

test('config fields that change the maths and are not implemented are refused, naming the file and the field', async () => {
  const refused: [string, Record<string, unknown>, string][] = [
    ['llama', { rope_scaling: { rope_type: 'llama3', factor: 8 } }, 'rope_scaling'],
    ['llama', { hidden_act: 'gelu' }, 'hidden_act'],
    ['llama', { mlp_bias: true }, 'mlp_bias'],
    ['llama', { partial_rotary_factor: 0.5 }, 'partial_rotary_factor'],
    ['qwen2', { use_sliding_window: true }, 'use_sliding_window'],
    ['qwen2', { layer_types: ['full_attention', 'sliding_attention'] }, 'layer_types.1'],
    ['llama', { num_key_value_heads: 3 }, 'num_attention_heads'],
    ['gpt_neox', { rope_scaling: { type: 'linear', factor: 2 } }, 'rope_scaling'],
    ['gpt_neox', { partial_rotary_factor: 0.5 }, 'partial_rotary_factor'],
    ['gpt_neox', { rotary_pct: 0.1 }, 'rotary_pct'],
  ];
  for (const [name, changes, field] of refused) {
    const dir = await variant(name, changes);
    await assert.rejects(loadModel(dir, { device: TEST_DEVICE }), (e: Error) => {
      assert.ok(e.message.includes(join(dir, 'config.json')) && e.message.includes(`field '${field}'`), `${JSON.stringify(changes)}: ${e.message}`);
      return true;
    });
  }
  // the values that change nothing load
  for (const [name, changes] of [
    ['llama', { rope_scaling: null, mlp_bias: false, partial_rotary_factor: 1 }],
    ['qwen2', { use_sliding_window: false, layer_types: ['full_attention', 'full_attention'] }],
    ['gpt_neox', { partial_rotary_factor: 0.25, rope_theta: 10000 }],
  ] as const) {
    (await loadModel(await variant(name, changes), { device: TEST_DEVICE })).model.dispose();
  }
});

test("Mistral's sliding window caps the context: within it, attention is the full causal one", async () => {
  const { model } = await loadModel(join(FIX, 'mistral'), { device: TEST_DEVICE });
  assert.equal(model.contextLength, 32); // sliding_window 32 < max_position_embeddings 128
  assert.throws(() => sample(model, [[1, 2, 3]], { maxNewTokens: 30 }), /longer than the model's context of 32/);
  model.dispose();
  const open = (await loadModel(await variant('mistral', { sliding_window: null }), { device: TEST_DEVICE })).model;
  assert.equal(open.contextLength, 128);
  open.dispose();
});

test('--dtype bfloat16 holds the weights in bf16 (log-probs near float32); saving keeps bf16, loading F32 by default', async () => {
  for (const name of ['llama', 'qwen2', 'mistral', 'gpt_neox', 'gpt2', 'opt']) {
    const f32 = (await loadModel(join(FIX, name), { device: TEST_DEVICE })).model;
    const bf16 = (await loadModel(join(FIX, name), { dtype: 'bfloat16', device: TEST_DEVICE })).model;
    assert.ok(f32.parameters().every((p) => p.dtype === 'float32'));
    assert.ok(bf16.parameters().every((p) => p.dtype === 'bfloat16'));
    const a = logprobs(f32);
    const b = logprobs(bf16);
    // bf16 weights and activations (8 significant bits) move log-probs of a few nats by ~1e-2 per layer
    const worst = Math.max(...a.map((x, i) => Math.abs(x - b[i])));
    assert.ok(worst < 0.3 && worst > 0, `${name}: bf16 vs f32 worst ${worst}`);
    // sampling with a bf16 cache runs
    const [[s]] = sample(bf16, [[5, 17, 3]], { maxNewTokens: 5, temperature: 0, eosId: null });
    assert.equal(s.length, 5);
    const dir = await mkdtemp(join(tmpdir(), 'd2po-bf16-'));
    await saveModel(dir, bf16);
    const { tensors } = await readSafetensorsFile(join(dir, 'model.safetensors'));
    assert.ok([...tensors.values()].every((t) => t.dtype === 'bfloat16'), `${name}: written as BF16`);
    tensors.forEach((t) => t.dispose());
    const again = (await loadModel(dir, { device: TEST_DEVICE })).model;
    assert.ok(again.parameters().every((p) => p.dtype === 'float32'));
    assert.deepEqual(
      again.parameters().map((p) => Array.from(p.toFloat32Array())),
      bf16.parameters().map((p) => Array.from(p.toFloat32Array())),
    );
    for (const m of [f32, bf16, again]) m.dispose();
  }
});

test('sharded checkpoints: the index is checked against the shards, naming the file and the field', async () => {
  const dir = await variant('llama', {});
  const indexPath = join(dir, 'model.safetensors.index.json');
  const index = JSON.parse(await readFile(indexPath, 'utf8'));
  const write = (weightMap: Record<string, string>) => writeFile(indexPath, JSON.stringify({ ...index, weight_map: weightMap }));
  await write({ ...index.weight_map, 'model.norm.weight': 'model-00001-of-00002.safetensors' });
  await assert.rejects(loadModel(dir, { device: TEST_DEVICE }), /index\.json: tensor 'model\.norm\.weight' is not in .*model-00001-of-00002\.safetensors, the shard its weight_map names/);
  await write({ ...index.weight_map, 'model.norm.weight': '../elsewhere.safetensors' });
  await assert.rejects(loadModel(dir, { device: TEST_DEVICE }), /index\.json: field 'weight_map\.model\.norm\.weight': expected the name of a \.safetensors file in the same folder/);
  // a shard left out of the index leaves its parameters missing
  await write(Object.fromEntries(Object.entries(index.weight_map as Record<string, string>).filter(([, f]) => f.startsWith('model-00001'))));
  await assert.rejects(loadModel(dir, { device: TEST_DEVICE }), /index\.json: missing tensors 'model\.layers\.\d/);
});

test('createModel: Llama-family and GPT-NeoX from a partial config, transformers init, seeded', () => {
  const llama = { model_type: 'llama' as const, vocab_size: 64, hidden_size: 32, intermediate_size: 48, num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 2 };
  const a = createModel(llama, { seed: 3, device: TEST_DEVICE });
  // embed + head 2*64*32; per layer q,o 32*32 each, k,v 32*16 each, MLP 3*32*48, two norms of 32; final norm 32
  assert.equal(a.numParameters(), 2 * 64 * 32 + 2 * (2 * 32 * 32 + 2 * 32 * 16 + 3 * 32 * 48 + 2 * 32) + 32);
  const b = createModel({ ...llama, model_type: 'qwen2', tie_word_embeddings: true }, { seed: 3, device: TEST_DEVICE });
  // Qwen2: tied head, q/k/v biases
  assert.equal(b.numParameters(), a.numParameters() - 64 * 32 + 2 * (32 + 16 + 16));
  const neox = createModel({ model_type: 'gpt_neox', vocab_size: 64, hidden_size: 32, intermediate_size: 64, num_hidden_layers: 1, num_attention_heads: 4 }, { seed: 3, device: TEST_DEVICE });
  assert.equal(neox.numParameters(), 2 * 64 * 32 + (4 * 32 + 3 * 32 * 32 + 3 * 32 + 32 * 32 + 32 + 2 * 32 * 64 + 64 + 32) + 2 * 32);
  for (const m of [a, b, neox]) {
    const [[s]] = sample(m, [[1, 2, 3]], { maxNewTokens: 4, temperature: 0, eosId: null });
    assert.equal(s.length, 4);
    m.dispose();
  }
});
