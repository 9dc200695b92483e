import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AdamW, autocast, linear, scope, tensor } from '../src/tensor/index.js';
import { copyNamed } from '../src/train/params.js';

// Autocast casts a float32 weight to bf16 once per region and reuses the copy; a weight updated
// in place inside the region must not be seen as it was (multi-step training runs in one region).
const x = tensor([1, 1], { shape: [1, 2], dtype: 'float32' });

test('autocast: an optimiser step inside one region is seen by the next forward', () => {
  const w = tensor([1, 2, 3, 4], { shape: [2, 2], dtype: 'float32', requiresGrad: true });
  const opt = new AdamW([w], { lr: 0.5, weightDecay: 0 });
  autocast(() => {
    const before = scope(() => linear(x, w).toArray());
    scope(() => linear(x, w).sum().backward());
    opt.step();
    const after = scope(() => linear(x, w).toArray());
    // AdamW's first step moves every weight by lr against its gradient's sign (+1 here): each output falls by 2 x 0.5
    assert.deepEqual(after, before.map((v) => v - 1));
  });
  opt.dispose();
});

test('autocast: weights loaded in place inside one region are seen by the next forward', () => {
  const w = tensor([1, 2, 3, 4], { shape: [2, 2], dtype: 'float32', requiresGrad: true });
  autocast(() => {
    assert.deepEqual(scope(() => linear(x, w).toArray()), [3, 7]);
    copyNamed([['w', w]], new Map([['w', tensor([10, 20, 30, 40], { shape: [2, 2], dtype: 'float32' })]]));
    assert.deepEqual(scope(() => linear(x, w).toArray()), [30, 70]);
  });
});
