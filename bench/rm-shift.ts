// Which reward-model recipe holds up when the policy moves? For finished runs of a task whose gold
// is a free function: train reward-model variants on the run's initial gold exactly as its warm
// start did (same non-tied pairs, same held-out split, same epoch seeds), and after every epoch
// score (a) the held-out initial pairs and (b) pairs the run's moving policy sampled (its silver
// pairs, gold-labelled here by the task; gold ties left out), beside the `bow` floor trained on
// the same pairs. Nothing here is a run: no ledger, no store is written.
//
//   node --import tsx bench/rm-shift.ts [--variant last] [--variant sum,lr=1e-4] [--variant last,init=policy]
//     [--epochs 4] [--test 256] [--threads 1] RUN_DIR...
//
// A variant is a pooling (last, mean, sum) and optional lr=, batch=, init=policy (the backbone
// starts from the run's warm-started policy instead of the base model), ties (Davidson's
// ties-aware likelihood, trained on the initial ties too, as discriminator.ties 'davidson' does),
// frozen (a linear probe: only the head trains, as discriminator.frozenBackbone).
import { parseArgs } from 'node:util';
import { join } from 'node:path';
import { RunStore } from '../src/store/run-store.js';
import { loadModel, readConfig } from '../src/model/index.js';
import { manualSeed, setNumThreads } from '../src/tensor/index.js';
import { RewardModel, type Pooling } from '../src/train/reward-model.js';
import { RmDiscriminator, type Discriminator } from '../src/d2po/discriminator.js';
import { BowDiscriminator } from '../src/d2po/bow-discriminator.js';
import { examplesOf, holdOut, pairAccuracy } from '../src/d2po/warm-start.js';
import type { PrefExample } from '../src/d2po/preference-trainer.js';
import { validateConfig, type RunConfig } from '../src/d2po/config.js';
import { loadTask } from '../src/tasks/registry.js';
import { Rng, hashSeed } from '../src/util/rng.js';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    variant: { type: 'string', multiple: true, default: ['last', 'sum'] },
    epochs: { type: 'string', default: '4' },
    test: { type: 'string', default: '256' },
    threads: { type: 'string', default: '1' },
  },
});
if (positionals.length === 0) {
  console.error('usage: node --import tsx bench/rm-shift.ts [--variant SPEC]... [--epochs N] [--test N] RUN_DIR...');
  process.exit(2);
}
const epochs = Number(values.epochs);
const nTest = Number(values.test);
setNumThreads(Number(values.threads));

interface Variant {
  name: string;
  pooling: Pooling;
  lr?: number;
  batch?: number;
  init: 'base' | 'policy';
  ties: boolean;
  frozen: boolean;
}
function parseVariant(spec: string): Variant {
  const v: Variant = { name: spec, pooling: 'last', init: 'base', ties: false, frozen: false };
  for (const part of spec.split(',')) {
    const [k, val] = part.split('=');
    if (val === undefined && ['last', 'mean', 'sum'].includes(k)) v.pooling = k as Pooling;
    else if (k === 'lr') v.lr = Number(val);
    else if (k === 'batch') v.batch = Number(val);
    else if (k === 'init' && (val === 'base' || val === 'policy')) v.init = val;
    else if (k === 'ties' && val === undefined) v.ties = true;
    else if (k === 'frozen' && val === undefined) v.frozen = true;
    else throw new Error(`--variant ${spec}: '${part}' is not a pooling (last, mean, sum), lr=, batch=, init=base|policy, ties or frozen`);
  }
  return v;
}
const variants = values.variant.map(parseVariant);

const both = (ex: PrefExample[]) => ({ promptIds: [...ex, ...ex].map((x) => x.promptIds), responseIds: [...ex.map((x) => x.chosenIds), ...ex.map((x) => x.rejectedIds)] });
const accuracy = (d: Discriminator, ex: PrefExample[]) => {
  const s = d.score(both(ex))[0];
  return pairAccuracy(s.slice(0, ex.length), s.slice(ex.length));
};

console.log('| run | variant | epoch | held-out initial | moved policy (all) | moved policy (last third) | train s |');
console.log('|---|---|---|---|---|---|---|');
for (const dir of positionals) {
  const store = RunStore.open(dir, { readonly: true });
  const c: RunConfig = validateConfig(store.getMeta('config'), dir);
  const parts = store.getMeta<Record<string, string>>('warm_start_parts') ?? {};
  const warmCache = store.getMeta<string>('warm_cache') ?? null;
  const initialGold = store.goldLabels([0]);
  const initial = examplesOf(initialGold);
  const silver = store.silverLabels().map((s) => s.pair);
  store.close();
  const { train, heldOut } = holdOut(initial, c.init.holdout, c.seed);
  // the ties a ties-aware warm start trains on (the loop's split of them)
  const ties = examplesOf(holdOut(initialGold.filter((g) => g.preference === 'tie'), c.init.holdout, hashSeed(c.seed, 1)).train, { ties: true });

  // the moved policy's pairs with gold labels, in sampling order; a fixed sample of the decided ones
  const task = await loadTask(c.task);
  const ra = await task.rewards(silver.map((p) => ({ prompt: p.prompt, response: p.a })));
  const rb = await task.rewards(silver.map((p) => ({ prompt: p.prompt, response: p.b })));
  const decided = silver
    .map((p, i) => ({ p, i }))
    .filter(({ i }) => ra[i] !== rb[i])
    .map(({ p, i }) => ({ step: p.step, ex: { promptIds: p.promptIds, chosenIds: ra[i] > rb[i] ? p.aIds : p.bIds, rejectedIds: ra[i] > rb[i] ? p.bIds : p.aIds } }));
  const picked = new Rng(hashSeed(c.seed, 5)).shuffle(decided).slice(0, nTest).sort((x, y) => x.step - y.step);
  const lastStep = Math.max(...picked.map((x) => x.step));
  const moved = picked.map((x) => x.ex);
  const late = picked.filter((x) => x.step > (2 * lastStep) / 3).map((x) => x.ex);
  const row = (variant: string, epoch: number | string, d: Discriminator, seconds: number) =>
    console.log(`| ${dir.replace(/^.*\//, '')} | ${variant} | ${epoch} | ${accuracy(d, heldOut).toFixed(3)} | ${accuracy(d, moved).toFixed(3)} | ${accuracy(d, late).toFixed(3)} | ${seconds.toFixed(0)} |`);
  console.error(`${dir}: ${train.length} training pairs, ${heldOut.length} held out, ${moved.length} moved-policy pairs (${late.length} in the last third)`);

  const vocab = (await readConfig(join(c.model, 'config.json'))).vocab_size;
  const bow = new BowDiscriminator(vocab, { lr: c.discriminator.bowLr, l2: c.discriminator.l2, batchSize: c.discriminator.batchSize });
  const tb = performance.now();
  bow.train(train, 6, hashSeed(c.seed, 41));
  row('bow (6 epochs)', 6, bow, (performance.now() - tb) / 1000);
  bow.dispose();

  for (const v of variants) {
    manualSeed(c.seed);
    if (v.init === 'policy' && !(parts.policy && warmCache)) throw new Error(`${dir}: no warm policy in a warm cache recorded (meta warm_start_parts.policy, warm_cache)`);
    const from = v.init === 'policy' ? join(warmCache!, 'warm-policy', parts.policy, 'policy') : c.discriminator.model || c.model;
    const { model } = await loadModel(from);
    model.train(false);
    const rm = new RmDiscriminator([new RewardModel(model, v.pooling, { seed: hashSeed(c.seed, 7919, 0), frozenBackbone: v.frozen })], {
      lr: v.lr ?? c.discriminator.lr,
      batchSize: v.batch ?? c.discriminator.batchSize,
      ties: v.ties ? 'davidson' : 'ignore',
    });
    let seconds = 0;
    for (let e = 0; e < epochs; e++) {
      const t0 = performance.now();
      rm.train(v.ties ? [...train, ...ties] : train, 1, hashSeed(c.seed, 19, -1, e));
      seconds += (performance.now() - t0) / 1000;
      row(v.name, e + 1, rm, seconds);
    }
    rm.dispose();
  }
}
