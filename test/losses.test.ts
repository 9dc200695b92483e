import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tensor, type Tensor } from '../src/tensor/index.js';
import { dpoLoss, ipoLoss, btLoss, davidsonLoss, implicitReward } from '../src/train/losses.js';

const t = (xs: number[], requiresGrad = false) => tensor(xs, { dtype: 'float32', requiresGrad });
const close = (a: number, b: number, tol = 1e-5) => assert.ok(Math.abs(a - b) <= tol, `${a} != ${b}`);

// h = (pc - pr) - (rc - rr) = [2, -1]
const PC = [-1, -2];
const PR = [-3, -1];
const RC = [-2, -2];
const RR = [-2, -2];

test('dpoLoss: hand-computed sigmoid loss, sum and none reductions', () => {
  // beta 0.5: z = [1, -0.5]; -log s(1) = log(1+e^-1), -log s(-0.5) = log(1+e^0.5)
  const l = dpoLoss(t(PC), t(PR), t(RC), t(RR), { beta: 0.5 });
  close(l.item(), (Math.log(1 + Math.exp(-1)) + Math.log(1 + Math.exp(0.5))) / 2);
  close(dpoLoss(t(PC), t(PR), t(RC), t(RR), { beta: 0.5, reduction: 'sum' }).item(), 0.31326169 + 0.97407698);
  const none = dpoLoss(t(PC), t(PR), t(RC), t(RR), { beta: 0.5, reduction: 'none' }).toArray();
  close(none[0], 0.31326169);
  close(none[1], 0.97407698);
});

test('dpoLoss with label smoothing (conservative DPO)', () => {
  const l = dpoLoss(t(PC), t(PR), t(RC), t(RR), { beta: 0.5, labelSmoothing: 0.1, reduction: 'none' }).toArray();
  close(l[0], 0.9 * 0.31326169 + 0.1 * 1.31326169);
  close(l[1], 0.9 * 0.97407698 + 0.1 * 0.47407698);
});

test('ipoLoss and btLoss: hand-computed', () => {
  // 1/(2 beta) = 1: (h - 1)^2 = [1, 4]
  close(ipoLoss(t(PC), t(PR), t(RC), t(RR), { beta: 0.5 }).item(), 2.5);
  // diff [1, -2]: log(1+e^-1), log(1+e^2)
  close(btLoss(t([1, 0]), t([0, 2])).item(), (0.31326169 + 2.12692801) / 2);
  assert.deepEqual(implicitReward(t([-1, -3]), t([-2, -2]), 0.1).toArray().map((x) => Math.round(x * 1e6) / 1e6), [0.1, -0.1]);
});

test('dpoLoss with a label smoothing per pair (soft labels) matches the scalar one pair by pair', () => {
  const eps = [0.1, 0.3];
  const per = dpoLoss(t(PC), t(PR), t(RC), t(RR), { beta: 0.5, labelSmoothing: t(eps), reduction: 'none' }).toArray();
  eps.forEach((e, i) => close(per[i], dpoLoss(t(PC), t(PR), t(RC), t(RR), { beta: 0.5, labelSmoothing: e, reduction: 'none' }).toArray()[i]));
  close(dpoLoss(t(PC), t(PR), t(RC), t(RR), { beta: 0.5, labelSmoothing: t([0, 0]) }).item(), dpoLoss(t(PC), t(PR), t(RC), t(RR), { beta: 0.5 }).item());
  checkGrad((x) => dpoLoss(x, t(PR), t(RC), t(RR), { beta: 0.5, labelSmoothing: t(eps) }), PC);
});

test("davidsonLoss: Davidson's probabilities (nu = 1) written out; a tie pulls the rewards together", () => {
  // win: -log(e^d / (e^d + e^-d + 1)), tie: -log(1 / (e^d + e^-d + 1)), d = (r+ - r-) / 2
  const win = (d: number) => -Math.log(Math.exp(d) / (Math.exp(d) + Math.exp(-d) + 1));
  const tie = (d: number) => Math.log(Math.exp(d) + Math.exp(-d) + 1);
  const l = davidsonLoss(t([3, 0, 1, -1]), t([1, 0, 4, 1]), t([0, 0, 1, 1]), { reduction: 'none' }).toArray();
  [win(1), win(0), tie(-1.5), tie(-1)].forEach((want, i) => close(l[i], want));
  // the three outcomes' probabilities sum to one
  for (const d of [-2, 0, 0.7]) close(Math.exp(-win(d)) + Math.exp(-win(-d)) + Math.exp(-tie(d)), 1);
  // a tie's loss is lowest where the rewards are equal, and the same whichever side is 'chosen'
  assert.ok(tie(0) < tie(0.5) && tie(0.5) === tie(-0.5));
  checkGrad((x) => davidsonLoss(x, t([0, 2, 1]), t([0, 1, 1])), [1, 0, 3]);
});

/** autograd gradient of f at x (a [n] input) against central differences */
function checkGrad(f: (x: Tensor) => Tensor, x0: number[], h = 1e-2, tol = 2e-3): void {
  const x = t(x0, true);
  f(x).backward();
  const g = x.grad!.toArray();
  for (let i = 0; i < x0.length; i++) {
    const up = x0.slice();
    const dn = x0.slice();
    up[i] += h;
    dn[i] -= h;
    const fd = (f(t(up)).item() - f(t(dn)).item()) / (2 * h);
    close(g[i], fd, tol);
  }
}

test('gradients match finite differences', () => {
  checkGrad((x) => dpoLoss(x, t(PR), t(RC), t(RR), { beta: 0.5 }), PC);
  checkGrad((x) => dpoLoss(t(PC), x, t(RC), t(RR), { beta: 0.3, labelSmoothing: 0.2 }), PR);
  checkGrad((x) => ipoLoss(x, t(PR), t(RC), t(RR), { beta: 0.5 }), PC);
  checkGrad((x) => btLoss(x, t([0, 2])), [1, 0]);
  // analytic: d/dpc_0 mean(-log s(beta h)) = -beta s(-beta h_0) / B
  const x = t(PC, true);
  dpoLoss(x, t(PR), t(RC), t(RR), { beta: 0.5 }).backward();
  close(x.grad!.toArray()[0], (-0.5 * (1 / (1 + Math.exp(1)))) / 2);
});
