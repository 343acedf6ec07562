/**
 * Python's `random` module, bit for bit: MT19937 seeded like `random.seed(int)` (init_by_array over
 * the 32-bit words of |seed|), `getrandbits`, `randint`/`randrange` (rejection sampling on
 * `n.bit_length()` bits, CPython >= 3.2) and `random()` (53-bit float).
 *
 * The reference picks its video window with `random.randint(0, int(length - n_keep))`; with the same
 * seed this class returns the same start frame (the fixture: seed 4242, randint(0, 75) = 53).
 */

/** The interface samplers use: an integer uniformly drawn from [lo, hi], both ends inclusive. */
export interface RandomSource {
  randint(lo: number, hi: number): number;
}

const N = 624;
const M = 397;

/** A Python-compatible Mersenne Twister (`random.Random`). */
export class PyRandom implements RandomSource {
  private readonly mt = new Uint32Array(N);
  private mti = N + 1;

  /** Same as `random.Random(seed)` for a non-negative or negative integer seed (|seed| < 2^53). */
  constructor(seed = 0) {
    this.seed(seed);
  }

  /** `random.seed(seed)` for an integer seed. */
  seed(seed: number): void {
    if (!Number.isInteger(seed) || !Number.isSafeInteger(seed)) throw new RangeError(`PyRandom seed must be a safe integer, got ${seed}`);
    let a = Math.abs(seed);
    const key: number[] = [];
    do {
      key.push(a % 0x100000000);
      a = Math.floor(a / 0x100000000);
    } while (a > 0);
    this.initByArray(key);
  }

  private initGenrand(s: number): void {
    const mt = this.mt;
    mt[0] = s >>> 0;
    for (let i = 1; i < N; i++) {
      const prev = mt[i - 1]! ^ (mt[i - 1]! >>> 30);
      mt[i] = (Math.imul(1812433253, prev) + i) >>> 0;
    }
    this.mti = N;
  }

  private initByArray(key: number[]): void {
    const mt = this.mt;
    this.initGenrand(19650218);
    let i = 1;
    let j = 0;
    for (let k = Math.max(N, key.length); k > 0; k--) {
      const prev = mt[i - 1]! ^ (mt[i - 1]! >>> 30);
      mt[i] = ((mt[i]! ^ Math.imul(prev, 1664525)) + key[j]! + j) >>> 0;
      i++;
      j++;
      if (i >= N) {
        mt[0] = mt[N - 1]!;
        i = 1;
      }
      if (j >= key.length) j = 0;
    }
    for (let k = N - 1; k > 0; k--) {
      const prev = mt[i - 1]! ^ (mt[i - 1]! >>> 30);
      mt[i] = ((mt[i]! ^ Math.imul(prev, 1566083941)) - i) >>> 0;
      i++;
      if (i >= N) {
        mt[0] = mt[N - 1]!;
        i = 1;
      }
    }
    mt[0] = 0x80000000;
  }

  /** One 32-bit output of MT19937 (genrand_uint32). */
  nextUint32(): number {
    const mt = this.mt;
    if (this.mti >= N) {
      if (this.mti === N + 1) this.initGenrand(5489);
      let kk = 0;
      for (; kk < N - M; kk++) {
        const y = (mt[kk]! & 0x80000000) | (mt[kk + 1]! & 0x7fffffff);
        mt[kk] = mt[kk + M]! ^ (y >>> 1) ^ (y & 1 ? 0x9908b0df : 0);
      }
      for (; kk < N - 1; kk++) {
        const y = (mt[kk]! & 0x80000000) | (mt[kk + 1]! & 0x7fffffff);
        mt[kk] = mt[kk + (M - N)]! ^ (y >>> 1) ^ (y & 1 ? 0x9908b0df : 0);
      }
      const y = (mt[N - 1]! & 0x80000000) | (mt[0]! & 0x7fffffff);
      mt[N - 1] = mt[M - 1]! ^ (y >>> 1) ^ (y & 1 ? 0x9908b0df : 0);
      this.mti = 0;
    }
    let y = mt[this.mti++]!;
    y ^= y >>> 11;
    y ^= (y << 7) & 0x9d2c5680;
    y ^= (y << 15) & 0xefc60000;
    y ^= y >>> 18;
    return y >>> 0;
  }

  /** `random.getrandbits(k)` for 0 <= k <= 53 (as a JS number). */
  getrandbits(k: number): number {
    if (!Number.isInteger(k) || k < 0 || k > 53) throw new RangeError(`getrandbits supports 0..53 bits, got ${k}`);
    if (k === 0) return 0;
    if (k <= 32) return this.nextUint32() >>> (32 - k);
    const lo = this.nextUint32();
    const hi = this.nextUint32() >>> (64 - k);
    return hi * 0x100000000 + lo;
  }

  /** `random._randbelow(n)`: uniform integer in [0, n), n >= 1. */
  randbelow(n: number): number {
    if (!Number.isSafeInteger(n) || n < 1) throw new RangeError(`randbelow needs a positive safe integer, got ${n}`);
    const k = bitLength(n);
    let r = this.getrandbits(k);
    while (r >= n) r = this.getrandbits(k);
    return r;
  }

  /** `random.randrange(start, stop)`: uniform integer in [start, stop). */
  randrange(start: number, stop: number): number {
    if (!(stop > start)) throw new RangeError(`empty range for randrange(${start}, ${stop})`);
    return start + this.randbelow(stop - start);
  }

  /** `random.randint(a, b)`: uniform integer in [a, b], both ends inclusive. */
  randint(a: number, b: number): number {
    if (!Number.isInteger(a) || !Number.isInteger(b)) throw new RangeError(`randint needs integers, got (${a}, ${b})`);
    return this.randrange(a, b + 1);
  }

  /** `random.random()`: float in [0, 1) with 53 random bits. */
  random(): number {
    const a = this.nextUint32() >>> 5;
    const b = this.nextUint32() >>> 6;
    return (a * 67108864 + b) / 9007199254740992;
  }
}

/** A 32-bit seed from (seed, epoch, index), so windows do not depend on load order. */
export function itemSeed(seed: number, epoch: number, index: number): number {
  let h = 0x811c9dc5;
  for (const v of [seed, epoch, index]) {
    for (let k = 0; k < 4; k++) {
      h ^= (Math.floor(v / 2 ** (8 * k)) & 0xff) >>> 0;
      h = Math.imul(h, 0x01000193) >>> 0;
    }
  }
  return h >>> 0;
}

const LOG4 = Math.log(4);
const SG_MAGICCONST = 1 + Math.log(4.5);

/** `random.gammavariate(alpha, beta)` (CPython 3.11's algorithms, the same draws for the same state). */
export function gammavariate(rng: PyRandom, alpha: number, beta: number): number {
  if (!(alpha > 0) || !(beta > 0)) throw new RangeError(`gammavariate: alpha and beta must be > 0, got ${alpha}, ${beta}`);
  if (alpha > 1) {
    // R.C.H. Cheng, "The generation of Gamma variables with non-integral shape parameters"
    const ainv = Math.sqrt(2 * alpha - 1);
    const bbb = alpha - LOG4;
    const ccc = alpha + ainv;
    for (;;) {
      const u1 = rng.random();
      if (!(u1 > 1e-7 && u1 < 0.9999999)) continue;
      const u2 = 1 - rng.random();
      const v = Math.log(u1 / (1 - u1)) / ainv;
      const x = alpha * Math.exp(v);
      const z = u1 * u1 * u2;
      const r = bbb + ccc * v - x;
      if (r + SG_MAGICCONST - 4.5 * z >= 0 || r >= Math.log(z)) return x * beta;
    }
  }
  if (alpha === 1) return -Math.log(1 - rng.random()) * beta;
  // Algorithm GS of Kennedy & Gentle, Statistical Computing
  for (;;) {
    const u = rng.random();
    const b = (Math.E + alpha) / Math.E;
    const p = b * u;
    const x = p <= 1 ? p ** (1 / alpha) : -Math.log((b - p) / alpha);
    const u1 = rng.random();
    if (p > 1 ? u1 <= x ** (alpha - 1) : u1 <= Math.exp(-x)) return x * beta;
  }
}

/** `random.betavariate(alpha, beta)` (CPython 3.11). */
export function betavariate(rng: PyRandom, alpha: number, beta: number): number {
  const y = gammavariate(rng, alpha, 1);
  return y ? y / (y + gammavariate(rng, beta, 1)) : 0;
}

/** Python's int.bit_length() for a positive safe integer. */
function bitLength(n: number): number {
  let k = 0;
  while (n >= 1) {
    n = Math.floor(n / 2);
    k++;
  }
  return k;
}
