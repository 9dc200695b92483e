import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { attachNewAdapter, loadModel, responseLogprobs, type CausalLM } from '../src/model/index.js';
import { autocast, liveTensorCount, noGrad, pendingCheckpoints, scope, tensor } from '../src/tensor/index.js';

// Gradient checkpointing (DecoderModel.gradCheckpointing, src/tensor/checkpoint.ts): the same
// gradients as keeping every activation, and less memory at the peak of a training step.
const FIX = join(import.meta.dirname, 'fixtures', 'model');
const PAIRS = { promptIds: [[5, 17, 3], [60, 2], [7]], responseIds: [[8, 40, 2, 9], [33], [4, 4, 12, 30, 1]] };

/** the gradient of every trainable parameter of a weighted sum of the pairs' log-probs, and that sum */
function grads(model: CausalLM, bf16 = false): { loss: number; g: Float32Array[] } {
  return scope(() => {
    // unequal weights per row, so that mixed-up rows would show
    const run = () => responseLogprobs(model, PAIRS).sum.mul(tensor([1, -0.5, 2])).sum();
    const loss = bf16 ? autocast(run) : run();
    for (const p of model.parameters()) p.zeroGrad();
    loss.backward();
    return { loss: loss.item(), g: model.parameters().map((p) => p.grad!.toFloat32Array()) };
  });
}

function maxDiff(a: Float32Array[], b: Float32Array[]): number {
  let d = 0;
  a.forEach((x, i) => x.forEach((v, j) => (d = Math.max(d, Math.abs(v - b[i][j])))));
  return d;
}

for (const name of ['llama', 'gpt2', 'opt', 'gpt_neox']) {
  test(`${name}: gradients with checkpointing equal those without (1e-5), every segment consumed, nothing leaked`, async () => {
    const { model } = await loadModel(join(FIX, name));
    model.train(true);
    const plain = grads(model);
    const before = liveTensorCount();
    model.gradCheckpointing = true;
    const ckpt = grads(model);
    assert.equal(pendingCheckpoints(), 0);
    assert.equal(liveTensorCount(), before, 'the kept inputs and leaves were freed after the backward pass');
    assert.ok(Math.abs(plain.loss - ckpt.loss) < 1e-5, `loss ${plain.loss} vs ${ckpt.loss}`);
    const d = maxDiff(plain.g, ckpt.g);
    assert.ok(d < 1e-5, `gradients differ by up to ${d}`);
    assert.ok(plain.g.some((g) => g.some((v) => v !== 0)), 'the gradients are not all zero');
    model.dispose();
  });
}

test('llama with a LoRA adapter, and under bf16 autocast: the same gradients with checkpointing', async () => {
  const { model } = await loadModel(join(FIX, 'llama'));
  attachNewAdapter(model, { r: 4, alpha: 8, dropout: 0, targets: ['q_proj', 'v_proj', 'down_proj'], rslora: false }, 3, 'test');
  model.train(true);
  // B starts at zero: one step's worth of a non-zero B, so that A's gradient is not zero too
  noGrad(() => scope(() => model.parameters().filter((p) => p.shape[1] === 4).forEach((p) => p.copy_(p.add(0.05)))));
  for (const bf16 of [false, true]) {
    model.gradCheckpointing = false;
    const plain = grads(model, bf16);
    model.gradCheckpointing = true;
    const ckpt = grads(model, bf16);
    const d = maxDiff(plain.g, ckpt.g);
    assert.ok(d < 1e-5, `${bf16 ? 'bf16' : 'fp32'}: LoRA gradients differ by up to ${d}`);
    assert.ok(plain.g.every((g) => g.some((v) => v !== 0)), 'every adapter matrix has a gradient');
  }
  model.dispose();
});

test('no checkpointing without grad mode: a forward-only pass records nothing', async () => {
  const { model } = await loadModel(join(FIX, 'llama'));
  model.gradCheckpointing = true;
  model.train(true);
  scope(() => noGrad(() => responseLogprobs(model, PAIRS).sum.toArray()));
  assert.equal(pendingCheckpoints(), 0);
  model.dispose();
});

const MiB = 1024 * 1024;
// a 24-layer model where a step's activations (~300 MiB) dwarf its weights (~3 MiB)
async function peak(mode: 'plain' | 'checkpointed'): Promise<{ addedBytes: number; loss: number }> {
  const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'grad-checkpoint-peak-child.ts'), mode], { maxBuffer: MiB });
  return JSON.parse(stdout.trim().split('\n').pop()!);
}

test('a training step of a 24-layer model peaks at under a third of the memory with checkpointing', async () => {
  const plain = await peak('plain');
  const ckpt = await peak('checkpointed');
  console.log(`peak added by one step: plain ${(plain.addedBytes / MiB).toFixed(0)} MiB, checkpointed ${(ckpt.addedBytes / MiB).toFixed(0)} MiB`);
  assert.ok(Math.abs(plain.loss - ckpt.loss) < 1e-4, `the same loss (${plain.loss} vs ${ckpt.loss})`);
  assert.ok(plain.addedBytes > 150 * MiB, `the plain step added ${(plain.addedBytes / MiB).toFixed(0)} MiB: too little to compare`);
  assert.ok(ckpt.addedBytes < plain.addedBytes / 3, `checkpointed ${(ckpt.addedBytes / MiB).toFixed(0)} MiB vs plain ${(plain.addedBytes / MiB).toFixed(0)} MiB`);
});
