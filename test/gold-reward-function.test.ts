import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RewardFunctionGold } from '../src/gold/reward-function.js';
import { preferenceFromScores } from '../src/gold/source.js';

// Reward = number of 'x' characters; easy to compute by hand.
const countX = {
  name: 'count-x',
  calls: 0,
  async rewards(batch: { prompt: string; response: string }[]) {
    this.calls++;
    return batch.map((r) => [...r.response].filter((c) => c === 'x').length);
  },
};

test('reward-function gold scores both sides in one batched call and compares', async () => {
  countX.calls = 0;
  const gold = new RewardFunctionGold(countX);
  assert.equal(gold.paid, false);
  assert.equal(gold.name, 'reward-function:count-x');
  const labels = await gold.label([
    { prompt: 'p', a: 'xx', b: 'x' },
    { prompt: 'p', a: 'x', b: 'xxx' },
    { prompt: 'p', a: 'yx', b: 'xz' },
  ]);
  assert.equal(countX.calls, 1);
  assert.deepEqual(labels.map((l) => l.preference), ['a', 'b', 'tie']);
  assert.deepEqual(labels.map((l) => l.scores), [[2, 1], [1, 3], [1, 1]]);
  assert.ok(labels.every((l) => l.cost.calls === 0 && !l.cached));
  assert.deepEqual(await gold.label([]), []);
});

test('tie epsilon: differences within epsilon are ties, beyond are preferences', () => {
  assert.equal(preferenceFromScores(1.05, 1, 0.1), 'tie');
  assert.equal(preferenceFromScores(1, 1.08, 0.1), 'tie');
  assert.equal(preferenceFromScores(1.2, 1, 0.1), 'a');
  assert.equal(preferenceFromScores(1, 1.2, 0.1), 'b');
  assert.equal(preferenceFromScores(3, 3, 0), 'tie');
});

test('a task returning NaN or the wrong count is an error, never a silent label', async () => {
  const nan = new RewardFunctionGold({ name: 'nan', rewards: async (b) => b.map(() => Number.NaN) });
  await assert.rejects(nan.label([{ prompt: 'p', a: 'a', b: 'b' }]), /task 'nan' rewards\(\) returned a non-finite score at index 0/);
  const short = new RewardFunctionGold({ name: 'short', rewards: async () => [1] });
  await assert.rejects(short.label([{ prompt: 'p', a: 'a', b: 'b' }]), /returned 1 scores for 2 inputs/);
});

test('an aborted signal stops before scoring', async () => {
  const gold = new RewardFunctionGold(countX);
  await assert.rejects(gold.label([{ prompt: 'p', a: 'x', b: 'y' }], { signal: AbortSignal.abort() }), { name: 'AbortError' });
});

test('with the built-in word-collector task, through the factory', async () => {
  const { createWordCollectorTask } = await import('../src/tasks/word-collector.js');
  const { createGoldSource } = await import('../src/gold/index.js');
  const gold = createGoldSource({ type: 'task' }, { task: createWordCollectorTask() });
  // 'data', 'hope', 'help' = 3 target words; 'Data' (case) and 'helps' do not count: 0.
  const [l] = await gold.label([{ prompt: 'p', a: 'I hope this data will help.', b: 'Data helps, I guess.' }]);
  assert.deepEqual(l.scores, [3, 0]);
  assert.equal(l.preference, 'a');
});
