// npm run bench:engine: the reference model of shared/notes/engine.md (GPT-2, vocab 2048, d_model 256,
// 4 layers, 4 heads, context 64, tied head: 3,700,224 parameters) doing (1) the DPO step of the notes:
// 16 pairs = 32 sequences x 64 tokens, policy forward+backward, frozen reference forward, AdamW, in
// fp32 and under bf16 autocast, and (2) the sampling run: 32 sequences, 16-token prompts, 48 new
// tokens with a KV cache. The same work runs in PyTorch (bench/torch_engine.py, Debian's
// python3-torch) on the same weights (a safetensors file written here) and the same tokens,
// interleaved with ours, both on the same number of threads. Ratios are PyTorch time / our time
// (above 1: we are faster), median over the repetitions.
//
// Environment: BENCH_REPS (default 5), BENCH_THREADS (default 2), BENCH_PYTHON (default /usr/bin/python3).
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { createModel, responseLogprobs, sample, saveModel } from '../src/model/index.js';
import { AdamW, autocast, backendInfo, noGrad, scope, setNumThreads } from '../src/tensor/index.js';
import { dpoLoss } from '../src/train/losses.js';
import { Rng } from '../src/util/rng.js';

const REPS = Number(process.env.BENCH_REPS ?? 5);
const THREADS = Number(process.env.BENCH_THREADS ?? 2);
const PYTHON = process.env.BENCH_PYTHON ?? '/usr/bin/python3';
const TRAIN_STEPS = 2; // timed steps per repetition (mean), after one untimed warm-up step
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

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

async function main() {
  setNumThreads(THREADS);
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
  const py = spawn(PYTHON, [join(import.meta.dirname, 'torch_engine.py'), specPath], {
    stdio: ['pipe', 'pipe', 'inherit'],
    env: { ...process.env, OMP_NUM_THREADS: String(THREADS) },
  });
  const lines = createInterface({ input: py.stdout })[Symbol.asyncIterator]();
  const ask = async (msg: object): Promise<{ secs: number[]; losses?: number[] }> => {
    py.stdin.write(JSON.stringify(msg) + '\n');
    const r = await lines.next();
    if (r.done) throw new Error('the PyTorch worker exited early (see its error above)');
    return JSON.parse(r.value);
  };

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
  const timeIt = <T>(fn: () => T): [number, T] => {
    const t0 = performance.now();
    const r = fn();
    return [(performance.now() - t0) / 1000, r];
  };
  const ours = {
    train: (bf16: boolean) => {
      const secs: number[] = [];
      const losses: number[] = [];
      for (let i = 0; i < TRAIN_STEPS; i++) {
        const [s, l] = timeIt(() => trainStep(bf16));
        secs.push(s);
        losses.push(l);
      }
      return { secs, losses };
    },
    sample: () => timeIt(() => sample(policy, samplePrompts, { maxNewTokens: NEW, temperature: 1, eosId: null }))[0],
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

  const rows: { kind: string; ours: number; torch: number }[] = [];
  for (let rep = 0; rep < REPS; rep++) {
    for (const kind of ['train_fp32', 'train_bf16', 'sample']) {
      let o: number;
      let t: number;
      if (kind === 'sample') {
        o = ours.sample();
        t = (await ask({ cmd: 'sample', steps: 1 })).secs[0];
      } else {
        const bf16 = kind === 'train_bf16';
        o = mean(ours.train(bf16).secs);
        t = mean((await ask({ cmd: 'train', bf16, steps: TRAIN_STEPS })).secs);
      }
      rows.push({ kind, ours: o, torch: t });
      console.log(`rep ${rep + 1} ${kind.padEnd(10)} ours ${o.toFixed(3)}s  torch ${t.toFixed(3)}s  ratio ${(t / o).toFixed(2)}`);
    }
  }
  py.stdin.write(JSON.stringify({ cmd: 'quit' }) + '\n');
  py.stdin.end();

  const info = backendInfo();
  console.log(`\nmachine: ${cpus()[0]?.model ?? 'unknown'}; ${THREADS} threads both sides; libtorch ${info.torchVersion}; ${info.blas}`);
  console.log('| work | ours (median s) | PyTorch (median s) | PyTorch / ours (median of pairs) |');
  console.log('|---|---|---|---|');
  const ratio: Record<string, number> = {};
  for (const kind of ['train_fp32', 'train_bf16', 'sample']) {
    const rs = rows.filter((r) => r.kind === kind);
    ratio[kind] = median(rs.map((r) => r.torch / r.ours));
    const what = kind === 'sample' ? `sampling 32x(16+48) KV cache (${((2 * PAIRS * NEW) / median(rs.map((r) => r.ours))).toFixed(0)} tok/s ours)` : `DPO step ${kind.slice(6)}`;
    console.log(`| ${what} | ${median(rs.map((r) => r.ours)).toFixed(3)} | ${median(rs.map((r) => r.torch)).toFixed(3)} | ${ratio[kind].toFixed(2)} |`);
  }
  policy.dispose();
  reference.dispose();
  await rm(dir, { recursive: true, force: true });
  console.log(`train_vs_torch_fp32=${ratio.train_fp32.toFixed(2)} train_bf16_vs_torch_bf16=${ratio.train_bf16.toFixed(2)} sample_vs_torch=${ratio.sample.toFixed(2)}`);
}

await main();
