/**
 * Fine-tunes the shipped policy base on generated math chains (mathSftExamples) so that the
 * `math` task starts from a policy that is competent but clearly imperfect (the paper used an
 * OPT fine-tuned on 500k expressions), evaluates it on the 200 dev prompts, and writes the model,
 * its eval (math-eval.json) and a model card (README.md) to --out.
 *
 * Training pairs: BOS + "EXPR = " -> gold chain + EOS, loss = mean negative log-likelihood of
 * the response tokens (prompt tokens are context only), AdamW, linear warm-up then constant lr,
 * gradient clipping 1.0, batches of similar length, optional bf16 autocast. Pairs longer than the model's context are skipped (counted in the card).
 *
 * Usage: node --import tsx scripts/train-math-base.ts [--base DIR] [--out models/math-base]
 *          [--steps 600] [--batch 32] [--lr 1e-3] [--seed 1] [--threads 2] [--eval-only]
 */
import { copyFile, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { loadModel, responseLogprobs, saveModel, type CausalLM, type Tokenizer } from '../src/model/index.js';
import { AdamW, autocast, clipGradNorm, manualSeed, scope, setNumThreads } from '../src/tensor/index.js';
import { TextCodec, rollouts } from '../src/d2po/rollout.js';
import { createMathTask, mathSftExamples } from '../src/tasks/math.js';
import { exactAnswer } from '../src/tasks/math-reward.js';
import { readRegistry } from '../src/util/model-registry.js';
import { Rng } from '../src/util/rng.js';
import { ensureDir } from '../src/util/ensure-dir.js';

const { values } = parseArgs({
  options: {
    base: { type: 'string' },
    out: { type: 'string', default: 'models/math-base' },
    steps: { type: 'string', default: '600' },
    batch: { type: 'string', default: '32' },
    lr: { type: 'string', default: '1e-3' },
    warmup: { type: 'string', default: '50' },
    seed: { type: 'string', default: '1' },
    threads: { type: 'string', default: '2' },
    'max-new-tokens': { type: 'string' },
    'eval-only': { type: 'boolean', default: false },
    bf16: { type: 'boolean', default: false },
  },
});
const steps = Number(values.steps);
const batchSize = Number(values.batch);
const lr = Number(values.lr);
const warmup = Number(values.warmup);
const seed = Number(values.seed);
setNumThreads(Number(values.threads));
manualSeed(seed);

const baseDir = values.base ?? readRegistry().find((m) => m.role === 'policy-base')?.path ?? '(no policy-base registered)';
// --eval-only re-evaluates the model already in --out.
const source = values['eval-only'] ? values.out : baseDir;
if (!existsSync(join(source, 'config.json'))) throw new Error(`${source} is not a model folder (no config.json)`);
const loaded = await loadModel(source);
const model = loaded.model;
const tokenizer = loaded.tokenizer;
if (!tokenizer || tokenizer.eosId === null) throw new Error(`${source}: needs a tokenizer.json with an end-of-text token`);
const eos = tokenizer.eosId;
const context = model.contextLength;
const task = createMathTask();
const maxNewTokens = Number(values['max-new-tokens'] ?? task.generation!.maxNewTokens);

function encodePair(tok: Tokenizer, prompt: string, response: string): { p: number[]; r: number[] } {
  return { p: [eos, ...tok.encode(prompt)], r: [...tok.encode(response), eos] };
}

let skipped = 0;
let trainSeconds = 0;
const history: { step: number; loss: number }[] = [];
if (!values['eval-only']) {
  const examples = mathSftExamples(steps * batchSize * 2, seed)
    .map((e) => encodePair(tokenizer, e.prompt, e.response))
    .filter((e) => {
      const fits = e.p.length + e.r.length <= context;
      if (!fits) skipped++;
      return fits;
    });
  if (examples.length < steps * batchSize) throw new Error(`only ${examples.length} training pairs fit the context of ${context}`);
  skipped = Math.round((skipped * steps * batchSize) / (examples.length + skipped)); // among the pairs actually used
  // Batches of similar length (padding costs compute): sort each run of 20 batches by length,
  // cut it into batches, then shuffle the batch order.
  const used = examples.slice(0, steps * batchSize);
  const batches: (typeof used)[] = [];
  for (let i = 0; i < used.length; i += 20 * batchSize) {
    const run = used.slice(i, i + 20 * batchSize).sort((a, b) => a.p.length + a.r.length - b.p.length - b.r.length);
    for (let j = 0; j < run.length; j += batchSize) batches.push(run.slice(j, j + batchSize));
  }
  const order = new Rng(seed).shuffle(batches);
  model.train(true);
  const opt = new AdamW(model.parameters(), { lr, weightDecay: 0.01 });
  const params = model.parameters();
  const t0 = Date.now();
  let acc = 0;
  for (let step = 0; step < steps; step++) {
    const batch = order[step];
    opt.lr = lr * Math.min(1, (step + 1) / warmup);
    const loss = scope(() => {
      const { tokenLogprobs, mask } = autocast(
        () => responseLogprobs(model, { promptIds: batch.map((b) => b.p), responseIds: batch.map((b) => b.r) }),
        { dtype: 'bfloat16', enabled: values.bf16 },
      );
      const l = tokenLogprobs.sum().neg().div(mask.sum());
      l.backward();
      clipGradNorm(params, 1.0);
      opt.step();
      opt.zeroGrad();
      return l.item();
    });
    if (!Number.isFinite(loss)) throw new Error(`diverged at step ${step + 1}: loss ${loss}`);
    acc += loss;
    if ((step + 1) % 25 === 0 || step + 1 === steps) {
      const n = (step + 1) % 25 || 25;
      history.push({ step: step + 1, loss: acc / n });
      console.error(`step ${step + 1}/${steps} loss ${(acc / n).toFixed(4)} (${((Date.now() - t0) / 1000).toFixed(0)} s)`);
      acc = 0;
    }
  }
  trainSeconds = (Date.now() - t0) / 1000;
  model.train(false);
}

/** Mean dev reward, exact-answer and exact-chain rates under one sampling setting. */
async function evaluate(m: CausalLM, temperature: number, topP: number) {
  const prompts = await task.prompts('dev');
  const codec = new TextCodec(tokenizer!, context, maxNewTokens);
  const out = rollouts(m, codec, prompts, { k: 1, maxNewTokens, temperature, topP, seed: 1234 });
  const pairs = out.map((r) => ({ prompt: r.prompt, response: r.samples[0].text }));
  const rewards = await task.rewards(pairs);
  return {
    temperature,
    top_p: topP,
    mean_reward: rewards.reduce((a, b) => a + b, 0) / rewards.length,
    exact_answer_rate: pairs.filter((p) => exactAnswer(p.prompt, p.response)).length / pairs.length,
    exact_chain_rate: rewards.filter((r) => r === 0).length / rewards.length,
    examples: pairs.slice(0, 4).map((p, i) => ({ ...p, reward: rewards[i] })),
  };
}
model.train(false);
const greedy = await evaluate(model, 0, 1);
const sampled = await evaluate(model, 0.9, 0.9);
const report = {
  base: baseDir,
  steps,
  batch_size: batchSize,
  lr,
  seed,
  bf16: values.bf16,
  train_pairs: steps * batchSize,
  skipped_too_long: skipped,
  context,
  max_new_tokens: maxNewTokens,
  train_seconds: Math.round(trainSeconds),
  final_loss: history.at(-1)?.loss ?? null,
  dev: { greedy, sampled },
};
console.log(JSON.stringify({ ...report, dev: { greedy: { ...greedy, examples: undefined }, sampled: { ...sampled, examples: undefined } } }, null, 2));

if (!values['eval-only']) {
  ensureDir(values.out);
  await saveModel(values.out, model, { tokenizerJson: tokenizer.json });
  const cfgSrc = join(baseDir, 'tokenizer_config.json');
  if (existsSync(cfgSrc)) await copyFile(cfgSrc, join(values.out, 'tokenizer_config.json'));
}
// --eval-only prints; it leaves the shipped math-eval.json alone.
if (!values['eval-only']) await writeFile(join(values.out, 'math-eval.json'), JSON.stringify({ ...report, history }, null, 2) + '\n');
