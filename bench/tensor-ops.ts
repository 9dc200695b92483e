// Per-operation latency of the tensor API against PyTorch (Debian python3-torch) on the same ops,
// one thread each: the cost of the binding shows on small tensors, the kernels on large ones.
//   node --import tsx bench/tensor-ops.ts        (BENCH_PYTHON, default /usr/bin/python3)
import { execFileSync } from 'node:child_process';
import { cpus } from 'node:os';
import * as T from '../src/tensor/index.js';

const PYTHON = process.env.BENCH_PYTHON ?? '/usr/bin/python3';

interface Case {
  name: string;
  iters: number;
  /** builds inputs, returns the op under test */
  make: () => () => T.Tensor;
  /** the same in Python: a setup statement and an expression */
  py: [string, string];
}

const cases: Case[] = [
  { name: 'add [4]', iters: 100000, make: () => { const a = T.ones([4]); return () => a.add(a); }, py: ['a=torch.ones(4)', 'a+a'] },
  { name: 'view+transpose [8,64,64]', iters: 100000, make: () => { const a = T.ones([8, 64, 64]); return () => a.view([8, 64, 4, 16]).transpose(1, 2); }, py: ['a=torch.ones(8,64,64)', 'a.view(8,64,4,16).transpose(1,2)'] },
  { name: 'softmax [32,64]', iters: 50000, make: () => { const a = T.randn([32, 64]); return () => a.softmax(-1); }, py: ['a=torch.randn(32,64)', 'a.softmax(-1)'] },
  { name: 'linear [32,256]x[256,256]', iters: 5000, make: () => { const x = T.randn([32, 256]); const w = T.randn([256, 256]); return () => T.linear(x, w); }, py: ['x=torch.randn(32,256);w=torch.randn(256,256)', 'torch.nn.functional.linear(x,w)'] },
  { name: 'matmul [512,512]^2', iters: 50, make: () => { const a = T.randn([512, 512]); return () => a.matmul(a); }, py: ['a=torch.randn(512,512)', 'a@a'] },
];

function ours(c: Case): number {
  return T.scope(() => {
    const f = c.make();
    for (let i = 0; i < Math.min(1000, c.iters); i++) f().dispose();
    const t0 = performance.now();
    for (let i = 0; i < c.iters; i++) f().dispose();
    return ((performance.now() - t0) * 1000) / c.iters;
  });
}

function torch(c: Case): number {
  const src = [
    'import torch, time',
    'torch.set_num_threads(1)',
    c.py[0],
    `for _ in range(min(1000, ${c.iters})): ${c.py[1]}`,
    't = time.perf_counter()',
    `for _ in range(${c.iters}): ${c.py[1]}`,
    `print((time.perf_counter() - t) * 1e6 / ${c.iters})`,
  ].join('\n');
  return Number(execFileSync(PYTHON, ['-c', src], { encoding: 'utf8', env: { ...process.env, OMP_NUM_THREADS: '1' } }));
}

T.setNumThreads(1);
console.log(`machine: ${cpus()[0]?.model}; 1 thread; libtorch ${T.backendInfo().torchVersion}`);
console.log('| op | ours, us/op | PyTorch, us/op | PyTorch / ours |');
console.log('|---|---|---|---|');
for (const c of cases) {
  const o = Math.min(ours(c), ours(c));
  const p = Math.min(torch(c), torch(c));
  console.log(`| ${c.name} | ${o.toFixed(2)} | ${p.toFixed(2)} | ${(p / o).toFixed(2)} |`);
}
