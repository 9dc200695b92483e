import { test } from 'node:test';
import assert from 'node:assert/strict';
import { noGrad, scope } from '../src/tensor/index.js';
import { createModel, responseLogprobs } from '../src/model/index.js';
import { FrozenLogprobs, PreferenceTrainer, implicitRewards } from '../src/d2po/preference-trainer.js';
import { Rng } from '../src/util/rng.js';

const cfg = { model_type: 'gpt2' as const, vocab_size: 64, n_positions: 16, n_embd: 32, n_layer: 1, n_head: 2, bos_token_id: 0, eos_token_id: 0 };

for (const loss of ['dpo', 'ipo', 'smoothed'] as const) {
  test(`${loss} training moves the policy toward the chosen responses`, () => {
    const policy = createModel(cfg, { seed: 4 });
    policy.train(false);
    const ref = policy.frozenCopy();
    const refLp = new FrozenLogprobs(ref);
    const ex = [0, 1, 2, 3].map((i) => ({ promptIds: [0, 1 + i], chosenIds: [10, 11, 12], rejectedIds: [20, 21, 22] }));
    const tr = new PreferenceTrainer(policy, refLp, { loss, beta: 0.5, labelSmoothing: loss === 'smoothed' ? 0.1 : 0, lr: 3e-3, weightDecay: 0, maxGradNorm: 1 });
    const first = tr.step(ex);
    assert.equal(first.accuracy, 0, 'policy = reference at the start: no margin yet');
    const s = tr.epochs(ex, 8, 2, new Rng(1));
    assert.ok(s.margin > 0.5, `margin grew: ${s.margin}`);
    const prompts = ex.map((e) => e.promptIds);
    const chosen = implicitRewards(policy, refLp, 0.5, prompts, ex.map((e) => e.chosenIds));
    const rejected = implicitRewards(policy, refLp, 0.5, prompts, ex.map((e) => e.rejectedIds));
    chosen.forEach((c, i) => assert.ok(c > rejected[i], 'implicit reward ranks chosen first'));
    // the memoised reference agrees with a direct computation
    const direct = noGrad(() => scope(() => responseLogprobs(ref, { promptIds: prompts, responseIds: ex.map((e) => e.chosenIds) }).sum.toArray()));
    refLp.get(prompts, ex.map((e) => e.chosenIds)).forEach((v, i) => assert.ok(Math.abs(v - direct[i]) < 1e-5));
    tr.dispose();
    ref.dispose();
    policy.dispose();
  });
}

test('soft silver labels: even odds move nothing; a probability p stops the margin where s(beta h) = p, a hard label does not stop', () => {
  const run = (confidence: number | undefined, steps: number) => {
    const policy = createModel(cfg, { seed: 4 });
    policy.train(false);
    const ref = policy.frozenCopy();
    const tr = new PreferenceTrainer(policy, new FrozenLogprobs(ref), { loss: 'dpo', beta: 0.5, labelSmoothing: 0, lr: 1e-2, weightDecay: 0, maxGradNorm: 0 });
    const ex = [0, 1].map((i) => ({ promptIds: [0, 1 + i], chosenIds: [10, 11], rejectedIds: [20, 21], ...(confidence !== undefined && { confidence }) }));
    let margin = 0;
    for (let i = 0; i < steps; i++) margin = tr.step(ex).margin;
    tr.dispose();
    ref.dispose();
    policy.dispose();
    return margin;
  };
  // policy = reference: h = 0, where the gradient of 0.5 log s(z) + 0.5 log s(-z) is exactly 0
  assert.equal(run(0.5, 3), 0, 'even odds: no gradient at all');
  const target = Math.log(0.8 / 0.2) / 0.5; // s(0.5 h) = 0.8
  const [soft, hard] = [run(0.8, 150), run(undefined, 150)];
  assert.ok(Math.abs(soft - target) < 0.5, `p = 0.8 settles near h = ${target.toFixed(2)}: ${soft}`);
  assert.ok(hard > target + 1, `a hard label keeps pushing: ${hard}`);
});
