import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as T from '../src/tensor/index.js';
import { chooseOpenblasCoretype } from '../src/tensor/blas-env.js';
import { N } from '../src/tensor/native.js';

function close(actual: ArrayLike<number>, expected: ArrayLike<number>, tol = 1e-5): void {
  assert.equal(actual.length, expected.length, `length ${actual.length} != ${expected.length}`);
  for (let i = 0; i < expected.length; i++) {
    assert.ok(Math.abs(actual[i] - expected[i]) <= tol * (1 + Math.abs(expected[i])), `[${i}] ${actual[i]} != ${expected[i]}`);
  }
}

test('creation, metadata and data round trips', () => {
  T.scope(() => {
    const a = T.tensor([[1, 2, 3], [4, 5, 6]]);
    assert.deepEqual(a.shape, [2, 3]);
    assert.equal(a.dtype, 'float32');
    assert.equal(a.device, 'cpu');
    assert.equal(a.numel, 6);
    assert.deepEqual(a.toArray(), [1, 2, 3, 4, 5, 6]);
    const ids = T.tensor(new Int32Array([3, -1, 7]));
    assert.equal(ids.dtype, 'int64');
    assert.deepEqual([...ids.toInt32Array()], [3, -1, 7]);
    assert.deepEqual([...ids.toBigInt64Array()], [3n, -1n, 7n]);
    const big = T.tensor(new BigInt64Array([2n ** 40n]));
    assert.throws(() => big.toInt32Array(), /int32 range/);
    assert.deepEqual(T.tensor([1.5, 2.5], { dtype: 'bfloat16' }).toArray(), [1.5, 2.5]);
    assert.deepEqual(T.tensor([0, 1, 2], { dtype: 'bool' }).toArray(), [0, 1, 1]);
    assert.deepEqual(T.tensor(new Float32Array([1, 2, 3, 4]), { shape: [2, 2] }).shape, [2, 2]);
    assert.equal(T.tensor(7).item(), 7);
    assert.deepEqual(T.arange(4).toArray(), [0, 1, 2, 3]);
    assert.equal(T.arange(4).dtype, 'int64');
    assert.deepEqual(T.arange(1, 2, 0.25).toArray(), [1, 1.25, 1.5, 1.75]);
    assert.equal(T.arange(1, 3, { dtype: 'float32' }).dtype, 'float32');
    assert.deepEqual(T.arange(1, 3, { dtype: 'float32' }).toArray(), [1, 2]);
    assert.deepEqual(T.full([2], 3).toArray(), [3, 3]);
    assert.equal(T.full([2], 3).dtype, 'float32');
    assert.deepEqual(T.zeros([2, 2], { dtype: 'int64' }).toArray(), [0, 0, 0, 0]);
    assert.deepEqual(T.ones([3]).toArray(), [1, 1, 1]);
    assert.equal(T.randint(0, 5, [4]).dtype, 'int64');
  });
});

test('op values against hand-computed numbers', () => {
  T.scope(() => {
    const a = T.tensor([[1, 2], [3, 4]]);
    const b = T.tensor([[5, 6], [7, 8]]);
    assert.deepEqual(a.matmul(b).toArray(), [19, 22, 43, 50]);
    assert.deepEqual(a.add(b, 2).toArray(), [11, 14, 17, 20]);
    assert.deepEqual(a.sub(1).toArray(), [0, 1, 2, 3]);
    assert.deepEqual(a.mul(b).toArray(), [5, 12, 21, 32]);
    assert.deepEqual(a.div(2).toArray(), [0.5, 1, 1.5, 2]);
    assert.deepEqual(a.pow(2).toArray(), [1, 4, 9, 16]);
    assert.deepEqual(a.transpose(0, 1).toArray(), [1, 3, 2, 4]);
    assert.deepEqual(a.sum().toArray(), [10]);
    assert.deepEqual(a.sum([1]).toArray(), [3, 7]);
    assert.deepEqual(a.mean(0, true).shape, [1, 2]);
    assert.deepEqual(a.mean(0).toArray(), [2, 3]);
    const mx = a.max(1);
    assert.deepEqual(mx.values.toArray(), [2, 4]);
    assert.deepEqual(mx.indices.toArray(), [1, 1]);
    assert.deepEqual(a.argmax(0).toArray(), [1, 1]);
    assert.deepEqual(a.amax([0]).toArray(), [3, 4]);
    close(T.tensor([1, 2, 3]).softmax(0).toArray(), [0.09003057, 0.24472847, 0.66524096]);
    close(T.tensor([1, 2, 3]).logSoftmax(0).toArray(), [-2.40760596, -1.40760596, -0.40760596]);
    close(T.tensor([0, 1]).logsumexp([0]).toArray(), [Math.log(1 + Math.E)]);
    close(T.tensor([0, 2]).sigmoid().toArray(), [0.5, 1 / (1 + Math.exp(-2))]);
    close(T.tensor([-1, 0]).logsigmoid().toArray(), [-Math.log(1 + Math.E), -Math.log(2)]);
    close(T.tensor([1]).gelu().toArray(), [0.8413447]);
    close(T.tensor([1]).gelu('tanh').toArray(), [0.8411920]);
    assert.deepEqual(T.tensor([-1, 2]).relu().toArray(), [0, 2]);
    assert.deepEqual(T.tensor([1, 2, 3]).cumsum(0).toArray(), [1, 3, 6]);
    assert.deepEqual(T.tensor([5, 1, 4]).clamp(2, 4).toArray(), [4, 2, 4]);
    const x = T.arange(6).reshape([2, 3]);
    assert.deepEqual(x.slice(1, 1, 3).toArray(), [1, 2, 4, 5]);
    assert.deepEqual(x.narrow(1, 0, 1).toArray(), [0, 3]);
    assert.deepEqual(x.select(0, 1).toArray(), [3, 4, 5]);
    assert.deepEqual(x.permute([1, 0]).contiguous().toArray(), [0, 3, 1, 4, 2, 5]);
    assert.deepEqual(x.unsqueeze(0).shape, [1, 2, 3]);
    assert.deepEqual(x.unsqueeze(0).squeeze(0).shape, [2, 3]);
    assert.deepEqual(x.flatten().shape, [6]);
    assert.deepEqual(x.view([3, 2]).shape, [3, 2]);
    assert.deepEqual(T.tensor([1, 2]).expand([2, 2]).toArray(), [1, 2, 1, 2]);
    assert.deepEqual(x.indexSelect(1, T.tensor(new Int32Array([2, 0]))).toArray(), [2, 0, 5, 3]);
    assert.deepEqual(x.gather(1, T.tensor(new Int32Array([1, 2]), { shape: [2, 1] })).toArray(), [1, 5]);
    const mask = T.tensor([1, 0, 1], { dtype: 'bool' });
    assert.deepEqual(T.tensor([1, 2, 3]).maskedFill(mask, -1).toArray(), [-1, 2, -1]);
    assert.deepEqual(T.where(mask, T.tensor([1, 2, 3]), 0).toArray(), [1, 0, 3]);
    assert.deepEqual(T.where(mask, 7, T.tensor([1, 2, 3])).toArray(), [7, 2, 7]);
    assert.deepEqual(T.ones([3, 3]).tril().toArray(), [1, 0, 0, 1, 1, 0, 1, 1, 1]);
    assert.deepEqual(T.ones([2, 2]).triu(1).toArray(), [0, 1, 0, 0]);
    const tk = T.tensor([3, 1, 4, 1, 5]).topk(2);
    assert.deepEqual(tk.values.toArray(), [5, 4]);
    assert.deepEqual(tk.indices.toArray(), [4, 2]);
    assert.deepEqual(T.tensor([3, 1, 2]).sort(0, true).values.toArray(), [3, 2, 1]);
    assert.deepEqual(T.cat([T.tensor([1]), T.tensor([2, 3])]).toArray(), [1, 2, 3]);
    assert.deepEqual(T.stack([T.tensor([1, 2]), T.tensor([3, 4])], 1).toArray(), [1, 3, 2, 4]);
    assert.deepEqual(T.tensor([1, 2, 3]).eq(2).toArray(), [0, 1, 0]);
    assert.equal(T.tensor([1, 2, 3]).eq(2).dtype, 'bool');
    assert.deepEqual(T.tensor([1, 2, 3]).ge(T.tensor([2, 2, 2])).logicalNot().toArray(), [1, 0, 0]);
    assert.deepEqual(T.tensor([2.7, -1.2]).long().toArray(), [2, -1]);
    // linear = x @ W^T + b with W [out, in]
    const W = T.tensor([[1, 0], [0, 2], [1, 1]]);
    assert.deepEqual(T.linear(T.tensor([[1, 2]]), W, T.tensor([0, 0, 10])).toArray(), [1, 4, 13]);
    assert.deepEqual(T.embedding(W, T.tensor(new Int32Array([2, 0]))).toArray(), [1, 1, 1, 0]);
    close(T.layerNorm(T.tensor([[1, 2, 3]]), [3]).toArray(), [-1.2247356, 0, 1.2247356]);
    // cross entropy of logits [0, ln 3] against class 1: -log(3/4)
    const ce = T.crossEntropy(T.tensor([[0, Math.log(3)], [0, 0]]), T.tensor(new Int32Array([1, -100])));
    close(ce.toArray(), [-Math.log(0.75)]);
    const ceSum = T.crossEntropy(T.tensor([[0, 0], [0, 0]]), T.tensor(new Int32Array([0, 1])), { reduction: 'sum' });
    close(ceSum.toArray(), [2 * Math.log(2)]);
    assert.deepEqual(T.dropout(T.ones([4]), 0.5, false).toArray(), [1, 1, 1, 1]);
  });
});

test('in-place ops return this and mutate', () => {
  T.scope(() => {
    const p = T.tensor([1, 2]);
    assert.equal(p.add_(T.tensor([1, 1]), 2), p);
    assert.deepEqual(p.toArray(), [3, 4]);
    p.mul_(2).sub_(T.tensor([1, 1]));
    assert.deepEqual(p.toArray(), [5, 7]);
    p.addcmul_(T.tensor([1, 2]), T.tensor([3, 4]), 0.5);
    assert.deepEqual(p.toArray(), [6.5, 11]);
    p.zero_().fill_(3);
    assert.deepEqual(p.toArray(), [3, 3]);
    p.copy_(T.tensor([9, 8]));
    assert.deepEqual(p.toArray(), [9, 8]);
  });
});

test('seeded sampling is reproducible', () => {
  T.scope(() => {
    T.manualSeed(42);
    const a = T.randn([5]).toArray();
    const m1 = T.multinomial(T.tensor([[0.1, 0.2, 0.7]]), 4, true).toArray();
    T.manualSeed(42);
    assert.deepEqual(T.randn([5]).toArray(), a);
    assert.deepEqual(T.multinomial(T.tensor([[0.1, 0.2, 0.7]]), 4, true).toArray(), m1);
    // zero-probability classes never come out
    const s = T.multinomial(T.tensor([[0, 1, 0]]), 5, true).toArray();
    assert.deepEqual(s, [1, 1, 1, 1, 1]);
  });
});

test('autograd matches finite differences on a composite function', () => {
  T.scope(() => {
    T.manualSeed(1);
    const x0 = T.randn([3, 4], { dtype: 'float32' });
    const w = T.randn([5, 4]);
    const ids = T.tensor(new Int32Array([1, 0, 2]));
    // f(x) = CE(linear(layerNorm(gelu(x)), w), ids) + mean(tanh(x)^2)
    const f = (x: T.Tensor): T.Tensor =>
      T.crossEntropy(T.linear(T.layerNorm(x.gelu(), [4]), w), ids).add(x.tanh().pow(2).mean());
    const x = x0.clone();
    x.requiresGrad = true;
    f(x).backward();
    const g = x.grad!.toArray();
    const base = x0.toArray();
    const eps = 1e-2;
    const num: number[] = [];
    for (let i = 0; i < base.length; i++) {
      const plus = base.slice();
      const minus = base.slice();
      plus[i] += eps;
      minus[i] -= eps;
      const fp = f(T.tensor(plus, { shape: [3, 4], dtype: 'float32' })).item();
      const fm = f(T.tensor(minus, { shape: [3, 4] })).item();
      num.push((fp - fm) / (2 * eps));
    }
    for (let i = 0; i < g.length; i++) assert.ok(Math.abs(g[i] - num[i]) < 2e-3, `grad[${i}] ${g[i]} vs ${num[i]}`);
    // grads accumulate until zeroGrad
    f(x).backward();
    close(x.grad!.toArray(), g.map((v) => 2 * v), 1e-4);
    x.zeroGrad();
    assert.equal(x.grad, null);
  });
});

test('noGrad stops recording; requiresGrad on non-leaf fails cleanly', () => {
  T.scope(() => {
    const p = T.ones([2], { requiresGrad: true });
    assert.equal(p.requiresGrad, true);
    const y = T.noGrad(() => p.mul(2));
    assert.equal(y.requiresGrad, false);
    assert.equal(T.isGradEnabled(), true);
    const z = p.mul(2);
    assert.equal(z.requiresGrad, true);
    assert.throws(() => {
      z.requiresGrad = false;
    }, /only change requiresGrad of leaf tensors/);
    assert.throws(() => {
      T.arange(3).requiresGrad = true;
    }, /floating point/);
    assert.throws(() => T.tensor([1, 2]).sum().backward(), /does not require grad/);
  });
});

test('inferenceMode: no autograd inside, clear error when its tensors meet backward', () => {
  T.scope(() => {
    const p = T.ones([2], { requiresGrad: true });
    const y = T.inferenceMode(() => T.inferenceMode(() => p.mul(3)).add(1));
    assert.equal(y.requiresGrad, false);
    assert.deepEqual(y.toArray(), [4, 4]);
    assert.equal(T.isGradEnabled(), true);
    assert.equal(p.mul(2).requiresGrad, true);
    assert.throws(() => p.mul(y).sum().backward(), /Inference tensors cannot be saved for backward/);
    assert.throws(() => T.inferenceMode(() => { throw new Error('inside'); }), /inside/);
    assert.equal(p.mul(2).requiresGrad, true, 'mode restored after a throw');
  });
});

test('bad input throws a JS Error and does not crash', () => {
  T.scope(() => {
    const a = T.ones([2, 3]);
    assert.throws(() => a.matmul(T.ones([2, 3])), (e: Error) => e instanceof Error && /shapes cannot be multiplied \(2x3 and 2x3\)/.test(e.message));
    assert.throws(() => T.embedding(T.ones([4, 2]), T.tensor([0, 1])), /Expected tensor for argument #1 'indices' to have one of the following scalar types: Long, Int/);
    assert.throws(() => T.embedding(T.ones([4, 2]), T.tensor(new Int32Array([9]))), /index out of range/);
    assert.throws(() => a.view([4]), /shape '\[4\]' is invalid/);
    assert.throws(() => a.add('x' as unknown as number), TypeError);
    assert.throws(() => a.matmul({} as unknown as T.Tensor), TypeError);
    assert.throws(() => a.transpose(0, 1.5), /must be an integer/);
    assert.throws(() => a.transpose(0, NaN), /must be an integer, got NaN/);
    assert.throws(() => a.transpose(0, 1e30), /must be an integer/);
    assert.throws(() => T.zeros([1e13]), /can't allocate memory/);
    assert.throws(() => a.sum(5 as unknown as number[]), /Dimension out of range/);
    assert.throws(() => T.tensor([1, 2, 3], { shape: [2, 2] }), /needs 4 elements, data has 3/);
    assert.throws(() => T.tensor([[1, 2], [3]]), /ragged/);
    assert.throws(() => T.zeros([2], { dtype: 'float8' as T.DType }), /unknown dtype/);
    assert.throws(() => T.cat([]), Error);
    assert.throws(() => T.crossEntropy(T.ones([2, 3]), T.ones([2])), Error);
    const d = T.ones([2]);
    d.dispose();
    assert.equal(d.isDisposed, true);
    assert.throws(() => d.add(1), /tensor was disposed/);
    assert.throws(() => d.toArray(), /tensor was disposed/);
    assert.throws(() => T.stack([a, d]), /tensor was disposed/);
    d.dispose(); // idempotent
    if (!T.cudaAvailable()) assert.throws(() => a.toDevice('cuda'), /CUDA is not available/);
    assert.throws(() => a.toDevice('tpu' as T.Device), /unknown device/);
  });
});

test('scope frees intermediates and hands back returned tensors', () => {
  const base = T.liveTensorCount();
  const out = T.scope(() => {
    const a = T.ones([3]);
    const b = a.mul(2).add(1);
    const kept = a.add(5).keep();
    const nested = T.scope(() => {
      const tmp = b.exp();
      return { r: [tmp.log()] };
    });
    return { b, nested, kept };
  });
  assert.equal(T.liveTensorCount(), base + 3); // b, nested.r[0], kept
  assert.deepEqual(out.nested.r[0].toArray(), [3, 3, 3]);
  out.b.dispose();
  out.nested.r[0].dispose();
  out.kept.dispose();
  assert.equal(T.liveTensorCount(), base);
  assert.throws(() =>
    T.scope(() => {
      T.ones([1000]);
      throw new Error('boom');
    }),
  /boom/);
  assert.equal(T.liveTensorCount(), base);
});

test('scope and the modes refuse async functions', async () => {
  const base = T.liveTensorCount();
  const pending: Promise<unknown>[] = [];
  const asyncFn = async (): Promise<number> => {
    T.ones([2]);
    return 1;
  };
  assert.throws(() => T.scope(() => { const p = asyncFn(); pending.push(p); return p; }), /Use scopeAsync/);
  assert.equal(T.liveTensorCount(), base);
  for (const mode of [T.noGrad, T.inferenceMode, T.autocast] as const) {
    // inside a scope, so that the tensor asyncFn makes is freed now, not by a later GC
    assert.throws(() => T.scope(() => mode(() => { const p = asyncFn(); pending.push(p); return p; })), /only covers synchronous code/);
  }
  assert.equal(T.isGradEnabled(), true);
  await Promise.all(pending);
  assert.equal(T.liveTensorCount(), base);
});

test('scopeAsync frees intermediates across awaits', async () => {
  const base = T.liveTensorCount();
  const r = await T.scopeAsync(async () => {
    const a = T.ones([2]);
    await new Promise((res) => setTimeout(res, 1));
    return a.add(1);
  });
  assert.equal(T.liveTensorCount(), base + 1);
  assert.deepEqual(r.toArray(), [2, 2]);
  r.dispose();
  assert.equal(T.liveTensorCount(), base);
});

test('AdamW matches a hand-computed step; state round-trips', () => {
  T.scope(() => {
    const p = T.tensor([1, -2]);
    p.requiresGrad = true;
    const opt = new T.AdamW([p], { lr: 0.1, betas: [0.9, 0.99], eps: 1e-8, weightDecay: 0.5 });
    // two steps with grads g1 = 2p (loss sum p^2) then g2 = [1, 1]
    const lr = 0.1, b1 = 0.9, b2 = 0.99, wd = 0.5, eps = 1e-8;
    let pv = [1, -2];
    const m = [0, 0], v = [0, 0];
    const handStep = (g: number[], t: number): void => {
      pv = pv.map((x, i) => {
        x *= 1 - lr * wd;
        m[i] = b1 * m[i] + (1 - b1) * g[i];
        v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i];
        const denom = Math.sqrt(v[i]) / Math.sqrt(1 - b2 ** t) + eps;
        return x - (lr / (1 - b1 ** t)) * (m[i] / denom);
      });
    };
    p.pow(2).sum().backward();
    handStep([2, -4], 1);
    opt.step();
    close(p.toArray(), pv, 1e-6);
    opt.zeroGrad();
    p.sum().backward();
    handStep([1, 1], 2);
    opt.step();
    close(p.toArray(), pv, 1e-6);
    const sd = opt.stateDict();
    assert.equal(sd.step, 2);
    close(sd.tensors['exp_avg.0'].toArray(), m, 1e-6);
    close(sd.tensors['exp_avg_sq.0'].toArray(), v, 1e-6);
    // a fresh optimizer resumed from the state takes the same next step
    const q = p.detach().clone();
    q.requiresGrad = true;
    const opt2 = new T.AdamW([q], { lr: 0.1, betas: [0.9, 0.99], weightDecay: 0.5 });
    opt2.loadStateDict(sd);
    for (const [x, o] of [[p, opt], [q, opt2]] as const) {
      o.zeroGrad();
      x.mul(3).sum().backward();
      o.step();
    }
    close(q.toArray(), p.toArray(), 1e-7);
    assert.throws(() => opt2.loadStateDict({ step: 1, tensors: { 'exp_avg.0': T.ones([3]) } }), /has shape \[3\]/);
    // a save/restore cycle outside any scope leaves no native handle behind (checkpoints every k steps)
    const live = T.liveTensorCount();
    for (let i = 0; i < 3; i++) {
      const s = opt.stateDict();
      opt2.loadStateDict(s);
      for (const t of Object.values(s.tensors)) t.dispose();
    }
    assert.equal(T.liveTensorCount(), live);
    opt.dispose();
    opt2.dispose();
  });
});

test('clipGradNorm scales gradients to maxNorm and returns the previous norm', () => {
  T.scope(() => {
    const a = T.tensor([3, 0], { requiresGrad: true });
    const b = T.tensor([0], { requiresGrad: true });
    a.mul(T.tensor([1, 0])).sum().add(b.mul(4).sum()).backward(); // grads [1,0], [4]
    const n = T.clipGradNorm([a, b], 1);
    close([n], [Math.sqrt(17)]);
    close(a.grad!.toArray(), [1 / Math.sqrt(17), 0], 1e-5);
    close(b.grad!.toArray(), [4 / Math.sqrt(17)], 1e-5);
    assert.equal(T.clipGradNorm([a, b], 10) < 1.0001, true); // under the limit: unchanged
    close(b.grad!.toArray(), [4 / Math.sqrt(17)], 1e-5);
  });
});

test('bf16 autocast: matmul runs in bf16 within tolerance of fp32, cache cleared on exit', () => {
  T.scope(() => {
    T.manualSeed(3);
    const x = T.randn([64, 128]);
    const w = T.randn([32, 128]);
    const ref = T.linear(x, w);
    const y = T.autocast(() => T.linear(x, w));
    assert.equal(y.dtype, 'bfloat16');
    const rel = y.float().sub(ref).abs().maxAll().item() / ref.abs().maxAll().item();
    assert.ok(rel < 2e-2, `bf16 relative error ${rel}`);
    // precision-sensitive ops stay fp32 under autocast
    assert.equal(T.autocast(() => x.logSoftmax(1)).dtype, 'float32');
    // after the region, plain fp32 again; weights updated in place are seen (no stale cast cache)
    assert.equal(T.linear(x, w).dtype, 'float32');
    w.requiresGrad = true;
    const before = T.autocast(() => T.linear(x, w)).float();
    T.noGrad(() => w.mul_(2));
    const after = T.autocast(() => T.linear(x, w)).float();
    close(after.toArray(), before.mul(2).toArray(), 1e-2);
    assert.equal(T.autocast(() => T.linear(x, w), { enabled: false }).dtype, 'float32');
  });
});

test('threads, backend info and OpenBLAS core choice', () => {
  const info = T.backendInfo();
  assert.match(info.torchVersion, /^\d+\.\d+\.\d+/);
  assert.equal(info.threads, T.getNumThreads());
  assert.notEqual(info.blas, '');
  T.setNumThreads(1);
  assert.equal(T.getNumThreads(), 1);
  T.setNumThreads(info.threads);
  assert.throws(() => T.setNumThreads(0), /threads must be >= 1/);
  // no OpenMP spin-waiting on shared cores unless the user asked for it
  assert.equal(info.ompWaitPolicy, process.env.OMP_WAIT_POLICY);
  assert.ok(info.ompWaitPolicy);
  // OpenBLAS keeps its own pthread pool; setNumThreads must reach it too
  if (info.blas.startsWith('OpenBLAS')) assert.equal(N.buildInfo().openblasThreadControl, true);
  assert.equal(chooseOpenblasCoretype('flags\t\t: fpu sse avx2 fma avx512f avx512dq avx512bw avx512vl\n'), 'SkylakeX');
  assert.equal(chooseOpenblasCoretype('flags\t\t: fpu sse avx2 fma\n'), 'Haswell');
  assert.equal(chooseOpenblasCoretype('flags\t\t: fpu sse\n'), undefined);
});
