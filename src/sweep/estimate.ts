import type { RunConfig } from '../d2po/config.js';
import { planBudget } from '../d2po/budget.js';

/**
 * Seconds per unit of work on one core of this machine, with a second job on the other core
 * (measured from the time/* metrics of Word Collector D2PO runs from 1,600 initial labels, one
 * thread each: 16-prompt silver steps, 64-token responses, the 4M-parameter policy; the warm
 * reward model's 4 epochs over 668 pairs took 170 s). A sweep rescales them by what its finished
 * runs took.
 */
export const UNIT_SECONDS = {
  /** sampling one response of 64 new tokens */
  sample: 0.035,
  /** scoring one response with the reward model */
  score: 0.016,
  /** one DPO update of one pair (policy and reference forward, backward) */
  policyPair: 0.11,
  /** one Bradley-Terry epoch over one pair, per reward model */
  discPair: 0.06,
};

/** macsPerToken of the model the unit costs were measured on (policy-base: 4 layers of 256, vocabulary 4,096). */
export const REFERENCE_MACS = 4 * (4 * 256 ** 2 + 2 * 256 * 1024) + 4096 * 256;

/** Share of gold labels that are not ties (ties train nothing); Word Collector's measured 0.47-0.65. */
const DECIDED = 0.5;

/** Estimated seconds of one run's parts; `warm` is what a shared warm start saves when reused. */
export interface RunEstimate {
  /** sampling and labelling the initial set */
  initialSet: number;
  warmPolicy: number;
  warmDiscriminator: number;
  /** the online loop, evaluations included */
  online: number;
}

export function total(e: RunEstimate): number {
  return e.initialSet + e.warmPolicy + e.warmDiscriminator + e.online;
}

/**
 * What a run will cost by its config: work counted in units, times UNIT_SECONDS, each scaled by
 * the size of the model doing it (`size`: macsPerToken over REFERENCE_MACS, for the policy and
 * the discriminator's backbone).
 */
export function estimateRun(c: RunConfig, maxNewTokens: number, units = UNIT_SECONDS, size = { policy: 1, disc: 1 }): RunEstimate {
  const u = { sample: units.sample * size.policy, policyPair: units.policyPair * size.policy, score: units.score * size.disc, discPair: units.discPair * size.disc };
  const plan = planBudget(c);
  const tok = maxNewTokens / 64;
  const sample = (n: number) => n * u.sample * tok;
  const disc = c.discriminator;
  // an epinet's heads share one backbone pass
  const rmMembers = disc.kind === 'rm' || disc.kind === 'rm-epinet' ? 1 : disc.kind === 'rm-ensemble' ? disc.ensembleSize : 0;
  // a DPO discriminator trains like the policy; bow and self cost next to nothing
  const discPair = rmMembers ? rmMembers * u.discPair : disc.kind === 'dpo' ? units.policyPair * size.disc : 0;
  const scorePer = rmMembers ? rmMembers * u.score : disc.kind === 'dpo' || disc.kind === 'self' ? 2 * u.score : 0;
  const decided = plan.initial * DECIDED * (1 - c.init.holdout);
  const heldOut = plan.initial * DECIDED * c.init.holdout;
  // early stopping scores the held-out pairs after each epoch
  const warmPolicy = c.init.warmPolicy ? c.init.policyEpochs * (decided * u.policyPair + heldOut * 2 * u.score) : 0;
  const warmDisc = discPair && disc.kind !== 'self' ? c.init.discriminatorEpochs * (decided * discPair + heldOut * 2 * scorePer) : 0;
  const evals = (c.eval.every > 0 ? Math.floor(plan.steps / c.eval.every) : 0) + (plan.steps > 0 ? 1 : 0) + 1 + (plan.initial > 0 ? 1 : 0);
  const evalCost = sample(c.eval.prompts + 2 * c.eval.accuracyPairs) + 2 * c.eval.accuracyPairs * (scorePer + 2 * u.score);
  let online = evals * evalCost;
  if (c.rollout.labeller === 'gold') {
    for (const g of plan.goldPerRound) online += sample(2 * g) + c.policy.goldEpochs * g * DECIDED * u.policyPair;
  } else {
    const k = c.rollout.samplesPerPrompt;
    const perStep = sample(c.rollout.batchSize * k) + c.rollout.batchSize * k * scorePer;
    // PPO: its epochs over every sample, a value head beside; DPO: one update over the batch's pairs
    const update = c.policy.loss === 'ppo' ? c.ppo.epochs * c.rollout.batchSize * k * u.policyPair : c.rollout.batchSize * u.policyPair;
    online += plan.steps * (perStep + update);
    plan.goldPerRound.forEach((g, r) => {
      const seen = plan.initial + plan.goldPerRound.slice(0, r + 1).reduce((a, b) => a + b, 0);
      const pairs = disc.trainOn === 'all' ? seen * DECIDED : disc.trainOn === 'round' ? g * DECIDED : g * DECIDED + Math.min(disc.replaySize, (seen - g) * DECIDED);
      if (disc.online) online += disc.epochs * pairs * discPair;
      online += c.policy.goldEpochs * g * DECIDED * u.policyPair;
    });
  }
  return { initialSet: sample(2 * plan.initial), warmPolicy, warmDiscriminator: warmDisc, online };
}

/**
 * How much slower runs go than the unit costs when the machine is shared: the unit costs hold
 * while every thread has a core to itself; `otherLoad` busy cores of other work plus this
 * sweep's `threads` running threads stretch each run by what the cores cannot give.
 */
export function contention(otherLoad: number, cores: number, threads: number): number {
  return Math.max(1, (Math.max(0, otherLoad) + threads) / Math.max(1, cores));
}

/**
 * Wall time of jobs run `slots` at a time, in order, each starting when a slot frees (list
 * scheduling, as the sweep runs them).
 */
export function scheduleWall(seconds: number[], slots: number): number {
  const free = Array.from({ length: Math.max(1, slots) }, () => 0);
  for (const s of seconds) {
    const i = free.indexOf(Math.min(...free));
    free[i] += s;
  }
  return Math.max(0, ...free);
}
