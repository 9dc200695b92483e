import { availableParallelism, loadavg } from 'node:os';
import { chooseOpenblasCoretype } from '../../tensor/blas-env.js';
import { readCpuinfo } from '../../tensor/cpu-features.js';
import type { BackendInfo } from '../../tensor/index.js';
import { UsageError, numberFlag, parseFlags, type Command } from '../command.js';

const help = `usage: d2po doctor [--size N] [--reps R] [--json]

Checks the tensor engine: libtorch version, the BLAS library actually loaded, OPENBLAS_CORETYPE,
threads, CUDA, and measured fp32 and bf16 matmul speed (N x N, median of R runs). Prints a
WARNING line with what to do when the speed is far below what the machine can do (reference
BLAS, OpenBLAS not recognising the CPU, busy cores). Always exits 0.

options:
  --size N   matrix size (default 1024)
  --reps R   timed repetitions (default 5)
  --json     print the report as one JSON object
`;

/** fp32 GFLOP/s per thread below which the machine is far from what it can do (a good x86 core
 * with OpenBLAS does 60-100; reference BLAS about 4 in total, misdetected OpenBLAS about 10). */
const SLOW_FP32_PER_THREAD = 30;

export interface DoctorReport extends BackendInfo {
  /** The OpenBLAS core type this CPU's flags call for, if any. */
  recommendedCoretype?: string;
  cores: number;
  loadAverage: number;
  size: number;
  fp32Gflops: number;
  bf16Gflops: number;
  warnings: string[];
}

type Engine = typeof import('../../tensor/index.js');

function matmulGflops(T: Engine, size: number, reps: number, dtype: 'float32' | 'bfloat16'): number {
  const { noGrad, randn, scope } = T;
  return scope(() =>
    noGrad(() => {
      const a = randn([size, size]).to(dtype);
      const b = randn([size, size]).to(dtype);
      a.matmul(b).dispose(); // warm-up: thread pool start, kernel selection
      const times: number[] = [];
      for (let i = 0; i < reps; i++) {
        const t0 = performance.now();
        const c = a.matmul(b);
        c.dispose();
        times.push((performance.now() - t0) / 1000);
      }
      times.sort((x, y) => x - y);
      return (2 * size ** 3) / times[Math.floor(times.length / 2)] / 1e9;
    }),
  );
}

/** The advice lines for a measured backend (exported for tests). */
export function doctorWarnings(r: Omit<DoctorReport, 'warnings'>): string[] {
  const w: string[] = [];
  if (/^reference BLAS/.test(r.blas)) {
    w.push(
      `libtorch is using the reference BLAS (${r.blas}), about 50x slower than OpenBLAS. ` +
        'Install OpenBLAS: apt-get install -y libopenblas0-pthread',
    );
  }
  const perThread = r.fp32Gflops / r.threads;
  if (perThread < SLOW_FP32_PER_THREAD) {
    const causes: string[] = [];
    if (/OpenBLAS/.test(r.blas) && r.recommendedCoretype && r.openblasCoretype !== r.recommendedCoretype) {
      causes.push(
        `OpenBLAS is not using this CPU's kernels (OPENBLAS_CORETYPE is ${r.openblasCoretype ?? 'unset'}; ` +
          `unset it to let d2po choose, or set OPENBLAS_CORETYPE=${r.recommendedCoretype})`,
      );
    }
    if (r.loadAverage > r.cores * 0.75) causes.push(`the cores are busy (load average ${r.loadAverage.toFixed(1)} on ${r.cores} cores)`);
    if (r.threads > r.cores) causes.push(`more threads (${r.threads}) than cores (${r.cores}); use setNumThreads(${r.cores})`);
    w.push(
      `fp32 matmul is slow: ${perThread.toFixed(1)} GFLOP/s per thread (expected ${SLOW_FP32_PER_THREAD}+).` +
        (causes.length ? ` Likely: ${causes.join('; ')}.` : ''),
    );
  }
  if (r.bf16Gflops < r.fp32Gflops) {
    w.push(
      `bf16 matmul (${r.bf16Gflops.toFixed(0)} GFLOP/s) is slower than fp32 (${r.fp32Gflops.toFixed(0)}): ` +
        'this CPU lacks fast bf16 (AVX512-BF16/AMX), so bf16 autocast would slow runs down here (d2po run leaves it off on such CPUs).',
    );
  }
  return w;
}

export const doctor: Command = {
  name: 'doctor',
  summary: 'check the tensor engine (libtorch, BLAS, threads) and measure matmul speed',
  help,
  async run(argv) {
    const { values } = parseFlags({
      args: argv,
      options: { size: { type: 'string' }, reps: { type: 'string' }, json: { type: 'boolean' } },
      strict: true,
    });
    const size = numberFlag('size', values.size, 1024, { integer: true, min: 16 });
    const reps = numberFlag('reps', values.reps, 5, { integer: true, min: 1 });
    if (size > 8192) throw new UsageError(`--size must be at most 8192, got ${size}`);

    // Loaded here, not at the top: the other commands' --help must work while the addon is unbuilt.
    const T = await import('../../tensor/index.js');
    const fp32Gflops = matmulGflops(T, size, reps, 'float32');
    const bf16Gflops = matmulGflops(T, size, reps, 'bfloat16');
    const cpuinfo = readCpuinfo();
    const recommendedCoretype = chooseOpenblasCoretype(cpuinfo);
    const base = { ...T.backendInfo(), ...(recommendedCoretype ? { recommendedCoretype } : {}), cores: availableParallelism(), loadAverage: loadavg()[0], size, fp32Gflops, bf16Gflops };
    const report: DoctorReport = { ...base, warnings: doctorWarnings(base) };

    if (values.json) {
      console.log(JSON.stringify(report));
      return 0;
    }
    const coretypeNote = report.openblasCoretype
      ? `${report.openblasCoretype}${report.openblasCoretypeChosen ? ' (chosen by d2po from the CPU flags)' : ' (from the environment)'}`
      : 'unset';
    const lines = [
      `libtorch           ${report.torchVersion} (parallel backend ${report.parallel})`,
      `BLAS               ${report.blas}`,
      `OPENBLAS_CORETYPE  ${coretypeNote}`,
      `OMP_WAIT_POLICY    ${report.ompWaitPolicy ?? 'unset'}`,
      `threads            ${report.threads} (${report.cores} cores, load average ${report.loadAverage.toFixed(1)})`,
      `CUDA               ${report.cuda ? 'available' : 'not available'}`,
      `fp32 matmul        ${size}x${size}: ${fp32Gflops.toFixed(1)} GFLOP/s (${(fp32Gflops / report.threads).toFixed(1)} per thread)`,
      `bf16 matmul        ${size}x${size}: ${bf16Gflops.toFixed(1)} GFLOP/s`,
      ...report.warnings.map((x) => `WARNING: ${x}`),
    ];
    console.log(lines.join('\n'));
    return 0;
  },
};
