// npm run bench:engine: a reference model (GPT-2, vocab 2048, d_model 256,
// 4 layers, 4 heads, context 64, tied head: 3,700,224 parameters) doing (1) the DPO step of the notes:
// 16 pairs = 32 sequences x 64 tokens, policy forward+backward, frozen reference forward, AdamW, in
// fp32 and under bf16 autocast, and (2) the sampling run: 32 sequences, 16-token prompts, 48 new
// tokens with a KV cache. The same work runs in PyTorch (bench/torch_engine.py, Debian's
// python3-torch) on the same weights (a safetensors file written here) and the same tokens,
// interleaved with ours, both on the same number of threads. Ratios are PyTorch time / our time
// (above 1: we are faster), median over the repetitions. Wall-clock time decides; process CPU time
// (all threads) is shown beside it because the machine is often shared, and CPU time is less
// disturbed by other processes than wall time is.
//
// Then (3) the same comparison on a Llama-shaped model of 135M parameters (bench/engine-llama.ts).
//
// Environment: BENCH_REPS (default 9, GPT-2 half), BENCH_THREADS (default 2), BENCH_PYTHON (default
// /usr/bin/python3), BENCH_MODELS (default gpt2,llama: which halves run), BENCH_DEVICE (default cpu;
// the Llama half only: cuda runs both engines there, BENCH_PYTHON then a CUDA PyTorch's python).
// The PyTorch worker inherits our environment, so both engines run with the OMP_WAIT_POLICY
// (PASSIVE unless set: spin-waiting on shared cores made both 5-20x slower here) and the
// OPENBLAS_CORETYPE that src/tensor sets before libtorch loads.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createModel, responseLogprobs, sample, saveModel } from '../src/model/index.js';
import { AdamW, autocast, backendInfo, noGrad, scope, setNumThreads, type Device } from '../src/tensor/index.js';
import { dpoLoss } from '../src/train/losses.js';
import { Rng } from '../src/util/rng.js';
import { llamaBench } from './engine-llama.js';
import { mean, median, startWorker, timeIt } from './engine-worker.js';

const REPS = Number(process.env.BENCH_REPS ?? 9);
const THREADS = Number(process.env.BENCH_THREADS ?? 2);
const PYTHON = process.env.BENCH_PYTHON ?? '/usr/bin/python3';
const MODELS = (process.env.BENCH_MODELS ?? 'gpt2,llama').split(',');
const DEVICE = (process.env.BENCH_DEVICE || 'cpu') as Device;
const TRAIN_STEPS = 2; // timed steps per repetition (mean), after untimed warm-up steps
const SAMPLE_RUNS = 2; // timed sampling runs per repetition (mean)
const PAIRS = 16;
const PROMPT = 16;
const NEW = 48;
const LR = 5e-5;
const BETA = 0.1;

const config = {
  model_type: 'gpt2' as const,
  vocab_size: 2048,
  n_positions: 64,
  n_embd: 256,
  n_layer: 4,
  n_head: 4,
  activation_function: 'gelu_new' as const,
  resid_pdrop: 0,
  embd_pdrop: 0,
  attn_pdrop: 0,
};

/** The GPT-2 half; returns its ratios in the form of the last line. */
async function gpt2Bench(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'd2po-bench-'));
  const policy = createModel(config, { seed: 0 });
  await saveModel(dir, policy);
  const reference = policy.frozenCopy();
  const rng = new Rng(1);
  const tokens = (n: number) => Array.from({ length: n }, () => rng.int(config.vocab_size));
  const prompts = Array.from({ length: PAIRS }, () => tokens(PROMPT));
  const chosen = prompts.map((p) => [...p, ...tokens(NEW)]);
  const rejected = prompts.map((p) => [...p, ...tokens(NEW)]);
  const samplePrompts = Array.from({ length: 2 * PAIRS }, () => tokens(PROMPT));
  const specPath = join(dir, 'spec.json');
  await writeFile(
    specPath,
    JSON.stringify({
      config: { ...config, layer_norm_epsilon: 1e-5 },
      weights: join(dir, 'model.safetensors'),
      threads: THREADS,
      lr: LR,
      beta: BETA,
      prompt_len: PROMPT,
      new_tokens: NEW,
      chosen,
      rejected,
      sample_prompts: samplePrompts,
    }),
  );

  // PyTorch worker: same OPENBLAS_CORETYPE (set by our tensor module) and thread count
  const worker = startWorker(PYTHON, join(import.meta.dirname, 'torch_engine.py'), specPath, THREADS);
  const ask = worker.ask;

  const batch = {
    promptIds: [...chosen, ...rejected].map((s) => s.slice(0, PROMPT)),
    responseIds: [...chosen, ...rejected].map((s) => s.slice(PROMPT)),
  };
  const opt = new AdamW(policy.parameters(), { lr: LR, weightDecay: 0 });
  policy.train(true);
  const trainStep = (bf16: boolean): number =>
    scope(() => {
      const both = () => {
        const pol = responseLogprobs(policy, batch).sum;
        const ref = noGrad(() => responseLogprobs(reference, batch).sum);
        return { pol, ref };
      };
      const { pol, ref } = bf16 ? autocast(both, { dtype: 'bfloat16' }) : both();
      const loss = dpoLoss(pol.narrow(0, 0, PAIRS), pol.narrow(0, PAIRS, PAIRS), ref.narrow(0, 0, PAIRS), ref.narrow(0, PAIRS, PAIRS), {
        beta: BETA,
        reduction: 'sum',
      });
      opt.zeroGrad();
      loss.backward();
      opt.step();
      return loss.item();
    });
  const ours = {
    train: (bf16: boolean) => {
      const secs: number[] = [];
      const cpu: number[] = [];
      for (let i = 0; i < TRAIN_STEPS; i++) {
        const [s, c] = timeIt(() => trainStep(bf16));
        secs.push(s);
        cpu.push(c);
      }
      return { secs, cpu };
    },
    sample: () => timeIt(() => {
      for (let i = 0; i < SAMPLE_RUNS; i++) sample(policy, samplePrompts, { maxNewTokens: NEW, temperature: 1, eosId: null });
    }).map((x) => x / SAMPLE_RUNS),
  };

  // warm-up, and a check that both engines compute the same thing: the first step's loss from the
  // same weights on the same tokens (log 2 * 16 = 11.09 at step one, where policy = reference)
  const first = { ours: trainStep(false), torch: (await ask({ cmd: 'train', bf16: false, steps: 1 })).losses![0] };
  const second = { ours: trainStep(false), torch: (await ask({ cmd: 'train', bf16: false, steps: 1 })).losses![0] };
  trainStep(true);
  await ask({ cmd: 'train', bf16: true, steps: 1 });
  ours.sample();
  await ask({ cmd: 'sample', steps: 1 });
  console.log(`DPO loss, first steps (ours / PyTorch): ${first.ours.toFixed(6)} / ${first.torch.toFixed(6)}, ${second.ours.toFixed(6)} / ${second.torch.toFixed(6)}`);

  type Row = { kind: string; ours: number; torch: number; oursCpu: number; torchCpu: number };
  const rows: Row[] = [];
  for (let rep = 0; rep < REPS; rep++) {
    for (const kind of ['train_fp32', 'train_bf16', 'sample']) {
      let row: Row;
      if (kind === 'sample') {
        const [o, oc] = ours.sample();
        const t = await ask({ cmd: 'sample', steps: SAMPLE_RUNS });
        row = { kind, ours: o, oursCpu: oc, torch: mean(t.secs), torchCpu: mean(t.cpu) };
      } else {
        const bf16 = kind === 'train_bf16';
        const o = ours.train(bf16);
        const t = await ask({ cmd: 'train', bf16, steps: TRAIN_STEPS });
        row = { kind, ours: mean(o.secs), oursCpu: mean(o.cpu), torch: mean(t.secs), torchCpu: mean(t.cpu) };
      }
      rows.push(row);
      console.log(
        `rep ${rep + 1} ${kind.padEnd(10)} wall ours ${row.ours.toFixed(3)}s torch ${row.torch.toFixed(3)}s ratio ${(row.torch / row.ours).toFixed(2)}` +
          ` | cpu ours ${row.oursCpu.toFixed(3)}s torch ${row.torchCpu.toFixed(3)}s ratio ${(row.torchCpu / row.oursCpu).toFixed(2)}`,
      );
    }
  }
  worker.quit();

  const info = backendInfo();
  console.log(`\nmachine: ${cpus()[0]?.model ?? 'unknown'}; ${THREADS} threads both sides; ${REPS} interleaved pairs; libtorch ${info.torchVersion}; ${info.blas}; OMP_WAIT_POLICY=${process.env.OMP_WAIT_POLICY}; OPENBLAS_CORETYPE=${process.env.OPENBLAS_CORETYPE}`);
  console.log('| work | ours, median s | PyTorch, median s | wall: PyTorch / ours | CPU time: PyTorch / ours |');
  console.log('|---|---|---|---|---|');
  const ratio: Record<string, number> = {};
  for (const kind of ['train_fp32', 'train_bf16', 'sample']) {
    const rs = rows.filter((r) => r.kind === kind);
    ratio[kind] = median(rs.map((r) => r.torch / r.ours));
    const cpuRatio = median(rs.map((r) => r.torchCpu / r.oursCpu));
    const oursMedian = median(rs.map((r) => r.ours));
    const what = kind === 'sample' ? `sampling, KV cache (ours ${((2 * PAIRS * NEW) / oursMedian).toFixed(0)} tokens/s)` : `DPO step, ${kind === 'train_fp32' ? 'fp32' : 'bf16 autocast'}`;
    console.log(`| ${what} | ${oursMedian.toFixed(3)} | ${median(rs.map((r) => r.torch)).toFixed(3)} | ${ratio[kind].toFixed(2)} | ${cpuRatio.toFixed(2)} |`);
  }
  policy.dispose();
  reference.dispose();
  await rm(dir, { recursive: true, force: true });
  return `train_vs_torch_fp32=${ratio.train_fp32.toFixed(2)} train_bf16_vs_torch_bf16=${ratio.train_bf16.toFixed(2)} sample_vs_torch=${ratio.sample.toFixed(2)}`;
}

setNumThreads(THREADS);
const ratios: string[] = [];
if (MODELS.includes('gpt2')) ratios.push(await gpt2Bench());
if (MODELS.includes('llama')) ratios.push(await llamaBench({ threads: THREADS, python: PYTHON, device: DEVICE }));
console.log(ratios.join(' '));
