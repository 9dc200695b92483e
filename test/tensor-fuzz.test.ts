import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as T from '../src/tensor/index.js';
import { ops } from '../src/tensor/native.js';

// Every generated operator called with random mixes of wrong and right arguments must either work
// or throw a JS Error: never crash the process, never throw a non-Error.
test('fuzz: every bound operator survives garbage arguments', () => {
  const threads = T.getNumThreads();
  T.setNumThreads(1);
  let seed = 12345;
  const rnd = (n: number): number => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed % n;
  };
  let calls = 0;
  let errors = 0;
  for (const [name, fn] of Object.entries(ops)) {
    for (let trial = 0; trial < 40; trial++) {
      T.scope(() => {
        // sizes stay small: the point is argument checking, not allocation failures
        const values: unknown[] = [
          undefined, null, 0, 1, -1, 2.5, 1000, -1e9, NaN, Infinity, true, 'x', 'none', [], [1], [2, 3], [-1], [-5], {},
          T.ones([2, 3]).h, T.zeros([0]).h, T.tensor([1, 2, 3], { dtype: 'int64' }).h, T.tensor([1, 0], { dtype: 'bool' }).h,
          T.randn([2, 2, 2]).h, T.tensor(5).h, T.ones([3]).to('bfloat16').h, [T.ones([2]).h, T.ones([3]).h],
        ];
        const args = Array.from({ length: rnd(6) }, () => values[rnd(values.length)]);
        calls++;
        try {
          fn(...args);
        } catch (e) {
          errors++;
          assert.ok(e instanceof Error, `${name} threw a non-Error: ${String(e)}`);
          assert.ok(e.message.length > 0 && !/Exception raised from|\(most recent call first\)/.test(e.message), `${name}: ${e.message}`);
        }
      });
    }
  }
  T.setNumThreads(threads);
  assert.ok(errors > calls / 2, `most garbage calls fail (${errors} of ${calls})`);
});
