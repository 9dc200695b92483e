/**
 * Small seeded PRNG (mulberry32) for reproducible choices outside libtorch: prompt order,
 * random gold selection, bootstrap resamples. Deterministic for a given seed.
 */
/** Seeds are 32-bit: libtorch's generator and hashSeed keep the low 32 bits, so larger ones would repeat smaller ones. */
export const MAX_SEED = 2 ** 32 - 1;

export class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = hashSeed(seed) >>> 0;
  }
  /** uniform in [0, 1) */
  next(): number {
    this.s = (this.s + 0x6d2b79f5) >>> 0;
    let t = this.s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** integer in [0, n) */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  /** standard normal (Box-Muller) */
  normal(): number {
    const u = 1 - this.next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * this.next());
  }
  /** n values from Normal(0, std), e.g. a head's initial weights without touching libtorch's generator */
  normals(n: number, std: number): Float32Array {
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = std * this.normal();
    return out;
  }
  /** Fisher-Yates shuffle of a copy */
  shuffle<T>(xs: readonly T[]): T[] {
    const a = xs.slice();
    for (let i = a.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      [a[i], a[j]] = [a[j], a[i]];
    }
    return a;
  }
}

/** Mixes several integers into one 32-bit seed (so streams for (seed, step, purpose) differ). */
export function hashSeed(...parts: number[]): number {
  let h = 0x811c9dc5;
  for (const p of parts) {
    let x = Math.floor(p) >>> 0;
    const hi = Math.floor(p / 4294967296) >>> 0;
    for (const v of [x, hi]) {
      x = v;
      for (let i = 0; i < 4; i++) {
        h ^= x & 0xff;
        h = Math.imul(h, 0x01000193) >>> 0;
        x >>>= 8;
      }
    }
  }
  return h >>> 0;
}
