import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AdamW, scope, Tensor, tensor, type Device } from '../src/tensor/index.js';

// Device threading that a CPU-only machine can still check: state read from files (on the CPU)
// is moved to its parameter's device. A spy on toDevice records where each copy is sent, since
// on this machine every device is the CPU.
test('AdamW.loadStateDict moves each saved state tensor to its parameter\'s device', () => {
  const p = tensor([1, 2, 3], { dtype: 'float32', requiresGrad: true }).keep();
  const opt = new AdamW([p], { lr: 0.1 });
  const asked: Device[] = [];
  const original = Tensor.prototype.toDevice;
  Tensor.prototype.toDevice = function (this: Tensor, d: Device) {
    asked.push(d);
    return original.call(this, d);
  };
  try {
    scope(() => opt.loadStateDict({ step: 3, tensors: { 'exp_avg.0': tensor([0.1, 0.2, 0.3]), 'exp_avg_sq.0': tensor([1, 1, 1]) } }));
  } finally {
    Tensor.prototype.toDevice = original;
  }
  assert.deepEqual(asked, [p.device, p.device]);
  const state = opt.stateDict();
  assert.deepEqual(Object.values(state.tensors).map((t) => t.device), [p.device, p.device]);
  opt.dispose();
  p.dispose();
});
