import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { centralDifference } from './finite-difference.js';
import { createModel, loadModel, readSafetensors, responseLogprobs, saveModel, type CausalLM } from '../src/model/index.js';
import { autocast, liveTensorCount, noGrad, scope, tensor } from '../src/tensor/index.js';
import { TEST_DEVICE } from './device.js';

// Fixtures from scripts/torch_reference.py: tiny random GPT-2 / OPT checkpoints in the HF layout and
// log-probs and gradients computed by an independent PyTorch implementation in float64.
const FIX = join(import.meta.dirname, 'fixtures', 'model');
const MODELS = ['gpt2', 'opt', 'opt-postln', 'llama', 'qwen2', 'mistral', 'gpt_neox'] as const;

interface Case { prompt_ids: number[]; response_ids: number[]; token_logprobs: number[]; sequence_token_logprobs: number[]; logprob: number }
interface Expected { cases: Case[]; grads: Record<string, { shape: number[]; values: number[] }> }
const expected = (name: string): Expected => JSON.parse(readFileSync(join(FIX, name, 'expected.json'), 'utf8'));

function batchOf(cases: Case[]) {
  return { promptIds: cases.map((c) => c.prompt_ids), responseIds: cases.map((c) => c.response_ids) };
}

function assertClose(actual: ArrayLike<number>, want: ArrayLike<number>, tol: number, what: string) {
  assert.equal(actual.length, want.length, `${what}: length`);
  for (let i = 0; i < want.length; i++) {
    assert.ok(Math.abs(actual[i] - want[i]) <= tol, `${what}[${i}]: ${actual[i]} vs ${want[i]} (tolerance ${tol})`);
  }
}

/** our parameter name for a fixture name (GPT-2's fixture is stored without the `transformer.` prefix) */
const ourName = (model: string, n: string) => (model === 'gpt2' && !n.startsWith('lm_head') ? `transformer.${n}` : n);

for (const name of MODELS) {
  test(`${name}: batched response log-probs match PyTorch to 1e-4 per token`, async () => {
    const { model } = await loadModel(join(FIX, name), { device: TEST_DEVICE });
    const exp = expected(name);
    scope(() => {
      const r = noGrad(() => responseLogprobs(model, batchOf(exp.cases)));
      const R = r.tokenLogprobs.shape[1];
      const lp = r.tokenLogprobs.toFloat32Array();
      const mask = r.mask.toFloat32Array();
      const sums = r.sum.toFloat32Array();
      exp.cases.forEach((c, b) => {
        const n = c.response_ids.length;
        assertClose(lp.subarray(b * R, b * R + n), c.token_logprobs, 1e-4, `${name} pair ${b}`);
        assert.deepEqual(Array.from(mask.subarray(b * R, (b + 1) * R)), Array.from({ length: R }, (_, j) => (j < n ? 1 : 0)));
        assert.ok(Math.abs(sums[b] - c.logprob) <= 1e-4 * n, `${name} sum ${b}: ${sums[b]} vs ${c.logprob}`);
      });
    });
    model.dispose();
  });

  test(`${name}: left-padded forward with an attention mask matches unpadded PyTorch`, async () => {
    const { model } = await loadModel(join(FIX, name), { device: TEST_DEVICE });
    const cases = expected(name).cases;
    const seqs = cases.map((c) => [...c.prompt_ids, ...c.response_ids]);
    const L = Math.max(...seqs.map((s) => s.length));
    const ids: number[] = [];
    const mask: number[] = [];
    for (const s of seqs) {
      const pad = L - s.length;
      ids.push(...new Array(pad).fill(0), ...s);
      mask.push(...new Array(pad).fill(0), ...new Array(s.length).fill(1));
    }
    scope(() => {
      const { logits } = noGrad(() =>
        model.forward(tensor(ids, { shape: [seqs.length, L], dtype: 'int64', device: TEST_DEVICE }), { attentionMask: tensor(mask, { shape: [seqs.length, L], dtype: 'int64', device: TEST_DEVICE }) }),
      );
      const V = logits.shape[2];
      const lsm = logits.logSoftmax(2).toFloat32Array();
      seqs.forEach((s, b) => {
        const pad = L - s.length;
        const got = s.slice(1).map((tok, t) => lsm[(b * L + pad + t) * V + tok]);
        assertClose(got, cases[b].sequence_token_logprobs, 1e-4, `${name} sequence ${b}`);
      });
    });
    model.dispose();
  });

  test(`${name}: gradients of the summed log-probs match PyTorch float64`, async () => {
    const { model } = await loadModel(join(FIX, name), { device: TEST_DEVICE });
    const exp = expected(name);
    scope(() => {
      responseLogprobs(model, batchOf(exp.cases)).sum.sum().backward();
      const params = new Map(model.namedParameters());
      for (const [n, g] of Object.entries(exp.grads)) {
        const p = params.get(ourName(name, n));
        assert.ok(p, `parameter ${n}`);
        assert.deepEqual(p.shape, g.shape);
        // float32 forward/backward against float64: relative error ~1e-6 of values up to ~10
        const scale = Math.max(1, ...g.values.map(Math.abs));
        assertClose(p.grad!.toFloat32Array(), g.values, 2e-4 * scale, `${name} grad ${n}`);
      }
    });
    model.dispose();
  });
}

test('gradient agrees with central finite differences (float32)', async () => {
  const { model } = await loadModel(join(FIX, 'gpt2'), { device: TEST_DEVICE });
  const cases = expected('gpt2').cases.slice(0, 2);
  const loss = () => scope(() => noGrad(() => responseLogprobs(model, batchOf(cases)).sum.sum().item()));
  const params = new Map(model.namedParameters());
  const probes: [string, number][] = [
    ['transformer.h.0.attn.c_attn.weight', 5],
    ['transformer.h.1.mlp.c_fc.bias', 3],
    ['transformer.wte.weight', 16 * 40 + 2], // token 40 appears in a response: embedding and tied head
    ['transformer.ln_f.weight', 7],
  ];
  const grads = scope(() => {
    responseLogprobs(model, batchOf(cases)).sum.sum().backward();
    return probes.map(([n, i]) => params.get(n)!.grad!.toFloat32Array()[i]);
  });
  // The loss is ~-60 in float32 (ulp ~4e-6); with eps 1e-2 the rounding error of the quotient is ~1e-3
  // and the truncation error eps^2 f'''/6 is of the same order, hence 1e-2 absolute + 1% relative.
  const eps = 1e-2;
  probes.forEach(([n, i], k) => {
    const fd = centralDifference(params.get(n)!, i, loss, eps);
    assert.ok(Math.abs(fd - grads[k]) <= 1e-2 + 1e-2 * Math.abs(grads[k]), `${n}[${i}]: autograd ${grads[k]} vs finite difference ${fd}`);
    assert.ok(Math.abs(grads[k]) > 1e-3, `${n}[${i}] probe has a non-trivial gradient`);
  });
  model.dispose();
});

test('bf16 autocast stays within 0.25 nats per token (mean 0.06) of float32', async () => {
  for (const name of MODELS) {
    const { model } = await loadModel(join(FIX, name), { device: TEST_DEVICE });
    const batch = batchOf(expected(name).cases);
    scope(() => {
      const f32 = noGrad(() => responseLogprobs(model, batch));
      const bf16 = noGrad(() => autocast(() => responseLogprobs(model, batch), { dtype: 'bfloat16' }));
      const a = f32.tokenLogprobs.toFloat32Array();
      const b = bf16.tokenLogprobs.toFloat32Array();
      const m = f32.mask.toFloat32Array();
      let max = 0;
      let sum = 0;
      let n = 0;
      for (let i = 0; i < a.length; i++) {
        if (!m[i]) continue;
        const d = Math.abs(a[i] - b[i]);
        max = Math.max(max, d);
        sum += d;
        n++;
      }
      // bf16 keeps 8 bits of mantissa (relative 2^-9 per rounding): log-probs of a few nats move by
      // ~1e-2 through two layers, and by how much depends on the CPU's bf16 kernels (measured max
      // 0.04 with native bf16, 0.13 without, mean 0.03 on both); 0.25 max / 0.06 mean bounds that
      // with margin and still catches a wrong cast (e.g. an un-upcast softmax), which moves them by whole nats.
      assert.ok(max <= 0.25 && sum / n <= 0.06, `${name}: bf16 vs f32 max ${max}, mean ${sum / n}`);
      assert.ok(max > 0, `${name}: autocast changed nothing: is it on?`);
    });
    model.dispose();
  }
});

test('save/load round trip: HF names with prefixes, same log-probs; frozen copy shares nothing', async () => {
  const { model } = await loadModel(join(FIX, 'gpt2'), { device: TEST_DEVICE });
  const dir = await mkdtemp(join(tmpdir(), 'd2po-model-'));
  await saveModel(dir, model);
  const written = await readSafetensors(join(dir, 'model.safetensors'));
  const names = [...written.keys()];
  written.forEach((t) => t.dispose());
  assert.ok(names.includes('transformer.h.0.attn.c_attn.weight'));
  assert.ok(!names.some((n) => /\.attn\.(bias|masked_bias)$/.test(n) || n === 'lm_head.weight'), 'buffers and the tied head are not written');
  const again = (await loadModel(dir, { device: TEST_DEVICE })).model;
  const batch = batchOf(expected('gpt2').cases);
  const frozen = model.frozenCopy();
  scope(() => {
    const lp = (m: CausalLM) => noGrad(() => responseLogprobs(m, batch).sum.toFloat32Array());
    const before = lp(model);
    assert.deepEqual(lp(again), before);
    assert.deepEqual(lp(frozen), before);
    assert.ok(frozen.parameters().every((p) => !p.requiresGrad));
    // change the policy in place: the frozen copy must not move
    noGrad(() => model.parameters().forEach((p) => p.mul_(0.5)));
    assert.notDeepEqual(lp(model), before);
    assert.deepEqual(lp(frozen), before);
  });
  for (const m of [model, again, frozen]) m.dispose();
});

test('createModel: the reference model of the notes has 3,700,224 parameters; same seed, same weights; no leaks', () => {
  const cfg = { model_type: 'gpt2' as const, vocab_size: 2048, n_positions: 64, n_embd: 256, n_layer: 4, n_head: 4 };
  const before = liveTensorCount();
  const a = createModel(cfg, { seed: 7, device: TEST_DEVICE });
  assert.equal(a.numParameters(), 3_700_224);
  const b = createModel(cfg, { seed: 7, device: TEST_DEVICE });
  const c = createModel(cfg, { seed: 8, device: TEST_DEVICE });
  const w = (m: CausalLM) => m.namedParameters().find(([n]) => n === 'transformer.h.1.attn.c_attn.weight')![1].toFloat32Array();
  assert.deepEqual(w(a), w(b));
  assert.notDeepEqual(w(a), w(c));
  // GPT-2 init: std 0.02, residual projections 0.02/sqrt(2*n_layer)
  const std = (x: Float32Array) => Math.sqrt(x.reduce((s, v) => s + v * v, 0) / x.length);
  const proj = a.namedParameters().find(([n]) => n === 'transformer.h.0.mlp.c_proj.weight')![1].toFloat32Array();
  assert.ok(Math.abs(std(w(a)) - 0.02) < 1e-3 && Math.abs(std(proj) - 0.02 / Math.sqrt(8)) < 5e-4);
  for (const m of [a, b, c]) m.dispose();
  assert.equal(liveTensorCount(), before);
});
