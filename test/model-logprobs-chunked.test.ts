import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { createModel, responseLogprobs, type CausalLM } from '../src/model/index.js';
import { noGrad, scope, tensor } from '../src/tensor/index.js';

const V = 1000;
const cfg = { model_type: 'gpt2' as const, vocab_size: V, n_positions: 64, n_embd: 32, n_layer: 2, n_head: 2, bos_token_id: 0, eos_token_id: 0 };
// right-padded: 3+9, 2+4, 5+0 (an empty response) and 1+12 tokens
const batch = {
  promptIds: [[0, 11, 12], [0, 13], [0, 14, 15, 16, 17], [0]],
  responseIds: [[21, 22, 23, 24, 25, 26, 27, 28, 29], [31, 32, 33, 34], [], [41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, 999]],
};
// 3 positions per chunk: 48 positions in 16 chunks, chunk edges inside and across pairs
const SMALL_CHUNK = 3 * V;

function logprobs(model: CausalLM, chunk?: number): Float32Array {
  return noGrad(() => scope(() => responseLogprobs(model, batch, { logitChunkElements: chunk }).tokenLogprobs.toFloat32Array()));
}

function grads(model: CausalLM, chunk?: number): Map<string, Float32Array> {
  for (const [, p] of model.namedParameters()) p.zeroGrad();
  // a different weight per pair, so that a gradient sent to the wrong pair would show
  scope(() => responseLogprobs(model, batch, { logitChunkElements: chunk }).sum.mul(tensor([1, -0.5, 2, 0.25])).sum().backward());
  return new Map(model.namedParameters().map(([n, p]) => [n, p.grad!.toFloat32Array()]));
}

function maxDiff(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  return a.reduce((m, x, i) => Math.max(m, Math.abs(x - b[i])), 0);
}

test('log-probs computed in chunks of positions equal the unchunked ones', () => {
  const model = createModel(cfg, { seed: 3 });
  const whole = logprobs(model, Infinity);
  const chunked = logprobs(model, SMALL_CHUNK);
  assert.ok(maxDiff(whole, chunked) < 1e-6, `max difference ${maxDiff(whole, chunked)}`);
  // one position per chunk, and the default (one chunk at this size)
  assert.ok(maxDiff(whole, logprobs(model, 1)) < 1e-6);
  assert.deepEqual(logprobs(model), whole);
  // padding and the empty response stay 0
  assert.ok(whole[2 * 12] === 0 && whole[1 * 12 + 4] === 0, 'padding is 0 (either sign)');
  assert.ok(whole[3 * 12 + 11] < 0);
  model.dispose();
});

test('gradients through chunked log-probs equal the unchunked ones', () => {
  const model = createModel(cfg, { seed: 4 });
  const whole = grads(model, Infinity);
  const chunked = grads(model, SMALL_CHUNK);
  for (const [name, g] of whole) {
    const scale = Math.max(1, ...g.map(Math.abs));
    const d = maxDiff(g, chunked.get(name)!);
    assert.ok(d < 1e-6 * scale, `${name}: max difference ${d} (scale ${scale})`);
  }
  assert.ok([...whole.values()].some((g) => g.some((x) => x !== 0)), 'the gradients are not all zero');
  model.dispose();
});

test('a chunk size below one element is refused', () => {
  const model = createModel(cfg, { seed: 0 });
  assert.throws(() => responseLogprobs(model, batch, { logitChunkElements: 0 }), /logitChunkElements 0, expected at least 1/);
  model.dispose();
});

const MiB = 1024 * 1024;
// Chunked: 2 chunks of ~111 positions x 150k float32 (logits and log-softmax) are ~128 MiB.
const BOUND = 256 * MiB;

async function peak(mode: 'chunked' | 'unchunked'): Promise<{ addedBytes: number; sums: number[]; logitBytes: number }> {
  const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', 'test/logprob-peak-child.ts', mode], { maxBuffer: MiB });
  return JSON.parse(stdout);
}

test(`a forward-only log-prob call on a 150k vocabulary adds under ${BOUND / MiB} MiB at its peak`, async () => {
  const chunked = await peak('chunked');
  const whole = await peak('unchunked');
  assert.ok(chunked.addedBytes < BOUND, `chunked call added ${(chunked.addedBytes / MiB).toFixed(0)} MiB at its peak`);
  // the measurement sees the [positions, vocab] logits when they are made whole (~570 MiB here)
  assert.ok(whole.addedBytes > whole.logitBytes, `unchunked call added only ${(whole.addedBytes / MiB).toFixed(0)} MiB`);
  chunked.sums.forEach((s, i) => assert.ok(Math.abs(s - whole.sums[i]) < 1e-6 * Math.abs(s), `pair ${i}: ${s} vs ${whole.sums[i]}`));
  console.log(`peak added: chunked ${(chunked.addedBytes / MiB).toFixed(0)} MiB, unchunked ${(whole.addedBytes / MiB).toFixed(0)} MiB`);
});
