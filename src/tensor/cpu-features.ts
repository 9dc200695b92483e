import { readFileSync } from 'node:fs';

/** The CPU flags of /proc/cpuinfo's first processor (empty where there is none). */
export function cpuFlags(cpuinfo: string): Set<string> {
  return new Set((/^flags\s*:(.*)$/m.exec(cpuinfo)?.[1] ?? '').trim().split(/\s+/).filter(Boolean));
}

/** This machine's /proc/cpuinfo, or '' off Linux. */
export function readCpuinfo(): string {
  try {
    return readFileSync('/proc/cpuinfo', 'utf8');
  } catch {
    return '';
  }
}

/**
 * Whether bf16 matmuls run natively (AVX512-BF16 or AMX). Without them libtorch emulates bf16
 * and autocast makes a run several times slower instead of faster (sampling policy-base: 7.4x,
 * measured on an AVX-512 CPU without AVX512-BF16).
 */
export function cpuHasFastBf16(cpuinfo: string): boolean {
  const flags = cpuFlags(cpuinfo);
  return flags.has('avx512_bf16') || flags.has('amx_bf16');
}
