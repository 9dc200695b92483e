import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { createModel, loadModel, sample, type CausalLM } from '../src/model/index.js';
import { liveTensorCount, noGrad, scope, tensor } from '../src/tensor/index.js';

const FIX = join(import.meta.dirname, 'fixtures', 'model');
const PROMPTS = [[5, 17, 3], [60], [42, 7, 13, 28, 5, 9]]; // different lengths: left padding in the batch

/** greedy continuation without a cache: a full forward pass over the whole sequence per token */
function greedyNoCache(model: CausalLM, prompt: number[], steps: number): number[] {
  const seq = [...prompt];
  for (let s = 0; s < steps; s++) {
    const next = scope(() =>
      noGrad(() => {
        const { logits } = model.forward(tensor(seq, { shape: [1, seq.length], dtype: 'int64' }));
        return logits.select(1, seq.length - 1).argmax(1).item();
      }),
    );
    seq.push(next);
  }
  return seq.slice(prompt.length);
}

for (const name of ['gpt2', 'opt', 'opt-postln', 'llama', 'qwen2', 'mistral', 'gpt_neox']) {
  test(`${name}: greedy sampling with the KV cache equals argmax without a cache (batched, left-padded)`, async () => {
    const { model } = await loadModel(join(FIX, name));
    const got = sample(model, PROMPTS, { maxNewTokens: 12, temperature: 0, eosId: null });
    PROMPTS.forEach((p, i) => assert.deepEqual(got[i], [greedyNoCache(model, p, 12)], `prompt ${i}`));
    model.dispose();
  });
}

test('seeded sampling is reproducible; n samples per prompt; max new tokens; no leaked tensors', async () => {
  const { model } = await loadModel(join(FIX, 'gpt2'));
  const before = liveTensorCount();
  const opts = { n: 3, maxNewTokens: 10, temperature: 1.0, eosId: null, seed: 123 };
  const a = sample(model, PROMPTS, opts);
  const b = sample(model, PROMPTS, opts);
  const c = sample(model, PROMPTS, { ...opts, seed: 124 });
  assert.deepEqual(a, b);
  assert.notDeepEqual(a, c);
  assert.equal(a.length, 3);
  for (const perPrompt of a) {
    assert.equal(perPrompt.length, 3);
    for (const s of perPrompt) assert.equal(s.length, 10);
  }
  // the n samples of one prompt differ (a random model at temperature 1 is close to uniform over ~300 tokens)
  assert.notDeepEqual(a[0][0], a[0][1]);
  assert.equal(liveTensorCount(), before);
  model.dispose();
});

test('EOS stops a sample (kept as its last token); minNewTokens forbids it until then', async () => {
  const { model } = await loadModel(join(FIX, 'opt'));
  const greedy = greedyNoCache(model, PROMPTS[0], 8);
  // make the greedy path's 3rd token the EOS: the sample stops right after it
  const eos = greedy[2];
  const firstEos = greedy.indexOf(eos);
  const [[stopped]] = sample(model, [PROMPTS[0]], { maxNewTokens: 8, temperature: 0, eosId: eos });
  assert.deepEqual(stopped, greedy.slice(0, firstEos + 1));
  const [[late]] = sample(model, [PROMPTS[0]], { maxNewTokens: 8, minNewTokens: 6, temperature: 0, eosId: eos });
  assert.ok(late.length >= 6, `minNewTokens 6 honoured: ${late}`);
  assert.ok(!late.slice(0, 6).includes(eos), `no EOS among the first 6: ${late}`);
  // other rows keep going after one row stops
  const mixed = sample(model, [PROMPTS[0], PROMPTS[1]], { maxNewTokens: 8, temperature: 0, eosId: eos });
  assert.deepEqual(mixed[0][0], stopped);
  assert.deepEqual(mixed[1][0], greedyNoCache(model, PROMPTS[1], 8).slice(0, mixed[1][0].length));
  model.dispose();
});

test('top-k 1 and a tiny top-p are greedy; top-k 3 draws only among the 3 most likely tokens', async () => {
  const { model } = await loadModel(join(FIX, 'gpt2'));
  const greedy = sample(model, PROMPTS, { maxNewTokens: 6, temperature: 0, eosId: null });
  assert.deepEqual(sample(model, PROMPTS, { maxNewTokens: 6, topK: 1, eosId: null, seed: 1 }), greedy);
  assert.deepEqual(sample(model, PROMPTS, { maxNewTokens: 6, topP: 1e-6, eosId: null, seed: 1 }), greedy);
  const top3 = scope(() =>
    noGrad(() => {
      const { logits } = model.forward(tensor(PROMPTS[1], { shape: [1, 1], dtype: 'int64' }));
      return logits.select(1, 0).topk(3, 1).indices.toArray();
    }),
  );
  const firsts = new Set(sample(model, [PROMPTS[1]], { n: 64, maxNewTokens: 1, topK: 3, temperature: 2, eosId: null, seed: 5 })[0].map((s) => s[0]));
  assert.ok([...firsts].every((t) => top3.includes(t)), `${[...firsts]} within ${top3}`);
  assert.ok(firsts.size >= 2, 'temperature 2 over 3 tokens gives more than one distinct token in 64 draws');
  model.dispose();
});

test('sampling ignores dropout (train mode is switched off and restored)', async () => {
  const { model, config } = await loadModel(join(FIX, 'gpt2'));
  const dropped = createModel({ ...config, resid_pdrop: 0.5, embd_pdrop: 0.5, attn_pdrop: 0.5 }, { seed: 1 });
  noGrad(() => dropped.parameters().forEach((p, i) => p.copy_(model.parameters()[i])));
  dropped.train(true);
  const opts = { maxNewTokens: 8, temperature: 0, eosId: null };
  assert.deepEqual(sample(dropped, PROMPTS, opts), sample(model, PROMPTS, opts));
  assert.equal(dropped.training, true);
  model.dispose();
  dropped.dispose();
});

test('n samples share one prompt pass: greedy with n=3 repeats the n=1 continuation for every prompt', async () => {
  const { model } = await loadModel(join(FIX, 'opt'));
  const one = sample(model, PROMPTS, { maxNewTokens: 10, temperature: 0, eosId: null });
  const three = sample(model, PROMPTS, { n: 3, maxNewTokens: 10, temperature: 0, eosId: null });
  PROMPTS.forEach((_, i) => assert.deepEqual(three[i], [one[i][0], one[i][0], one[i][0]]));
  model.dispose();
});
