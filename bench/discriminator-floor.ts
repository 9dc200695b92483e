// Does the reward model learn as much as a linear model on token presence? On a task whose gold
// is a free function: sample pairs from the base model as the loop samples its initial set, gold-
// label them with the task's reward, train on the first N labels (a) the `bow` discriminator and
// (b) the `d2po` preset's reward model (pooling last, and pooling sum), each as the loop trains
// it (init.discriminatorEpochs epochs, autocast as configured), then report accuracy against gold
// on fresh pairs (gold ties left out) from the base model and from a moved policy (the preset's
// DPO warm start on the first --warm labels). Nothing here is a run: no ledger, no store.
//
//   node --import tsx bench/discriminator-floor.ts [--task word-collector] [--model policy-base]
//     [--sizes 64,256,1024] [--test 512] [--warm 128] [--seed 0] [--threads 1] [--no-autocast]
import { parseArgs } from 'node:util';
import { autocast, manualSeed, setNumThreads } from '../src/tensor/index.js';
import { loadModel } from '../src/model/index.js';
import { loadTask, baseModelOf } from '../src/tasks/registry.js';
import { resolveModelPath } from '../src/util/model-registry.js';
import { resolveConfig } from '../src/d2po/presets.js';
import { resolveMaxNewTokens } from '../src/d2po/response-length.js';
import { TextCodec, rollouts, type Rollout } from '../src/d2po/rollout.js';
import { BowDiscriminator } from '../src/d2po/bow-discriminator.js';
import { RmDiscriminator, type Discriminator } from '../src/d2po/discriminator.js';
import { FrozenLogprobs, PreferenceTrainer, type PrefExample } from '../src/d2po/preference-trainer.js';
import { agreement } from '../src/d2po/evaluate.js';
import { Rng, hashSeed } from '../src/util/rng.js';

const { values } = parseArgs({
  options: {
    task: { type: 'string', default: 'word-collector' },
    model: { type: 'string' },
    sizes: { type: 'string', default: '64,256,1024' },
    test: { type: 'string', default: '512' },
    warm: { type: 'string', default: '128' },
    seed: { type: 'string', default: '0' },
    threads: { type: 'string', default: '1' },
    'no-autocast': { type: 'boolean', default: false },
  },
});
const sizes = values.sizes.split(',').map(Number);
const nTest = Number(values.test);
const nWarm = Number(values.warm);
const seed = Number(values.seed);
if (sizes.some((n) => !Number.isInteger(n) || n < 1) || !(nTest > 0) || !(nWarm >= 0)) throw new Error('--sizes, --test and --warm take positive integers');
setNumThreads(Number(values.threads));
manualSeed(seed);

const task = await loadTask(values.task);
const modelDir = resolveModelPath(values.model ?? baseModelOf(values.task));
const c = await resolveMaxNewTokens(
  resolveConfig({ method: 'd2po', task: values.task, model: modelDir, out: '-', seed, ...(values['no-autocast'] && { autocast: false }) }, 'bench/discriminator-floor'),
  task,
);
const ac = <T>(fn: () => T): T => autocast(fn, { enabled: c.autocast });
const base = await loadModel(modelDir);
const policy = base.model;
policy.train(false);
const codec = new TextCodec(base.tokenizer!, policy.contextLength, c.rollout.maxNewTokens, base.config.bos_token_id ?? null);
const trainPrompts = await task.prompts('train');

interface Pair {
  promptIds: number[];
  a: number[];
  b: number[];
  /** gold reward of a minus that of b */
  gold: number;
}

/** n pairs sampled from `model` as the loop samples them (k = 2, the preset's rollout settings), gold-labelled. */
async function samplePairs(model: typeof policy, n: number, tag: number): Promise<Pair[]> {
  const rng = new Rng(hashSeed(seed, tag));
  const prompts = Array.from({ length: n }, () => trainPrompts[rng.int(trainPrompts.length)]);
  const rolls: Rollout[] = [];
  const r = c.rollout;
  for (let i = 0; i < n; i += 64)
    rolls.push(...ac(() => rollouts(model, codec, prompts.slice(i, i + 64), { k: 2, maxNewTokens: codec.maxNewTokens, minNewTokens: r.minNewTokens, temperature: r.temperature, topK: r.topK, topP: r.topP, seed: hashSeed(seed, tag, i) })));
  const g = await task.rewards(rolls.flatMap((x) => x.samples.map((s) => ({ prompt: x.prompt, response: s.text }))));
  return rolls.map((x, i) => ({ promptIds: x.promptIds, a: x.samples[0].ids, b: x.samples[1].ids, gold: g[2 * i] - g[2 * i + 1] }));
}

/** Gold preferences as the loop trains on them: ties train nothing. */
function examples(pairs: Pair[]): PrefExample[] {
  return pairs.filter((p) => p.gold !== 0).map((p) => ({ promptIds: p.promptIds, chosenIds: p.gold > 0 ? p.a : p.b, rejectedIds: p.gold > 0 ? p.b : p.a }));
}

function accuracy(d: Discriminator, pairs: Pair[]): number {
  const [s] = ac(() => d.score({ promptIds: pairs.flatMap((p) => [p.promptIds, p.promptIds]), responseIds: pairs.flatMap((p) => [p.a, p.b]) }));
  return agreement(pairs.map((_, i) => s[2 * i] - s[2 * i + 1]), pairs.map((p) => p.gold));
}

const t0 = performance.now();
const secs = () => ((performance.now() - t0) / 1000).toFixed(0);
const train = await samplePairs(policy, Math.max(...sizes), 1);
const fresh = await samplePairs(policy, nTest, 2);
const tieShare = (ps: Pair[]) => ps.filter((p) => p.gold === 0).length / ps.length;
console.error(`[${secs()}s] sampled ${train.length} training and ${fresh.length} fresh base-model pairs (gold ties ${(tieShare(fresh) * 100).toFixed(0)}%)`);

// the moved policy: the preset's DPO warm start on the first nWarm labels, then fresh pairs from
// it (the base pairs are already drawn, and every discriminator loads its backbone from disk)
let moved: Pair[] = [];
if (nWarm > 0) {
  const ref = policy.frozenCopy();
  const p = c.policy;
  const trainer = new PreferenceTrainer(policy, new FrozenLogprobs(ref), { loss: 'dpo', beta: p.beta, labelSmoothing: 0, lr: c.init.policyLr, weightDecay: p.weightDecay, maxGradNorm: p.maxGradNorm });
  ac(() => trainer.epochs(examples(train.slice(0, nWarm)), c.init.policyEpochs, p.batchSize, new Rng(hashSeed(seed, 3))));
  trainer.dispose();
  ref.dispose();
  moved = await samplePairs(policy, nTest, 4);
  console.error(`[${secs()}s] warm-started the policy on ${nWarm} labels, sampled ${moved.length} pairs from it`);
}

const d = c.discriminator;
const kinds: { name: string; make: () => Promise<Discriminator> }[] = [
  { name: 'bow', make: async () => new BowDiscriminator(base.config.vocab_size, { lr: d.bowLr, l2: d.l2, batchSize: d.batchSize }) },
  { name: `rm (pooling last, lr ${d.lr})`, make: () => RmDiscriminator.create(modelDir, 1, 'last', seed, { lr: d.lr, batchSize: d.batchSize }) },
  { name: `rm (pooling sum, lr ${d.lr})`, make: () => RmDiscriminator.create(modelDir, 1, 'sum', seed, { lr: d.lr, batchSize: d.batchSize }) },
];
const rows: string[] = [];
for (const n of sizes) {
  const ex = examples(train.slice(0, n));
  for (const k of kinds) {
    const disc = await k.make();
    const t = performance.now();
    ac(() => disc.train(ex, c.init.discriminatorEpochs, hashSeed(seed, 5, n)));
    const took = (performance.now() - t) / 1000;
    const f = (x: number) => (Number.isNaN(x) ? '-' : x.toFixed(2));
    rows.push(`| ${n} | ${ex.length} | ${k.name} | ${f(accuracy(disc, fresh))} | ${moved.length ? f(accuracy(disc, moved)) : '-'} | ${took.toFixed(1)} |`);
    disc.dispose();
    console.error(`[${secs()}s] ${rows.at(-1)}`);
  }
}

console.log(`task ${values.task}, model ${values.model ?? baseModelOf(values.task)}, seed ${seed}, autocast ${c.autocast}, ${c.init.discriminatorEpochs} epochs, batch ${d.batchSize}, bow lr ${d.bowLr} l2 ${d.l2}`);
console.log(`fresh pairs: ${fresh.length} from the base model (gold ties ${(tieShare(fresh) * 100).toFixed(0)}%)` +
  (moved.length ? `, ${moved.length} from the policy warm-started on ${nWarm} labels (ties ${(tieShare(moved) * 100).toFixed(0)}%)` : ''));
console.log('\n| N gold labels | non-tied (trained on) | discriminator | accuracy, base-model pairs | accuracy, moved-policy pairs | train s |');
console.log('|---|---|---|---|---|---|');
for (const r of rows) console.log(r);
policy.dispose();
