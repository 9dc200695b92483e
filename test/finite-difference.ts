// Central finite differences of a scalar loss in one element of a tensor (tests only).
import { noGrad, scope, tensor, type Tensor } from '../src/tensor/index.js';

/** (loss(p[i] + eps) - loss(p[i] - eps)) / (2 eps), with p restored afterwards. */
export function centralDifference(p: Tensor, i: number, loss: () => number, eps: number): number {
  const base = p.toFloat32Array();
  const set = (v: number) =>
    noGrad(() =>
      scope(() => {
        const a = Float32Array.from(base);
        a[i] = v;
        p.copy_(tensor(a, { shape: p.shape }));
      }),
    );
  set(base[i] + eps);
  const up = loss();
  set(base[i] - eps);
  const down = loss();
  set(base[i]);
  return (up - down) / (2 * eps);
}
