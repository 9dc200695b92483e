import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { cp, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { centralDifference } from './finite-difference.js';
import { loadModel, readSafetensorsFile, responseLogprobs, type CausalLM } from '../src/model/index.js';
import { attachNewAdapter, type LoraSpec } from '../src/model/lora.js';
import { loadAdapter, saveAdapter } from '../src/model/peft.js';
import { mergeAdapter } from '../src/model/merge.js';
import { FrozenLogprobs, PreferenceTrainer } from '../src/d2po/preference-trainer.js';
import { liveTensorCount, noGrad, scope, tensor } from '../src/tensor/index.js';

// LoRA on the tiny fixture models of scripts/torch_reference.py; PyTorch's adapters and their
// float64 log-probs come from scripts/lora_reference.py (test/fixtures/lora).
const MODEL = join(import.meta.dirname, 'fixtures', 'model');
const LORA = join(import.meta.dirname, 'fixtures', 'lora');
const NAMES = ['gpt2', 'opt', 'opt-postln'] as const;

interface Case { prompt_ids: number[]; response_ids: number[]; token_logprobs: number[]; logprob: number }
const cases = (name: string): Case[] => JSON.parse(readFileSync(join(LORA, name, 'expected.json'), 'utf8')).cases;
const batchOf = (cs: Case[]) => ({ promptIds: cs.map((c) => c.prompt_ids), responseIds: cs.map((c) => c.response_ids) });
const logprobs = (m: CausalLM, cs: Case[]) => scope(() => noGrad(() => responseLogprobs(m, batchOf(cs)).tokenLogprobs.toFloat32Array()));
const spec = (targets: string[] | string, r = 4): LoraSpec => ({ r, alpha: 2 * r, dropout: 0, targets, rslora: false });

/** B random instead of zeros (a trained adapter), so that the adapter changes the outputs. */
function perturbB(m: CausalLM, seed: number): void {
  noGrad(() =>
    scope(() => {
      let k = seed;
      for (const [n, t] of m.adapter!.namedParameters()) {
        if (!n.endsWith('lora_B.weight')) continue;
        const v = Float32Array.from({ length: t.numel }, () => Math.sin(++k * 12.9898) * 0.3);
        t.copy_(tensor(v, { shape: t.shape }));
      }
    }),
  );
}

for (const name of NAMES) {
  test(`${name}: a PEFT adapter written by an independent PyTorch script matches its float64 log-probs to 1e-4 per token`, async () => {
    const { model } = await loadModel(join(MODEL, name));
    await loadAdapter(join(LORA, name), model);
    const cs = cases(name);
    const base = (await loadModel(join(MODEL, name))).model;
    const got = logprobs(model, cs);
    const baseLp = logprobs(base, cs);
    const R = Math.max(...cs.map((c) => c.response_ids.length));
    let moved = 0;
    cs.forEach((c, b) =>
      c.token_logprobs.forEach((want, j) => {
        const v = got[b * R + j];
        assert.ok(Math.abs(v - want) <= 1e-4, `${name} pair ${b} token ${j}: ${v} vs PyTorch ${want}`);
        moved = Math.max(moved, Math.abs(baseLp[b * R + j] - want));
      }),
    );
    assert.ok(moved > 0.1, `the adapter changes the log-probs (largest change ${moved})`);
    model.dispose();
    base.dispose();
  });
}

test('a fresh adapter is initialised as PEFT does: A kaiming-uniform within 1/sqrt(in), B zeros, outputs unchanged', async () => {
  const { model } = await loadModel(join(MODEL, 'opt'));
  const cs = cases('opt');
  const before = logprobs(model, cs);
  const live = liveTensorCount();
  const adapter = attachNewAdapter(model, spec(['q_proj', 'v_proj'], 8), 1, 'test');
  assert.equal(liveTensorCount() - live, 2 * adapter.modules.length, 'only A and B stay alive (the tracing pass frees its tensors)');
  assert.deepEqual(adapter.modules, [0, 1].flatMap((i) => [`model.decoder.layers.${i}.self_attn.q_proj`, `model.decoder.layers.${i}.self_attn.v_proj`]));
  assert.equal(adapter.scaling, 2);
  for (const [n, t] of adapter.namedParameters()) {
    const v = t.toFloat32Array();
    if (n.endsWith('lora_B.weight')) {
      assert.deepEqual(t.shape, [16, 8]);
      assert.ok(v.every((x) => x === 0), `${n} is zeros`);
    } else {
      assert.deepEqual(t.shape, [8, 16]);
      const bound = 1 / Math.sqrt(16);
      assert.ok(v.every((x) => Math.abs(x) <= bound), `${n} within the kaiming-uniform bound`);
      assert.ok(Math.max(...v.map(Math.abs)) > 0.8 * bound, `${n} spreads over the bound`);
    }
  }
  assert.deepEqual(logprobs(model, cs), before);
  // only the adapter trains
  assert.equal(model.parameters().length, 8);
  assert.ok(model.namedParameters().every(([, p]) => !p.requiresGrad));
  model.dispose();
});

test('targets that match no projection are named in the error, with the model’s projections', async () => {
  const { model } = await loadModel(join(MODEL, 'gpt2'));
  assert.throws(() => attachNewAdapter(model, spec(['c_attn', 'q_proj', 'v_proj']), 1, 'lora.targets'), /lora\.targets: target modules 'q_proj', 'v_proj' match no projection of this model \(its projections: c_attn, c_proj, c_fc\)/);
  assert.equal(model.adapter, null);
  model.dispose();
});

test('LoRA gradients agree with central finite differences (float32)', async () => {
  const { model } = await loadModel(join(MODEL, 'gpt2'));
  attachNewAdapter(model, spec(['c_attn', 'mlp.c_proj']), 3, 'test');
  perturbB(model, 1);
  const cs = cases('gpt2').slice(0, 3);
  const loss = () => scope(() => noGrad(() => responseLogprobs(model, batchOf(cs)).sum.sum().item()));
  const named = new Map(model.adapter!.namedParameters());
  const probes: [string, number][] = [
    ['transformer.h.0.attn.c_attn.lora_A.weight', 5],
    ['transformer.h.0.attn.c_attn.lora_B.weight', 7],
    ['transformer.h.1.attn.c_attn.lora_B.weight', 40],
    ['transformer.h.1.mlp.c_proj.lora_A.weight', 11],
    ['transformer.h.0.mlp.c_proj.lora_B.weight', 2],
  ];
  const grads = scope(() => {
    responseLogprobs(model, batchOf(cs)).sum.sum().backward();
    assert.ok(model.namedParameters().every(([, p]) => p.grad === null), 'no gradient reaches the frozen base');
    return probes.map(([n, i]) => named.get(n)!.grad!.toFloat32Array()[i]);
  });
  // as in model-numerics: a loss of ~-80 in float32 (ulp ~8e-6) and eps 1e-2 leave ~1e-3 of
  // rounding and truncation error in the quotient, hence 1e-2 absolute + 1% relative
  const eps = 1e-2;
  probes.forEach(([n, i], k) => {
    const fd = centralDifference(named.get(n)!, i, loss, eps);
    assert.ok(Math.abs(fd - grads[k]) <= 1e-2 + 1e-2 * Math.abs(grads[k]), `${n}[${i}]: autograd ${grads[k]} vs finite difference ${fd}`);
    assert.ok(Math.abs(grads[k]) > 1e-2, `${n}[${i}] probe has a non-trivial gradient (${grads[k]})`);
  });
  model.dispose();
});

const DPO_CASES = [
  ['opt', ['q_proj', 'v_proj', 'fc1']],
  ['llama', ['q_proj', 'v_proj']],
] as const;

for (const [name, targets] of DPO_CASES) {
  test(`DPO with LoRA (${name}): the reference is the base without adapters (no copy); base weights stay bit-identical; only adapters get optimizer state`, async () => {
    const { model: policy } = await loadModel(join(MODEL, name));
    const before = new Map(policy.namedParameters().map(([n, p]) => [n, p.toFloat32Array()]));
    attachNewAdapter(policy, spec([...targets]), 5, 'test');
    const ref = policy.baseModel();
    // a view: the very same tensors, and disposing it frees nothing
    const refParams = new Map(ref.namedParameters());
    assert.ok(policy.namedParameters().every(([n, p]) => refParams.get(n) === p));
    const trainer = new PreferenceTrainer(policy, new FrozenLogprobs(ref), { loss: 'dpo', beta: 0.5, labelSmoothing: 0, lr: 1e-2, weightDecay: 0.1, maxGradNorm: 1 });
    const ex = [0, 1, 2, 3].map((i) => ({ promptIds: [2, 5 + i], chosenIds: [10, 11, 12], rejectedIds: [20, 21, 22] }));
    const cs = ex.map((e) => ({ prompt_ids: e.promptIds, response_ids: e.chosenIds, token_logprobs: [], logprob: 0 }));
    const refBefore = logprobs(ref, cs);
    for (let i = 0; i < 5; i++) trainer.step(ex);
    const last = trainer.step(ex);
    assert.ok(last.margin > 0.1, `the policy moved toward the chosen responses (margin ${last.margin})`);
    for (const [n, p] of policy.namedParameters()) assert.deepEqual(p.toFloat32Array(), before.get(n), `${n} unchanged`);
    assert.deepEqual(logprobs(ref, cs), refBefore, 'the reference did not move');
    assert.notDeepEqual(logprobs(policy, cs), refBefore, 'the policy did');
    const state = trainer.optimizer.stateDict();
    assert.equal(Object.keys(state.tensors).length, 2 * policy.adapter!.parameters().length, 'moments of A and B only');
    Object.values(state.tensors).forEach((t) => t.dispose());
    ref.dispose();
    assert.equal(policy.namedParameters()[0][1].isDisposed, false);
    trainer.dispose();
    policy.dispose();
  });
}

test('the Llama family and GPT-NeoX list their projections under the names PEFT targets, with grouped-query widths', async () => {
  const expected = {
    llama: ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'],
    gpt_neox: ['query_key_value', 'dense', 'dense_h_to_4h', 'dense_4h_to_h'],
  };
  for (const [name, names] of Object.entries(expected)) {
    const { model } = await loadModel(join(MODEL, name));
    const projections = model.projections();
    assert.deepEqual([...new Set(projections.map((p) => p.module.split('.').pop()))], names, name);
    assert.ok(projections.every((p) => !p.fanInFanOut), `${name}: torch's [out, in] layout`);
    model.dispose();
  }
  // 4 query heads share 2 key/value heads of 8 dimensions: v_proj maps 16 -> 16, q_proj 16 -> 32
  const { model } = await loadModel(join(MODEL, 'llama'));
  const adapter = attachNewAdapter(model, spec(['q_proj', 'v_proj']), 1, 'test');
  const shapes = new Map(adapter.namedParameters().map(([n, t]) => [n, t.shape]));
  assert.deepEqual(shapes.get('model.layers.0.self_attn.q_proj.lora_B.weight'), [32, 4]);
  assert.deepEqual(shapes.get('model.layers.0.self_attn.v_proj.lora_B.weight'), [16, 4]);
  model.dispose();
});

test('on weights held in bf16 the adapter stays float32 and trains, and the activations stay bf16', async () => {
  const held = (await loadModel(join(MODEL, 'llama'), { dtype: 'bfloat16' })).model;
  const full = (await loadModel(join(MODEL, 'llama'))).model;
  for (const m of [held, full]) {
    attachNewAdapter(m, spec(['q_proj', 'v_proj', 'down_proj']), 9, 'test');
    perturbB(m, 4);
  }
  assert.ok(held.adapter!.parameters().every((t) => t.dtype === 'float32'));
  const ids = { promptIds: [[2, 5, 7]], responseIds: [[10, 11, 12, 13]] };
  const grads = scope(() => {
    const out = held.forward(tensor(new Int32Array([2, 5, 7]), { shape: [1, 3] }));
    assert.equal(out.logits.dtype, 'bfloat16');
    responseLogprobs(held, ids).sum.sum().backward();
    return held.adapter!.parameters().map((t) => t.grad?.dtype);
  });
  assert.ok(grads.every((d) => d === 'float32'), `float32 gradients on A and B (${grads})`);
  // bf16 keeps 8 bits of mantissa: as in model-numerics, within 0.25 nats per token of float32
  const [a, b] = [held, full].map((m) => scope(() => noGrad(() => responseLogprobs(m, ids).tokenLogprobs.toFloat32Array())));
  a.forEach((v, i) => assert.ok(Math.abs(v - b[i]) <= 0.25, `token ${i}: bf16 ${v} vs float32 ${b[i]}`));
  held.dispose();
  full.dispose();
});

test('export --merge of a sharded base writes the same shards and index, and scores as base + adapter to 1e-5', async () => {
  const base = join(MODEL, 'llama');
  const { model } = await loadModel(base);
  attachNewAdapter(model, spec(['q_proj', 'v_proj', 'down_proj']), 7, 'test');
  perturbB(model, 3);
  const cs = [0, 1, 2].map((i) => ({ prompt_ids: [2, 5 + i], response_ids: [10 + i, 11, 12], token_logprobs: [], logprob: 0 }));
  const want = logprobs(model, cs);
  const dir = await mkdtemp(join(tmpdir(), 'd2po-lora-'));
  await saveAdapter(join(dir, 'adapter'), model.adapter!, { baseModel: base, taskType: 'CAUSAL_LM' });
  const out = join(dir, 'merged');
  assert.equal(await mergeAdapter(base, join(dir, 'adapter'), out), 6);
  const files = (d: string) => readdirSync(d).filter((f) => f.endsWith('.safetensors') || f.endsWith('.index.json')).sort();
  assert.deepEqual(files(out), files(base));
  assert.equal(readFileSync(join(out, 'model.safetensors.index.json'), 'utf8'), readFileSync(join(base, 'model.safetensors.index.json'), 'utf8'));
  const merged = (await loadModel(out)).model;
  logprobs(merged, cs).forEach((v, i) => assert.ok(Math.abs(v - want[i]) <= 1e-5, `token ${i}: merged ${v} vs base + adapter ${want[i]}`));
  for (const m of [model, merged]) m.dispose();
});

test('an adapter saved in PEFT’s layout loads back and scores identically; merged into the base it scores the same to 1e-5', async () => {
  const { model } = await loadModel(join(MODEL, 'gpt2'));
  attachNewAdapter(model, { ...spec(['c_attn', 'c_fc']), dropout: 0.05 }, 7, 'test');
  perturbB(model, 2);
  const cs = cases('gpt2');
  const want = logprobs(model, cs);
  const dir = await mkdtemp(join(tmpdir(), 'd2po-lora-'));
  const adapterDir = join(dir, 'adapter');
  await saveAdapter(adapterDir, model.adapter!, { baseModel: join(MODEL, 'gpt2'), taskType: 'CAUSAL_LM' });
  const config = JSON.parse(await readFile(join(adapterDir, 'adapter_config.json'), 'utf8'));
  assert.equal(config.peft_type, 'LORA');
  assert.equal(config.task_type, 'CAUSAL_LM');
  assert.equal(config.fan_in_fan_out, true, "GPT-2's Conv1D");
  assert.equal(config.bias, 'none');
  assert.deepEqual([config.r, config.lora_alpha, config.lora_dropout, config.target_modules], [4, 8, 0.05, ['c_attn', 'c_fc']]);
  const saved = await readSafetensorsFile(join(adapterDir, 'adapter_model.safetensors'));
  assert.deepEqual(
    [...saved.tensors].map(([n, t]) => [n, t.shape]).slice(0, 2),
    [
      ['base_model.model.transformer.h.0.attn.c_attn.lora_A.weight', [4, 16]],
      ['base_model.model.transformer.h.0.attn.c_attn.lora_B.weight', [48, 4]],
    ],
  );
  assert.equal(saved.tensors.size, 8);
  saved.tensors.forEach((t) => t.dispose());

  const again = (await loadModel(join(MODEL, 'gpt2'))).model;
  await loadAdapter(adapterDir, again);
  assert.deepEqual(logprobs(again, cs), want);

  const mergedDir = join(dir, 'merged');
  assert.equal(await mergeAdapter(join(MODEL, 'gpt2'), adapterDir, mergedDir), 4);
  const merged = (await loadModel(mergedDir)).model;
  assert.equal(merged.adapter, null);
  const got = logprobs(merged, cs);
  got.forEach((v, i) => assert.ok(Math.abs(v - want[i]) <= 1e-5, `token ${i}: merged ${v} vs base + adapter ${want[i]}`));
  // the base's layout: same names, dtypes and shapes; only the adapted weights differ
  const [a, b] = await Promise.all([readSafetensorsFile(join(MODEL, 'gpt2', 'model.safetensors')), readSafetensorsFile(join(mergedDir, 'model.safetensors'))]);
  assert.deepEqual([...b.fileDtypes], [...a.fileDtypes]);
  const differ = [...a.tensors].filter(([n, t]) => !t.equal(b.tensors.get(n)!)).map(([n]) => n);
  assert.deepEqual(differ, ['h.0.attn.c_attn.weight', 'h.0.mlp.c_fc.weight', 'h.1.attn.c_attn.weight', 'h.1.mlp.c_fc.weight']);
  [...a.tensors.values(), ...b.tensors.values()].forEach((t) => t.dispose());
  for (const m of [model, again, merged]) m.dispose();
});

test('loading an adapter checks it against the model and names what is wrong', async () => {
  const { model } = await loadModel(join(MODEL, 'gpt2'));
  // an OPT adapter on GPT-2: its target modules do not exist there
  await assert.rejects(loadAdapter(join(LORA, 'opt'), model), /target_modules: target modules 'q_proj', 'v_proj', 'fc2' match no projection of this model/);
  assert.equal(model.adapter, null);
  await assert.rejects(loadAdapter(join(MODEL, 'gpt2'), model), /is not a PEFT adapter folder: .*adapter_config\.json not found/);
  // what is not implemented is refused by field, naming the file
  const dir = await mkdtemp(join(tmpdir(), 'd2po-lora-'));
  await cp(join(LORA, 'gpt2'), dir, { recursive: true });
  const config = JSON.parse(await readFile(join(dir, 'adapter_config.json'), 'utf8'));
  await writeFile(join(dir, 'adapter_config.json'), JSON.stringify({ ...config, bias: 'all', use_dora: true }));
  await assert.rejects(loadAdapter(dir, model), (e: Error) => /adapter_config\.json: field 'bias': only bias 'none' is supported/.test(e.message) && /field 'use_dora': DoRA is not supported/.test(e.message));
  // a rank that disagrees with the tensors
  await writeFile(join(dir, 'adapter_config.json'), JSON.stringify({ ...config, r: 8 }));
  await assert.rejects(loadAdapter(dir, model), /tensor 'transformer\.h\.0\.attn\.c_attn\.lora_A\.weight' has shape \[4,16\] but r = 8 and the layer call for \[8,16\]/);
  assert.equal(model.adapter, null);
  model.dispose();
});
