import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { configureBlasEnv } from './blas-env.js';

/** An opaque handle to a native at::Tensor (a type-tagged N-API External). */
export type Handle = { readonly __tensorHandle: unique symbol };

export type InferenceToken = { readonly __inferenceToken: unique symbol };

/** One generated function per ATen operator; see native/ops.txt. Untyped on purpose: the
 * typed surface is the Tensor class. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type OpFn = (...args: any[]) => any;

export interface Native {
  dispose(h: Handle): void;
  liveCount(): number;
  /** whether new tensors report their size to V8 (off inside scopes, which free deterministically) */
  setReportMemory(on: boolean): void;
  isLive(h: Handle): boolean;
  shape(h: Handle): number[];
  dtype(h: Handle): number;
  device(h: Handle): string;
  fromData(data: ArrayBufferView, shape: number[], dtype: number, device?: string | null): Handle;
  toData(h: Handle, kind: 'f32'): Float32Array;
  toData(h: Handle, kind: 'f64'): Float64Array;
  toData(h: Handle, kind: 'i32'): Int32Array;
  toData(h: Handle, kind: 'i64'): BigInt64Array;
  requiresGrad(h: Handle): boolean;
  setRequiresGrad(h: Handle, v: boolean): void;
  isLeaf(h: Handle): boolean;
  grad(h: Handle): Handle | null;
  setGrad(h: Handle, g: Handle | null): void;
  backward(h: Handle, gradient?: Handle | null, retainGraph?: boolean | null): void;
  setGradEnabled(enabled: boolean): boolean;
  isGradEnabled(): boolean;
  inferenceModeEnter(): InferenceToken;
  inferenceModeExit(token: InferenceToken): void;
  autocastEnter(dtype: number, enabled: boolean): [boolean, number, boolean, number];
  autocastExit(cpuEnabled: boolean, cpuDtype: number, cudaEnabled: boolean, cudaDtype: number): void;
  autocastClearCache(): void;
  manualSeed(seed: number): void;
  setNumThreads(n: number): void;
  getNumThreads(): number;
  cudaAvailable(): boolean;
  /** openblasThreadControl: setNumThreads also reaches OpenBLAS's own thread pool */
  buildInfo(): { torchVersion: string; config: string; parallel: string; openblasThreadControl: boolean };
  /** glibc malloc_trim(0): true when pages went back to the OS; false elsewhere */
  mallocTrim(): boolean;
  mallocStats(): { mapped: number; inUse: number; free: number } | null;
  ops: Record<string, OpFn>;
}

/** OPENBLAS_CORETYPE in effect, and whether d2po chose it (the user had not set it). */
export const blasEnv = configureBlasEnv();
// libgomp's idle threads spin-wait between parallel regions by default. On shared cores (CI,
// several processes, a labelling server) that made a KV-cache sampling run 18x slower (19.5 s
// against 1.06 s). Read once when libgomp loads, so set before the addon;
// a value the user set wins, and child processes (a PyTorch comparison) inherit the same policy.
process.env.OMP_WAIT_POLICY ??= 'PASSIVE';

function load(): Native {
  // D2PO_ADDON: an addon built elsewhere (scripts/gpu-check.sh builds one against a CUDA libtorch beside build/)
  const path = process.env.D2PO_ADDON || fileURLToPath(new URL('../../build/Release/d2po.node', import.meta.url));
  if (!existsSync(path)) {
    throw new Error(
      `d2po: the libtorch addon is not built (${path} is missing). Run \`npm run install\` ` +
        '(needs libtorch: apt-get install -y libtorch-dev libopenblas0-pthread, or LIBTORCH=<libtorch dir>).',
    );
  }
  const native = createRequire(import.meta.url)(path) as Native;
  // an addon built from older sources lacks newer functions: say so once, not as a TypeError mid-run
  const missing = (['mallocTrim', 'mallocStats', 'autocastClearCache'] as const).filter((f) => typeof native[f] !== 'function');
  if (missing.length) throw new Error(`d2po: the libtorch addon (${path}) is older than the sources (no ${missing.join(', ')}). Run \`npm run install\` to rebuild it.`);
  return native;
}

export const N: Native = load();
export const ops = N.ops;

// libtorch may start with fewer intra-op threads than cores (it saw 1 here); use every core
// unless the user chose through OMP_NUM_THREADS.
if (!process.env.OMP_NUM_THREADS) N.setNumThreads(availableParallelism());
