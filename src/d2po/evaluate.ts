import { autocast } from '../tensor/index.js';
import type { CausalLM } from '../model/index.js';
import type { RunTask } from '../tasks/task.js';
import { Rng, hashSeed } from '../util/rng.js';
import type { Discriminator } from './discriminator.js';
import { implicitRewards, type FrozenLogprobs } from './preference-trainer.js';
import { rollouts, type TextCodec } from './rollout.js';

export interface EvalSettings {
  prompts: number;
  temperature: number;
  topP: number;
  accuracyPairs: number;
  maxNewTokens: number;
  /** sampling temperature of training rollouts (fresh pairs are drawn as training draws them) */
  rolloutTemperature: number;
  rolloutTopK: number;
  rolloutTopP: number;
  /** policy beta, for the implicit reward */
  beta: number;
  /** the task's gold is a free function: fresh pairs may be gold-scored (logged only, never trained or counted); needs the task's reward */
  freeGold: boolean;
  seed: number;
  /** bf16 autocast for the model work */
  autocast: boolean;
}

function mean(xs: number[]): number {
  return xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : NaN;
}

/** Share of non-tied gold pairs whose predicted margin has the gold sign (NaN when none). */
export function agreement(predicted: number[], gold: number[]): number {
  let n = 0;
  let ok = 0;
  for (let i = 0; i < gold.length; i++) {
    if (gold[i] === 0) continue;
    n++;
    if (Math.sign(predicted[i]) === Math.sign(gold[i])) ok++;
  }
  return n ? ok / n : NaN;
}

/**
 * A run's evaluation: mean gold reward on dev prompts (evaluation sampling; only when the task
 * has a reward: paid gold is never spent on evaluation), and on
 * fresh current-policy pairs the sampled KL estimate from the initial policy, plus (free gold
 * only) the discriminator's and the implicit reward's accuracy against gold and the tie share.
 * The same prompts and seeds every time, so evaluations differ only by the model.
 */
export async function evaluate(
  policy: CausalLM,
  ref: FrozenLogprobs,
  disc: Discriminator | null,
  codec: TextCodec,
  task: RunTask,
  devPrompts: string[],
  trainPrompts: string[],
  s: EvalSettings,
): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  const ac = <T>(fn: () => T): T => autocast(fn, { enabled: s.autocast });
  const dev = ac(() => rollouts(policy, codec, devPrompts.slice(0, s.prompts), {
    k: 1,
    maxNewTokens: s.maxNewTokens,
    temperature: s.temperature,
    topP: s.topP,
    seed: hashSeed(s.seed, 31337),
  }));
  if (task.rewards) {
    const rewards = await task.rewards(dev.map((r) => ({ prompt: r.prompt, response: r.samples[0].text })));
    out['eval/reward'] = mean(rewards);
    out['eval/reward_sd'] = Math.sqrt(mean(rewards.map((x) => (x - out['eval/reward']) ** 2)));
  }
  out['eval/length'] = mean(dev.map((r) => r.samples[0].ids.length));
  if (s.accuracyPairs > 0 && trainPrompts.length > 0) {
    const rng = new Rng(hashSeed(s.seed, 4242));
    const prompts = Array.from({ length: s.accuracyPairs }, () => trainPrompts[rng.int(trainPrompts.length)]);
    const fresh = ac(() => rollouts(policy, codec, prompts, {
      k: 2,
      maxNewTokens: s.maxNewTokens,
      temperature: s.rolloutTemperature,
      topK: s.rolloutTopK,
      topP: s.rolloutTopP,
      seed: hashSeed(s.seed, 4243),
    }));
    const pIds = fresh.flatMap((r) => [r.promptIds, r.promptIds]);
    const rIds = fresh.flatMap((r) => [r.samples[0].ids, r.samples[1].ids]);
    // log pi - log pi_0 of policy samples: a Monte Carlo estimate of KL(pi || pi_0) per sequence
    const logRatio = ac(() => implicitRewards(policy, ref, 1, pIds, rIds));
    out['eval/kl'] = mean(logRatio);
    if (s.freeGold && task.rewards) {
      const g = await task.rewards(fresh.flatMap((r) => [{ prompt: r.prompt, response: r.samples[0].text }, { prompt: r.prompt, response: r.samples[1].text }]));
      const goldMargin = fresh.map((_, i) => g[2 * i] - g[2 * i + 1]);
      out['eval/gold_tie_share'] = goldMargin.filter((m) => m === 0).length / goldMargin.length;
      out['eval/implicit_acc'] = agreement(
        fresh.map((_, i) => logRatio[2 * i] - logRatio[2 * i + 1]),
        goldMargin,
      );
      if (disc) {
        const sc = ac(() => disc.score({ promptIds: pIds, responseIds: rIds }));
        const margins = fresh.map((_, i) => mean(sc.map((m) => m[2 * i] - m[2 * i + 1])));
        out['eval/disc_acc'] = agreement(margins, goldMargin);
      }
    }
  }
  return out;
}
