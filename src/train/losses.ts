import { stack, type Tensor } from '../tensor/index.js';

// Preference losses over summed sequence log-probs (one value per pair, shape [B]).
// h = (log pi(y+|x) - log pi_ref(y+|x)) - (log pi(y-|x) - log pi_ref(y-|x)).

export type Reduction = 'mean' | 'sum' | 'none';

function reduce(x: Tensor, reduction: Reduction = 'mean'): Tensor {
  if (reduction === 'none') return x;
  return reduction === 'sum' ? x.sum() : x.mean();
}

/** h above: how much more the policy than the reference prefers the chosen response. */
export function logRatioMargin(policyChosen: Tensor, policyRejected: Tensor, refChosen: Tensor, refRejected: Tensor): Tensor {
  return policyChosen.sub(policyRejected).sub(refChosen.sub(refRejected));
}

export interface DpoOptions {
  beta: number;
  /**
   * Conservative DPO (label smoothing eps): the pair's label is wrong with probability eps,
   * loss = -(1 - eps) log s(beta h) - eps log s(-beta h). 0 = plain sigmoid DPO. A tensor [B]
   * gives each pair its own eps (soft labels: eps = 1 - the labeller's probability).
   */
  labelSmoothing?: number | Tensor;
  reduction?: Reduction;
}

/** DPO (Rafailov et al. 2023), sigmoid loss: -log sigmoid(beta h). */
export function dpoLoss(policyChosen: Tensor, policyRejected: Tensor, refChosen: Tensor, refRejected: Tensor, opts: DpoOptions): Tensor {
  const z = logRatioMargin(policyChosen, policyRejected, refChosen, refRejected).mul(opts.beta);
  const eps = opts.labelSmoothing ?? 0;
  let loss = z.logsigmoid().neg();
  if (typeof eps !== 'number') loss = loss.mul(eps.neg().add(1)).sub(z.neg().logsigmoid().mul(eps));
  else if (eps > 0) loss = loss.mul(1 - eps).sub(z.neg().logsigmoid().mul(eps));
  return reduce(loss, opts.reduction);
}

/** IPO (Azar et al. 2023): (h - 1/(2 tau))^2 with tau = beta. */
export function ipoLoss(policyChosen: Tensor, policyRejected: Tensor, refChosen: Tensor, refRejected: Tensor, opts: { beta: number; reduction?: Reduction }): Tensor {
  const h = logRatioMargin(policyChosen, policyRejected, refChosen, refRejected);
  return reduce(h.sub(1 / (2 * opts.beta)).pow(2), opts.reduction);
}

/** Bradley-Terry reward-model loss: -log sigmoid(r(x, y+) - r(x, y-)). */
export function btLoss(chosenScores: Tensor, rejectedScores: Tensor, opts: { reduction?: Reduction } = {}): Tensor {
  return reduce(chosenScores.sub(rejectedScores).logsigmoid().neg(), opts.reduction);
}

/**
 * Davidson's ties-aware Bradley-Terry loss (nu = 1): with d = (r+ - r-) / 2,
 * P(+ wins) = e^d / (e^d + e^-d + 1) and P(tie) = 1 / (e^d + e^-d + 1), so a tie is evidence that
 * the two rewards are close. `tie` [B]: 1 where the pair tied (its order then does not matter).
 */
export function davidsonLoss(chosenScores: Tensor, rejectedScores: Tensor, tie: Tensor, opts: { reduction?: Reduction } = {}): Tensor {
  const d = chosenScores.sub(rejectedScores).mul(0.5);
  const lse = stack([d, d.neg(), d.mul(0)], 0).logsumexp([0]);
  return reduce(lse.sub(d.mul(tie.neg().add(1))), opts.reduction);
}

/** DPO's implicit reward beta (log pi(y|x) - log pi_ref(y|x)). */
export function implicitReward(policyLogp: Tensor, refLogp: Tensor, beta: number): Tensor {
  return policyLogp.sub(refLogp).mul(beta);
}
