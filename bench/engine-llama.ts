// The Llama half of `npm run bench:engine`: a Llama-shaped model of SmolLM-135M's shape (hidden
// 576, 30 layers, 9 heads over 3 key/value heads, SwiGLU 1536, vocab 49152, tied embeddings,
// rope_theta 10000; 134,515,008 parameters, random weights made here, nothing downloaded) doing
// (a) a DPO step training LoRA adapters (r 16, alpha 32, on q_proj, k_proj, v_proj, o_proj),
// (b) a DPO step training every weight, (c) KV-cache sampling, each interleaved with the same work
// in PyTorch (bench/torch_engine_llama.py: the model written out from transformers' Llama, LoRA by
// hand) on the same weights, adapters and tokens. Sizes are small so that the half takes a few
// minutes on 2 loaded cores: 2 pairs = 4 sequences x 48 tokens (16 prompt + 32 response), and
// sampling 4 prompts of 16 tokens with 32 new tokens. Both sides use one set of frozen weights as
// the reference of both steps and as the LoRA base (a view here, the same tensors there), so that
// their peak resident memory (per kind of work, reset before each) compares like for like.
// Autocast: bf16 where the machine has fast bf16 (a GPU, or a CPU with AVX512-BF16/AMX), else
// float32 on both sides, as `d2po run` decides (emulated bf16 made both engines ~30x slower).
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { attachNewAdapter, createModel, responseLogprobs, sample, saveModel, writeSafetensors, type CausalLM } from '../src/model/index.js';
import { AdamW, autocast, noGrad, scope, type Device } from '../src/tensor/index.js';
import { cpuHasFastBf16, readCpuinfo } from '../src/tensor/cpu-features.js';
import { dpoLoss } from '../src/train/losses.js';
import { Rng } from '../src/util/rng.js';
import { median, peakRssMiB, resetPeakRss, startWorker, timeIt } from './engine-worker.js';

const REPS = Number(process.env.BENCH_LLAMA_REPS ?? 3);
const PAIRS = 2;
const PROMPT = 16;
const RESPONSE = 32;
const SAMPLES = 4;
const NEW = 32;
const LR = 5e-5;
const BETA = 0.1;
const LORA = { r: 16, alpha: 32, dropout: 0, targets: ['q_proj', 'k_proj', 'v_proj', 'o_proj'], rslora: false };

export const SMOLLM_135M_SHAPE = {
  model_type: 'llama' as const,
  vocab_size: 49152,
  hidden_size: 576,
  intermediate_size: 1536,
  num_hidden_layers: 30,
  num_attention_heads: 9,
  num_key_value_heads: 3,
  max_position_embeddings: 2048,
  rms_norm_eps: 1e-5,
  rope_theta: 10000,
  tie_word_embeddings: true,
  bos_token_id: 0,
  eos_token_id: 0,
};

type Kind = 'lora' | 'full' | 'sample';
const KINDS: Kind[] = ['lora', 'full', 'sample'];

/** Runs the Llama half and prints its table; returns its ratios in the form of the last line. */
export async function llamaBench(opts: { threads: number; python: string; device?: Device }): Promise<string> {
  const device = opts.device ?? 'cpu';
  const bf16 = device !== 'cpu' || cpuHasFastBf16(readCpuinfo());
  const dir = await mkdtemp(join(tmpdir(), 'd2po-bench-llama-'));
  const policy = createModel(SMOLLM_135M_SHAPE, { seed: 0, device });
  await saveModel(dir, policy);
  // frozen weights: the reference of both steps and the base of the LoRA policy
  const loraPolicy = policy.frozenCopy();
  const adapter = attachNewAdapter(loraPolicy, LORA, 1, 'bench');
  const reference = loraPolicy.baseModel();
  await writeSafetensors(join(dir, 'lora.safetensors'), new Map(adapter.namedParameters()));
  const rng = new Rng(1);
  const tokens = (n: number) => Array.from({ length: n }, () => rng.int(SMOLLM_135M_SHAPE.vocab_size));
  const prompts = Array.from({ length: PAIRS }, () => tokens(PROMPT));
  const chosen = prompts.map((p) => [...p, ...tokens(RESPONSE)]);
  const rejected = prompts.map((p) => [...p, ...tokens(RESPONSE)]);
  const samplePrompts = Array.from({ length: SAMPLES }, () => tokens(PROMPT));
  const specPath = join(dir, 'spec.json');
  await writeFile(
    specPath,
    JSON.stringify({
      config: SMOLLM_135M_SHAPE,
      weights: join(dir, 'model.safetensors'),
      lora: join(dir, 'lora.safetensors'),
      lora_scaling: LORA.alpha / LORA.r,
      device,
      threads: opts.threads,
      lr: LR,
      beta: BETA,
      prompt_len: PROMPT,
      new_tokens: NEW,
      chosen,
      rejected,
      sample_prompts: samplePrompts,
    }),
  );
  const worker = startWorker(opts.python, join(import.meta.dirname, 'torch_engine_llama.py'), specPath, opts.threads);

  const batch = {
    promptIds: [...chosen, ...rejected].map((s) => s.slice(0, PROMPT)),
    responseIds: [...chosen, ...rejected].map((s) => s.slice(PROMPT)),
  };
  const optimizers = {
    lora: new AdamW(loraPolicy.parameters(), { lr: LR, weightDecay: 0 }),
    full: new AdamW(policy.parameters(), { lr: LR, weightDecay: 0 }),
  };
  const models: Record<'lora' | 'full', CausalLM> = { lora: loraPolicy, full: policy };
  policy.train(true);
  loraPolicy.train(true);
  const trainStep = (kind: 'lora' | 'full'): number =>
    scope(() => {
      const both = () => ({
        pol: responseLogprobs(models[kind], batch).sum,
        ref: noGrad(() => responseLogprobs(reference, batch).sum),
      });
      const { pol, ref } = bf16 ? autocast(both, { dtype: 'bfloat16' }) : both();
      const loss = dpoLoss(pol.narrow(0, 0, PAIRS), pol.narrow(0, PAIRS, PAIRS), ref.narrow(0, 0, PAIRS), ref.narrow(0, PAIRS, PAIRS), { beta: BETA, reduction: 'sum' });
      optimizers[kind].zeroGrad();
      loss.backward();
      optimizers[kind].step();
      return loss.item();
    });
  const sampleRun = () => {
    const run = () => sample(reference, samplePrompts, { maxNewTokens: NEW, temperature: 1, eosId: null });
    return bf16 ? autocast(run, { dtype: 'bfloat16' }) : run();
  };
  const ours = (kind: Kind): { secs: number; cpu: number; peak: number } => {
    resetPeakRss();
    const [secs, cpu] = timeIt(() => (kind === 'sample' ? sampleRun() : trainStep(kind)));
    return { secs, cpu, peak: peakRssMiB() };
  };
  const theirs = (kind: Kind) => worker.ask(kind === 'sample' ? { cmd: 'sample', bf16, steps: 1 } : { cmd: 'train', kind, bf16, steps: 1 });

  // warm-up, and the check that both compute the same: the first two losses of each step (the
  // first is 2 log 2 where policy = reference; the second follows one AdamW step from the same
  // weights and adapters)
  const check: string[] = [];
  for (const kind of ['lora', 'full'] as const) {
    const o = [trainStep(kind), trainStep(kind)];
    const t = [(await theirs(kind)).losses![0], (await theirs(kind)).losses![0]];
    check.push(`${kind} ${o.map((x) => x.toFixed(6)).join(', ')} / ${t.map((x) => x.toFixed(6)).join(', ')}`);
  }
  sampleRun();
  await theirs('sample');
  console.log(`\nLlama (SmolLM-135M shape, ${policy.numParameters().toLocaleString('en')} parameters, ${device}, ${bf16 ? 'bf16 autocast' : 'float32: no fast bf16 here'})`);
  console.log(`DPO losses, first two steps (ours / PyTorch): ${check.join('; ')}`);

  type Row = { kind: Kind; ours: number; torch: number; oursCpu: number; torchCpu: number; oursPeak: number; torchPeak: number };
  const rows: Row[] = [];
  for (let rep = 0; rep < REPS; rep++) {
    for (const kind of KINDS) {
      const o = ours(kind);
      const t = await theirs(kind);
      const row = { kind, ours: o.secs, oursCpu: o.cpu, oursPeak: o.peak, torch: t.secs[0], torchCpu: t.cpu[0], torchPeak: t.peak_mib };
      rows.push(row);
      console.log(
        `llama rep ${rep + 1} ${kind.padEnd(6)} wall ours ${row.ours.toFixed(2)}s torch ${row.torch.toFixed(2)}s ratio ${(row.torch / row.ours).toFixed(2)}` +
          ` | cpu ratio ${(row.torchCpu / row.oursCpu).toFixed(2)} | peak RSS ours ${row.oursPeak.toFixed(0)} MiB torch ${row.torchPeak.toFixed(0)} MiB`,
      );
    }
  }
  worker.quit();
  const what: Record<Kind, string> = {
    lora: `DPO step, LoRA r=${LORA.r} on q/k/v/o`,
    full: 'DPO step, all weights',
    sample: `sampling, KV cache (${SAMPLES} x ${NEW} tokens)`,
  };
  console.log(`${PAIRS} pairs = ${2 * PAIRS} sequences x ${PROMPT + RESPONSE} tokens; ${REPS} interleaved pairs of runs`);
  console.log('| work | ours, median s | PyTorch, median s | wall: PyTorch / ours | CPU time: PyTorch / ours | peak RSS ours, MiB | peak RSS PyTorch, MiB |');
  console.log('|---|---|---|---|---|---|---|');
  const ratio = {} as Record<Kind, number>;
  for (const kind of KINDS) {
    const rs = rows.filter((r) => r.kind === kind);
    ratio[kind] = median(rs.map((r) => r.torch / r.ours));
    const peak = (xs: number[]) => Math.max(...xs).toFixed(0);
    console.log(
      `| ${what[kind]} | ${median(rs.map((r) => r.ours)).toFixed(2)} | ${median(rs.map((r) => r.torch)).toFixed(2)} | ${ratio[kind].toFixed(2)} | ` +
        `${median(rs.map((r) => r.torchCpu / r.oursCpu)).toFixed(2)} | ${peak(rs.map((r) => r.oursPeak))} | ${peak(rs.map((r) => r.torchPeak))} |`,
    );
  }
  for (const o of Object.values(optimizers)) o.dispose();
  loraPolicy.dispose();
  policy.dispose();
  await rm(dir, { recursive: true, force: true });
  return `llama_lora_train_vs_torch=${ratio.lora.toFixed(2)} llama_full_train_vs_torch=${ratio.full.toFixed(2)} llama_sample_vs_torch=${ratio.sample.toFixed(2)}`;
}
