import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pack } from '../src/model/pack.js';

const nums = (a: ArrayLike<bigint | number>) => Array.from(a, Number);

test('pack right-pads prompt + response and indexes the positions that predict each response token', () => {
  const k = pack([[1, 2], [3]], [[4, 5, 6], [7]], 16);
  assert.deepEqual([k.B, k.L, k.R, k.padded], [2, 5, 3, true]);
  assert.deepEqual(nums(k.ids), [1, 2, 4, 5, 6, 3, 7, 0, 0, 0]);
  assert.deepEqual(nums(k.attention), [1, 1, 1, 1, 1, 1, 1, 0, 0, 0]);
  // row 0 predicts its tokens from positions 1, 2, 3; row 1 from its position 0 (flat 5), padding points at the row's start
  assert.deepEqual(nums(k.predictIndex), [1, 2, 3, 5, 5, 5]);
  assert.deepEqual(nums(k.targets), [4, 5, 6, 7, 0, 0]);
  assert.deepEqual(nums(k.responseMask), [1, 1, 1, 1, 0, 0]);
  assert.deepEqual(nums(k.responsePositions), [0, 0, 1, 1, 1, 0, 1, 0, 0, 0]);
  assert.deepEqual(nums(k.last), [4, 1]);
  assert.deepEqual(k.lengths, [3, 1]);
});

test('pack cuts responses to the context, flags unpadded batches and refuses empty prompts', () => {
  const k = pack([[1, 2, 3]], [[4, 5, 6, 7]], 5);
  assert.deepEqual(k.lengths, [2]);
  assert.deepEqual(nums(k.ids), [1, 2, 3, 4, 5]);
  assert.equal(k.padded, false);
  assert.equal(pack([[1], [2]], [[], []], 8).R, 0);
  assert.throws(() => pack([[]], [[1]], 8), /prompt 0 is empty/);
});
