import { readFileSync } from 'node:fs';
import { cpuFlags, readCpuinfo } from './cpu-features.js';

/**
 * OpenBLAS 0.3.21 (Debian bookworm) does not recognise recent x86 CPUs and falls back to a
 * generic kernel about 10x slower; OPENBLAS_CORETYPE picks the right one. It is read once when
 * the library loads, so this must run before the addon (and with it libtorch) is loaded.
 * A value the user set is left alone.
 */
export function chooseOpenblasCoretype(cpuinfo: string): string | undefined {
  const flags = cpuFlags(cpuinfo);
  if (['avx512f', 'avx512bw', 'avx512vl', 'avx512dq'].every((f) => flags.has(f))) return 'SkylakeX';
  if (flags.has('avx2') && flags.has('fma')) return 'Haswell';
  return undefined;
}

/** Sets OPENBLAS_CORETYPE for this process when unset; returns the value in effect and whether d2po chose it. */
export function configureBlasEnv(): { coretype?: string; chosen: boolean } {
  const given = process.env.OPENBLAS_CORETYPE;
  if (given || process.platform !== 'linux' || process.arch !== 'x64') return { coretype: given, chosen: false };
  const cpuinfo = readCpuinfo();
  if (!cpuinfo) return { chosen: false };
  const coretype = chooseOpenblasCoretype(cpuinfo);
  if (coretype) process.env.OPENBLAS_CORETYPE = coretype;
  return { coretype, chosen: coretype !== undefined };
}

/** Which BLAS library the process has actually mapped (after the addon loaded). */
export function loadedBlas(): string {
  let maps = '';
  try {
    maps = readFileSync('/proc/self/maps', 'utf8');
  } catch {
    return 'unknown';
  }
  const paths = new Set(maps.split('\n').map((l) => l.slice(l.indexOf('/'))).filter((p) => p.startsWith('/')));
  const libs = [...paths].filter((p) => /lib(open)?blas|libmkl|libblis|libflexiblas/.test(p));
  const openblas = libs.find((p) => /openblas/.test(p));
  if (openblas) return `OpenBLAS (${openblas})`;
  const mkl = libs.find((p) => /libmkl/.test(p));
  if (mkl) return `MKL (${mkl})`;
  const other = libs.find((p) => /libblis|libflexiblas/.test(p));
  if (other) return other;
  const ref = libs.find((p) => /libblas\.so/.test(p));
  if (ref) return `reference BLAS (${ref})`;
  return 'none mapped (statically linked or not yet used)';
}
