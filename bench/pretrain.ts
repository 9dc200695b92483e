/**
 * Pretraining throughput of d2po (TypeScript over libtorch) against PyTorch doing the same work
 * (bench/pretrain_torch.py): one training step = forward, cross-entropy, backward, grad clip,
 * AdamW (two groups) on batch x seq random tokens, same GPT-2 model, 2 threads.
 *
 *   node --import tsx bench/pretrain.ts [--n-embd 256 --n-layer 4 --n-head 4 --seq 128 --batch 32 --vocab 4096]
 *        [--steps 10] [--skip-torch]
 *
 * Runs fp32 and bf16 autocast for both engines, alternating, and prints a markdown table.
 */
import { execFileSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { AdamW, autocast, clipGradNorm, crossEntropy, manualSeed, randint, scope, setNumThreads, backendInfo } from '../src/tensor/index.js';
import { createModel } from '../src/model/index.js';

const { values } = parseArgs({
  options: {
    'n-embd': { type: 'string', default: '256' },
    'n-layer': { type: 'string', default: '4' },
    'n-head': { type: 'string', default: '4' },
    seq: { type: 'string', default: '128' },
    batch: { type: 'string', default: '32' },
    vocab: { type: 'string', default: '4096' },
    steps: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '3' },
    'skip-torch': { type: 'boolean', default: false },
    threads: { type: 'string', default: '2' },
  },
});
const n = (k: keyof typeof values) => Number(values[k]);
const [B, T, V] = [n('batch'), n('seq'), n('vocab')];
setNumThreads(n('threads'));

function ours(bf16: boolean): { s: number; params: number } {
  manualSeed(0);
  const model = createModel({ model_type: 'gpt2', n_embd: n('n-embd'), n_layer: n('n-layer'), n_head: n('n-head'), n_positions: T, vocab_size: V }, { seed: 0 });
  model.train(true);
  const named = model.namedParameters();
  const decay = (name: string, shape: number[]) => shape.length >= 2 && !name.endsWith('wpe.weight');
  const opts = [
    new AdamW(named.filter(([k, t]) => decay(k, t.shape)).map(([, t]) => t), { lr: 1e-3, betas: [0.9, 0.95], weightDecay: 0.1 }),
    new AdamW(named.filter(([k, t]) => !decay(k, t.shape)).map(([, t]) => t), { lr: 1e-3, betas: [0.9, 0.95], weightDecay: 0 }),
  ];
  const params = model.parameters();
  const times: number[] = [];
  for (let step = 0; step < n('warmup') + n('steps'); step++) {
    const t0 = performance.now();
    scope(() => {
      const x = randint(0, V, [B, T + 1], { dtype: 'int64' });
      const l = autocast(
        () => crossEntropy(model.forward(x.slice(1, 0, T)).logits.reshape([B * T, V]).float(), x.slice(1, 1, T + 1).reshape([B * T])),
        { dtype: 'bfloat16', enabled: bf16 },
      );
      l.backward();
      clipGradNorm(params, 1);
      for (const o of opts) {
        o.step();
        o.zeroGrad();
      }
      l.item();
    });
    if (step >= n('warmup')) times.push((performance.now() - t0) / 1000);
  }
  const p = model.numParameters();
  model.dispose();
  times.sort((a, b) => a - b);
  return { s: times[Math.floor(times.length / 2)], params: p };
}

function torch(bf16: boolean): number {
  const script = fileURLToPath(new URL('./pretrain_torch.py', import.meta.url));
  const args = [script, '--threads', values.threads!, '--n-embd', values['n-embd']!, '--n-layer', values['n-layer']!, '--n-head', values['n-head']!, '--seq', String(T), '--batch', String(B), '--vocab', String(V), '--steps', values.steps!, '--warmup', values.warmup!];
  if (bf16) args.push('--bf16');
  const out = execFileSync('/usr/bin/python3', args, { encoding: 'utf8', env: { ...process.env, OPENBLAS_CORETYPE: process.env.OPENBLAS_CORETYPE ?? 'SkylakeX' } });
  return JSON.parse(out.trim().split('\n').at(-1)!).s_per_step;
}

const info = backendInfo();
console.log(`model d${values['n-embd']} L${values['n-layer']} H${values['n-head']}, vocab ${V}, batch ${B} x ${T} tokens; libtorch ${info.torchVersion}, ${info.threads} threads, ${info.blas}`);
console.log('| engine | precision | s/step (median) | tokens/s | vs PyTorch same precision |');
console.log('|---|---|---|---|---|');
for (const bf16 of [false, true]) {
  const o = ours(bf16);
  const t = values['skip-torch'] ? NaN : torch(bf16);
  const prec = bf16 ? 'bf16 autocast' : 'fp32';
  if (!values['skip-torch']) console.log(`| PyTorch (python3-torch) | ${prec} | ${t.toFixed(3)} | ${Math.round((B * T) / t)} | 1.00 |`);
  console.log(`| d2po (${o.params} params) | ${prec} | ${o.s.toFixed(3)} | ${Math.round((B * T) / o.s)} | ${(t / o.s).toFixed(2)} |`);
}
