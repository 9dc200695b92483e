import { loadedBlas } from './blas-env.js';
import { dtypeCode } from './dtype.js';
import { blasEnv, N } from './native.js';

// The modes below are per thread, not per promise: an async fn would run its awaited part outside them.
function syncOnly<T>(what: string, result: T): T {
  if (result instanceof Promise) throw new TypeError(`${what}(fn): fn returned a Promise; the mode only covers synchronous code`);
  return result;
}

/** Runs fn with autograd recording off (synchronous fn only: grad mode is per thread, not per promise). */
export function noGrad<T>(fn: () => T): T {
  const prev = N.setGradEnabled(false);
  try {
    return syncOnly('noGrad', fn());
  } finally {
    N.setGradEnabled(prev);
  }
}

/** Runs fn with grad mode explicitly on (inside a noGrad region, for example). */
export function enableGrad<T>(fn: () => T): T {
  const prev = N.setGradEnabled(true);
  try {
    return syncOnly('enableGrad', fn());
  } finally {
    N.setGradEnabled(prev);
  }
}

/**
 * Runs fn in libtorch's inference mode: like noGrad, and cheaper per op (no autograd or view
 * tracking), for sampling and scoring. Tensors made inside cannot take part in autograd later
 * (libtorch throws if they are saved for backward). Synchronous fn only.
 */
export function inferenceMode<T>(fn: () => T): T {
  const token = N.inferenceModeEnter();
  try {
    return syncOnly('inferenceMode', fn());
  } finally {
    N.inferenceModeExit(token);
  }
}

export function isGradEnabled(): boolean {
  return N.isGradEnabled();
}

/**
 * Runs fn under mixed-precision autocast (CPU, and CUDA when present): matmuls and linear layers
 * compute in bfloat16, precision-sensitive ops stay float32. enabled: false turns autocast off
 * inside an enclosing autocast region. Synchronous fn only.
 */
export function autocast<T>(fn: () => T, opts?: { dtype?: 'bfloat16'; enabled?: boolean }): T {
  const state = { dtype: opts?.dtype ?? 'bfloat16', enabled: opts?.enabled ?? true } as const;
  const prev = N.autocastEnter(dtypeCode(state.dtype), state.enabled);
  autocastStack.push(state);
  try {
    return syncOnly('autocast', fn());
  } finally {
    autocastStack.pop();
    N.autocastExit(prev[0], prev[1], prev[2], prev[3]);
  }
}

// the regions autocast() has entered, innermost last (gradient checkpointing replays a forward
// pass in the state it first ran in)
const autocastStack: { dtype: 'bfloat16'; enabled: boolean }[] = [];

/** The innermost autocast() region's settings; { enabled: false } outside any. */
export function autocastState(): { dtype: 'bfloat16'; enabled: boolean } {
  return autocastStack[autocastStack.length - 1] ?? { dtype: 'bfloat16', enabled: false };
}

/**
 * Drops autocast's bf16 copies of weights. Autocast casts each float32 weight once per region
 * and reuses the copy, keyed on the tensor rather than its values, so a weight changed in place
 * inside a region (an optimiser step, a load) would otherwise be seen as it was before. Every
 * in-place weight update calls this.
 */
export function weightsChanged(): void {
  N.autocastClearCache();
}

/** Native tensors currently alive (not disposed and not yet collected). */
export function liveTensorCount(): number {
  return N.liveCount();
}

/** Seeds libtorch's global generators (CPU and CUDA): randn, rand, randint, multinomial, dropout. */
export function manualSeed(seed: number): void {
  N.manualSeed(seed);
}

export function setNumThreads(n: number): void {
  N.setNumThreads(n);
}
export function getNumThreads(): number {
  return N.getNumThreads();
}
export function cudaAvailable(): boolean {
  return N.cudaAvailable();
}

export interface BackendInfo {
  torchVersion: string;
  /** The BLAS library mapped into this process, e.g. "OpenBLAS (/usr/lib/.../libblas.so.3)". */
  blas: string;
  threads: number;
  /** ATen's intra-op parallel backend, e.g. "OpenMP". */
  parallel: string;
  cuda: boolean;
  /** OPENBLAS_CORETYPE in effect (d2po sets it from the CPU flags when unset). */
  openblasCoretype?: string;
  /** True when d2po chose openblasCoretype (the environment did not set it). */
  openblasCoretypeChosen: boolean;
  /** libgomp's OMP_WAIT_POLICY (d2po defaults it to PASSIVE: no spinning on shared cores). */
  ompWaitPolicy?: string;
}

export function backendInfo(): BackendInfo {
  const b = N.buildInfo();
  return {
    torchVersion: b.torchVersion,
    blas: loadedBlas(),
    threads: N.getNumThreads(),
    parallel: /ATen parallel backend: (.*)/.exec(b.parallel)?.[1] ?? 'unknown',
    cuda: N.cudaAvailable(),
    openblasCoretypeChosen: blasEnv.chosen,
    ...(process.env.OMP_WAIT_POLICY ? { ompWaitPolicy: process.env.OMP_WAIT_POLICY } : {}),
    ...(blasEnv.coretype ? { openblasCoretype: blasEnv.coretype } : {}),
  };
}
