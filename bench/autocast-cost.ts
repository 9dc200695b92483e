// What bf16 autocast costs and buys on this machine, on policy-base and Word Collector prompts:
// sampling wall time with autocast on and off (on a CPU without native bf16, libtorch emulates
// it), and how far autocast moves summed response log-probs from float32 (which feed implicit
// rewards), with the number of pairs whose order of the two responses it changes.
//
//   node --import tsx bench/autocast-cost.ts [--prompts 32]
import { parseArgs } from 'node:util';
import { autocast, noGrad, scope, setNumThreads } from '../src/tensor/index.js';
import { loadModel, responseLogprobs } from '../src/model/index.js';
import { loadTask } from '../src/tasks/registry.js';
import { TextCodec, rollouts } from '../src/d2po/rollout.js';

const { values } = parseArgs({ options: { prompts: { type: 'string', default: '32' } } });
setNumThreads(1);
const { model, tokenizer, config } = await loadModel('models/policy-base');
const codec = new TextCodec(tokenizer!, model.contextLength, 48, config.bos_token_id ?? null);
const prompts = (await (await loadTask('word-collector')).prompts('dev')).slice(0, Number(values.prompts));
const opts = { k: 2, maxNewTokens: 48, temperature: 1, seed: 1 };

const seconds: Record<string, number> = {};
let rolls: ReturnType<typeof rollouts> = [];
for (const on of [false, true]) {
  const t0 = performance.now();
  rolls = autocast(() => rollouts(model, codec, prompts, opts), { enabled: on });
  seconds[on ? 'autocast' : 'float32'] = (performance.now() - t0) / 1000;
}
console.log(`sampling ${prompts.length} prompts x 2, one thread: float32 ${seconds.float32.toFixed(1)} s, autocast ${seconds.autocast.toFixed(1)} s (${(seconds.autocast / seconds.float32).toFixed(1)}x)`);

const batch = { promptIds: rolls.flatMap((r) => [r.promptIds, r.promptIds]), responseIds: rolls.flatMap((r) => r.samples.map((s) => s.ids)) };
const sums = (on: boolean) => noGrad(() => scope(() => autocast(() => responseLogprobs(model, batch).sum.toArray(), { enabled: on })));
const f32 = sums(false);
const bf16 = sums(true);
const diff = f32.map((x, i) => Math.abs(bf16[i] - x));
let flips = 0;
const gaps: number[] = [];
for (let i = 0; i < f32.length; i += 2) {
  if (Math.sign(f32[i] - f32[i + 1]) !== Math.sign(bf16[i] - bf16[i + 1])) flips++;
  gaps.push(Math.abs(f32[i] - f32[i + 1]));
}
gaps.sort((a, b) => a - b);
console.log(
  `summed response log-probs, autocast against float32: mean |diff| ${(diff.reduce((a, b) => a + b, 0) / diff.length).toFixed(3)} nats, max ${Math.max(...diff).toFixed(3)}; ` +
    `pairs whose order changed ${flips} of ${gaps.length} (median gap between a pair's responses ${gaps[gaps.length >> 1].toFixed(1)} nats)`,
);
model.dispose();
