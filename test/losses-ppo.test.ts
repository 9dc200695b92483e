import { test } from 'node:test';
import assert from 'node:assert/strict';
import { liveTensorCount, noGrad, scope } from '../src/tensor/index.js';
import { createModel, responseLogprobs } from '../src/model/index.js';
import { gae, PpoTrainer } from '../src/train/ppo.js';

const close = (a: number, b: number, tol = 1e-6) => assert.ok(Math.abs(a - b) <= tol, `${a} != ${b}`);

test('GAE: hand-computed advantages and returns', () => {
  const a = gae([0, 0, 1], [0.5, 0.5, 0.5], 1, 1);
  assert.deepEqual(a.advantages, [0.5, 0.5, 0.5]);
  assert.deepEqual(a.returns, [1, 1, 1]);
  // gamma 0.9, lambda 0.8: deltas [-0.05, -0.05, 0.5]
  const b = gae([0, 0, 1], [0.5, 0.5, 0.5], 0.9, 0.8);
  close(b.advantages[2], 0.5);
  close(b.advantages[1], -0.05 + 0.72 * 0.5);
  close(b.advantages[0], -0.05 + 0.72 * (-0.05 + 0.72 * 0.5));
});

test('PPO raises the log-probability of the higher-scored response, without leaking tensors', () => {
  const before = liveTensorCount();
  const policy = createModel({ model_type: 'gpt2', vocab_size: 64, n_positions: 16, n_embd: 32, n_layer: 1, n_head: 2, bos_token_id: 0, eos_token_id: 0 }, { seed: 3 });
  policy.train(false);
  const ref = policy.frozenCopy();
  const ppo = new PpoTrainer(policy, ref, { klCoef: 0.01, gamma: 1, lam: 0.95, clip: 0.2, valueClip: 0.2, vfCoef: 0.1, epochs: 2, lr: 1e-3, maxGradNorm: 1 });
  const batch = { promptIds: [[0, 5], [0, 5]], responseIds: [[7, 8, 9], [10, 11, 12]], scores: [1, -1] };
  const gap = () => noGrad(() => scope(() => responseLogprobs(policy, batch).sum.toArray())).reduce((a, b, i) => (i === 0 ? a + b : a - b), 0);
  const g0 = gap();
  let stats = ppo.step(batch);
  for (let i = 0; i < 5; i++) stats = ppo.step(batch);
  assert.ok(gap() > g0 + 0.5, `log p(good) - log p(bad) grew: ${g0} -> ${gap()}`);
  assert.ok(stats.kl > 0, 'the policy moved away from the reference');
  assert.equal(stats.meanScore, 0);
  ppo.dispose();
  ref.dispose();
  policy.dispose();
  assert.equal(liveTensorCount(), before);
});
