/**
 * Causal language-model pretraining of a GPT-2-architecture model: AdamW (no weight decay on
 * biases, LayerNorms and position embeddings), cosine schedule with warm-up, gradient clipping,
 * optional bf16 autocast, held-out perplexity, and exact resume.
 *
 * Exact resume: a step's batch is a function of (seed, step) (see trainBatch) and libtorch's
 * generator is reseeded from (seed, step) before each step (dropout), so a checkpoint needs only
 * the weights, the optimizer state and the step number to continue bit-for-bit.
 *
 * A checkpoint folder (OUT/checkpoint) holds config.json, model.safetensors, tokenizer.json,
 * tokenizer_config.json (the HF layout), optimizer.safetensors and trainer_state.json. The final
 * model goes to OUT itself (HF layout plus eval.json), without optimizer state.
 */
import { copyFile, readFile, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import {
  AdamW,
  autocast,
  clipGradNorm,
  crossEntropy,
  manualSeed,
  noGrad,
  scope,
  tensor,
  type Tensor,
} from '../tensor/index.js';
import { createModel, loadModel, saveModel, readSafetensors, writeSafetensors, Tokenizer, type CausalLM } from '../model/index.js';
import { corpusDocuments, evalWindows, tokenStream, trainBatch } from '../data/lm-data.js';
import { hashSeed } from '../util/rng.js';
import type { ProgressListener } from '../util/progress-events.js';
import { cosineLr } from './schedule.js';
import { parsePretrainConfig, type PretrainConfig } from './pretrain-config.js';
import { ensureDir } from '../util/ensure-dir.js';

export const CHECKPOINT_FORMAT = 'd2po-pretrain-checkpoint';

export interface TrainerState {
  format: typeof CHECKPOINT_FORMAT;
  version: 1;
  /** Steps completed. */
  step: number;
  config: PretrainConfig;
  tokensSeen: number;
  trainSeconds: number;
  /** Mean training loss per logged interval. */
  history: { step: number; loss: number; lr: number }[];
  evals: { step: number; devPpl: number }[];
}

export interface PretrainResult {
  outDir: string;
  steps: number;
  completed: boolean;
  params: number;
  tokensPerSecond: number;
  trainSeconds: number;
  finalLoss: number;
  devPpl: number | null;
  testPpl: number | null;
  history: TrainerState['history'];
}

export interface PretrainOptions {
  /** Continue from this checkpoint folder (or an output folder holding checkpoint/). */
  resume?: string;
  /** Stop (with a checkpoint) after this many steps in total; simulates an interruption. */
  stopAfter?: number;
  /** Set to true (e.g. from a SIGINT handler) to stop at the end of the current step with a checkpoint. */
  shouldStop?: () => boolean;
  /** where progress goes (the CLI draws it as a bar) */
  onProgress?: ProgressListener;
  /** false: no progress events (default true) */
  progress?: boolean;
  log?: (line: string) => void;
}

/** Resolve a --resume argument to the checkpoint folder, or explain why it is not one. */
export function checkpointDir(dir: string): string {
  const abs = resolve(dir);
  if (existsSync(join(abs, 'trainer_state.json'))) return abs;
  if (existsSync(join(abs, 'checkpoint', 'trainer_state.json'))) return join(abs, 'checkpoint');
  if (!existsSync(abs)) throw new Error(`cannot resume: ${dir} does not exist`);
  throw new Error(
    `cannot resume: ${dir} is not a pretraining checkpoint (no trainer_state.json in it or in ${join(dir, 'checkpoint')}; ` +
      `d2po pretrain writes checkpoints to OUT/checkpoint)`,
  );
}

async function readTrainerState(dir: string): Promise<TrainerState> {
  const path = join(dir, 'trainer_state.json');
  let s: TrainerState;
  try {
    s = JSON.parse(await readFile(path, 'utf8')) as TrainerState;
  } catch (err) {
    throw new Error(`cannot resume: ${path} is not valid JSON: ${(err as Error).message}`);
  }
  if (s.format !== CHECKPOINT_FORMAT) throw new Error(`cannot resume: ${path} is not a d2po pretraining checkpoint (format ${JSON.stringify(s.format)})`);
  for (const f of ['model.safetensors', 'config.json', 'optimizer.safetensors']) {
    if (!existsSync(join(dir, f))) throw new Error(`cannot resume: checkpoint ${dir} is incomplete: ${f} is missing`);
  }
  // Re-validate (and re-resolve nothing: paths in a checkpoint are already absolute).
  s.config = parsePretrainConfig(s.config, path);
  return s;
}

/** Parameters that get weight decay: matrices except the position embedding. */
function decays(name: string, t: Tensor): boolean {
  return t.shape.length >= 2 && !name.endsWith('wpe.weight');
}

/** Mean cross-entropy (nats per token) of `model` on the windows; sum and count also returned. */
export function heldoutLoss(
  model: CausalLM,
  windows: { inputs: Int32Array; targets: Int32Array }[],
  opts: { batchSize: number; bf16: boolean },
): { nll: number; tokens: number; ppl: number } {
  const wasTraining = model.training;
  model.train(false);
  let nll = 0;
  let tokens = 0;
  try {
    for (let i = 0; i < windows.length; ) {
      // Batch windows of equal length together (all but possibly the last).
      const len = windows[i].inputs.length;
      let j = i;
      while (j < windows.length && j - i < opts.batchSize && windows[j].inputs.length === len) j++;
      const group = windows.slice(i, j);
      i = j;
      const inputs = new Int32Array(group.length * len);
      const targets = new Int32Array(group.length * len);
      group.forEach((w, k) => {
        inputs.set(w.inputs, k * len);
        targets.set(w.targets, k * len);
      });
      nll += scope(() =>
        noGrad(() => {
          const x = tensor(inputs, { shape: [group.length, len], dtype: 'int64' });
          const y = tensor(targets, { shape: [group.length * len], dtype: 'int64' });
          const logits = autocast(() => model.forward(x).logits, { dtype: 'bfloat16', enabled: opts.bf16 });
          return crossEntropy(logits.reshape([group.length * len, -1]).float(), y, { reduction: 'sum' }).item();
        }),
      );
      tokens += group.length * len;
    }
  } finally {
    model.train(wasTraining);
  }
  return { nll: nll / tokens, tokens, ppl: Math.exp(nll / tokens) };
}

async function saveCheckpoint(
  dir: string,
  model: CausalLM,
  optimizers: { decay: AdamW; noDecay: AdamW },
  state: TrainerState,
  tokenizerPath: string,
): Promise<void> {
  ensureDir(dir);
  await saveModel(dir, model, { tokenizerJson: await readFile(tokenizerPath, 'utf8') });
  await copyTokenizerConfig(tokenizerPath, dir);
  const tensors = new Map<string, Tensor>();
  for (const [prefix, opt] of Object.entries(optimizers)) {
    for (const [k, t] of Object.entries(opt.stateDict().tensors)) tensors.set(`${prefix}.${k}`, t);
  }
  await writeSafetensors(join(dir, 'optimizer.safetensors'), tensors, { step: String(state.step) });
  // Written last: its presence marks a complete checkpoint.
  await writeFile(join(dir, 'trainer_state.json'), JSON.stringify(state, null, 1) + '\n');
}

async function copyTokenizerConfig(tokenizerPath: string, dir: string): Promise<void> {
  const src = join(dirname(tokenizerPath), 'tokenizer_config.json');
  if (existsSync(src) && resolve(src) !== resolve(join(dir, 'tokenizer_config.json'))) {
    await copyFile(src, join(dir, 'tokenizer_config.json'));
  }
}

/** Adam's step count equals the trainer's step (both optimizers step every step). */
async function loadOptimizerState(dir: string, optimizers: { decay: AdamW; noDecay: AdamW }, step: number): Promise<void> {
  const all = await readSafetensors(join(dir, 'optimizer.safetensors'));
  try {
    for (const [prefix, opt] of Object.entries(optimizers)) {
      const tensors: Record<string, Tensor> = {};
      for (const [k, t] of all) if (k.startsWith(prefix + '.')) tensors[k.slice(prefix.length + 1)] = t;
      opt.loadStateDict({ step, tensors });
    }
  } finally {
    for (const t of all.values()) t.dispose();
  }
}

/** The weights of a model folder, checked against the configured architecture. */
async function initialModel(dir: string, want: Record<string, unknown>): Promise<CausalLM> {
  const { model } = await loadModel(dir);
  const got = model.config as unknown as Record<string, unknown>;
  for (const k of ['model_type', 'vocab_size', 'n_embd', 'n_layer', 'n_head', 'n_positions']) {
    if (got[k] !== want[k]) {
      model.dispose();
      throw new Error(`init model ${dir} does not match the config: ${k} is ${String(got[k])}, the config says ${String(want[k])}`);
    }
  }
  return model;
}

export async function pretrain(configOrNull: PretrainConfig | null, opts: PretrainOptions = {}): Promise<PretrainResult> {
  const log = opts.log ?? ((s: string) => console.error(s));
  let resumed: TrainerState | null = null;
  let ckptDir: string | null = null;
  if (opts.resume !== undefined) {
    ckptDir = checkpointDir(opts.resume);
    resumed = await readTrainerState(ckptDir);
  }
  const cfg = resumed?.config ?? configOrNull;
  if (!cfg) throw new Error('pretrain: give a config or a checkpoint to resume');

  if (!existsSync(cfg.tokenizer)) throw new Error(`tokenizer not found: ${cfg.tokenizer}`);
  const tokenizer = await Tokenizer.fromFile(cfg.tokenizer);
  if (tokenizer.eosId === null) throw new Error(`${cfg.tokenizer}: no end-of-text token (<|endoftext|>) to separate documents`);
  const eos = tokenizer.eosId;
  const encode = (t: string) => tokenizer.encode(t);
  const trainDocs = (await corpusDocuments(cfg.data, 'train'))!;
  const devDocs = (await corpusDocuments(cfg.data, 'dev'))!;
  const testDocs = await corpusDocuments(cfg.data, 'test');
  const t0 = Date.now();
  const train = tokenStream(trainDocs, encode, eos);
  const dev = tokenStream(devDocs, encode, eos);
  const test = testDocs && tokenStream(testDocs, encode, eos);
  log(
    `data: train ${train.length} tokens (${trainDocs.length} docs), dev ${dev.length}, test ${test?.length ?? 0}; ` +
      `tokenized in ${((Date.now() - t0) / 1000).toFixed(1)} s`,
  );

  const modelConfig = {
    model_type: 'gpt2' as const,
    ...cfg.model,
    vocab_size: tokenizer.vocabSize,
    bos_token_id: eos,
    eos_token_id: eos,
    tie_word_embeddings: true,
  };
  const model = resumed ? (await loadModel(ckptDir!)).model : cfg.init ? await initialModel(cfg.init, modelConfig) : createModel(modelConfig, { seed: cfg.seed });
  model.train(true);
  const named = model.namedParameters();
  const optimizers = {
    decay: new AdamW(named.filter(([n, t]) => decays(n, t)).map(([, t]) => t), { lr: cfg.lr, betas: cfg.betas, weightDecay: cfg.weightDecay }),
    noDecay: new AdamW(named.filter(([n, t]) => !decays(n, t)).map(([, t]) => t), { lr: cfg.lr, betas: cfg.betas, weightDecay: 0 }),
  };
  if (resumed) await loadOptimizerState(ckptDir!, optimizers, resumed.step);
  const params = model.parameters();
  const state: TrainerState = resumed ?? {
    format: CHECKPOINT_FORMAT,
    version: 1,
    step: 0,
    config: cfg,
    tokensSeen: 0,
    trainSeconds: 0,
    history: [],
    evals: [],
  };
  log(
    `${resumed ? `resuming at step ${state.step} from ${ckptDir}` : 'new model'}: ${model.numParameters()} parameters, ` +
      `${cfg.steps} steps of ${cfg.batchSize} x ${cfg.seqLen} tokens, bf16 autocast ${cfg.bf16 ? 'on' : 'off'}`,
  );

  const tokensPerStep = cfg.batchSize * cfg.seqLen;
  const progress = opts.progress === false ? undefined : opts.onProgress;
  progress?.({ phase: 'start', label: 'pretrain', total: cfg.steps, step: state.step });
  const say = (s: string) => (progress ? progress({ phase: 'log', message: s }) : log(s));
  const ckpt = join(cfg.out, 'checkpoint');
  const devQuick = evalWindows(dev, cfg.seqLen, cfg.evalTokens);
  const logEvery = Math.max(1, Math.min(50, Math.floor(cfg.steps / 20)));
  let lossSum = 0;
  let lossN = 0;
  let lastLoss = NaN;
  let windowStart = Date.now();
  let windowTokens = 0;
  let tokPerSec = 0;
  const stopAt = Math.min(cfg.steps, opts.stopAfter ?? Infinity);

  while (state.step < stopAt) {
    const step = state.step;
    const lr = cosineLr(step, { lr: cfg.lr, minLr: cfg.minLr, warmupSteps: cfg.warmupSteps, totalSteps: cfg.steps });
    const started = Date.now();
    const { inputs, targets } = trainBatch(train, { batchSize: cfg.batchSize, seqLen: cfg.seqLen, seed: cfg.seed, step });
    const loss = scope(() => {
      manualSeed(hashSeed(cfg.seed, step, 0xd50));
      const x = tensor(inputs, { shape: [cfg.batchSize, cfg.seqLen], dtype: 'int64' });
      const y = tensor(targets, { shape: [cfg.batchSize * cfg.seqLen], dtype: 'int64' });
      const l = autocast(
        () => crossEntropy(model.forward(x).logits.reshape([cfg.batchSize * cfg.seqLen, -1]).float(), y),
        { dtype: 'bfloat16', enabled: cfg.bf16 },
      );
      l.backward();
      if (cfg.gradClip > 0) clipGradNorm(params, cfg.gradClip);
      for (const o of Object.values(optimizers)) {
        o.lr = lr;
        o.step();
        o.zeroGrad();
      }
      return l.item();
    });
    if (!Number.isFinite(loss)) throw new Error(`training diverged: loss ${loss} at step ${step + 1} (try a lower lr)`);
    state.step++;
    state.tokensSeen += tokensPerStep;
    state.trainSeconds += (Date.now() - started) / 1000;
    lossSum += loss;
    lossN++;
    lastLoss = loss;
    windowTokens += tokensPerStep;
    const now = Date.now();
    if (now - windowStart >= 2000) {
      tokPerSec = (windowTokens * 1000) / (now - windowStart);
      windowStart = now;
      windowTokens = 0;
    }
    if (state.step % logEvery === 0 || state.step === cfg.steps) {
      state.history.push({ step: state.step, loss: lossSum / lossN, lr });
      lossSum = 0;
      lossN = 0;
    }
    progress?.({ phase: 'step', step: state.step, fields: { loss, lr: lr, 'tok/s': tokPerSec || tokensPerStep / ((now - started) / 1000) } });
    if (cfg.evalEvery > 0 && state.step % cfg.evalEvery === 0 && state.step < cfg.steps) {
      const e = heldoutLoss(model, devQuick, { batchSize: cfg.batchSize, bf16: cfg.bf16 });
      state.evals.push({ step: state.step, devPpl: e.ppl });
      say(`step ${state.step}: dev perplexity ${e.ppl.toFixed(2)} (${e.tokens} tokens)`);
      windowStart = Date.now();
      windowTokens = 0;
    }
    const stopping = state.step < cfg.steps && (state.step >= stopAt || opts.shouldStop?.() === true);
    if ((cfg.checkpointEvery > 0 && state.step % cfg.checkpointEvery === 0) || stopping || state.step === cfg.steps) {
      await saveCheckpoint(ckpt, model, optimizers, state, cfg.tokenizer);
    }
    if (stopping) {
      progress?.({ phase: 'done' });
      say(`stopped at step ${state.step} of ${cfg.steps}; checkpoint in ${ckpt} (continue with: d2po pretrain --resume ${ckpt})`);
      const r = result(false, null, null);
      model.dispose();
      return r;
    }
  }
  progress?.({ phase: 'done' });

  function result(completed: boolean, devPpl: number | null, testPpl: number | null): PretrainResult {
    return {
      outDir: cfg!.out,
      steps: state.step,
      completed,
      params: model.numParameters(),
      tokensPerSecond: state.tokensSeen / Math.max(1e-9, state.trainSeconds),
      trainSeconds: state.trainSeconds,
      finalLoss: lastLoss,
      devPpl,
      testPpl,
      history: state.history,
    };
  }

  const batch = { batchSize: cfg.batchSize, bf16: cfg.bf16 };
  const devEval = heldoutLoss(model, evalWindows(dev, cfg.seqLen), batch);
  const testEval = test ? heldoutLoss(model, evalWindows(test, cfg.seqLen), batch) : null;
  state.evals.push({ step: state.step, devPpl: devEval.ppl });
  log(`final: dev perplexity ${devEval.ppl.toFixed(2)} (${devEval.tokens} tokens)` + (testEval ? `, test ${testEval.ppl.toFixed(2)} (${testEval.tokens} tokens)` : ''));
  const r = result(true, devEval.ppl, testEval?.ppl ?? null);
  await saveModel(cfg.out, model, { tokenizerJson: await readFile(cfg.tokenizer, 'utf8') });
  await copyTokenizerConfig(cfg.tokenizer, cfg.out);
  await writeFile(
    join(cfg.out, 'eval.json'),
    JSON.stringify(
      {
        params: r.params,
        steps: r.steps,
        tokens_seen: state.tokensSeen,
        train_seconds: Number(r.trainSeconds.toFixed(1)),
        tokens_per_second: Math.round(r.tokensPerSecond),
        final_train_loss: Number(lastLoss.toFixed(4)),
        dev_ppl: Number(devEval.ppl.toFixed(3)),
        dev_tokens: devEval.tokens,
        test_ppl: testEval ? Number(testEval.ppl.toFixed(3)) : null,
        test_tokens: testEval?.tokens ?? null,
        bf16: cfg.bf16,
        weights_dtype: 'float32',
      },
      null,
      2,
    ) + '\n',
  );
  ensureDir(ckpt);
  await writeFile(join(ckpt, 'trainer_state.json'), JSON.stringify(state, null, 1) + '\n');
  model.dispose();
  return r;
}
