/**
 * A small counter-based random number generator, so that every random choice of the data pipeline (shuffles,
 * class-balanced selection, augmentation, noise) is reproducible from a seed and resumable from a position.
 *
 * Design: the n-th output of a stream is a pure function of the stream's 32-bit key and of n (the counter):
 *
 *   lo, hi = the low and high 32 bits of n                (n < 2^53)
 *   h = fmix32(imul(lo ^ key, 0xcc9e2d51))
 *   h = fmix32(h ^ imul(hi + 0x9e3779b9, 0x1b873593) ^ rotl(key, 16))
 *
 * where fmix32 is MurmurHash3's 32-bit finaliser (an avalanche bijection). Because it is counter-based, the whole
 * state of a stream is `{ key, counter }`: saving that pair in a checkpoint resumes the stream exactly, and a stream
 * can be jumped to any position without drawing the values before it. Keys are derived from a user seed and a path
 * of labels (`deriveKey(seed, 'shuffle', epoch)`), so independent uses never share a stream.
 *
 * This is not a cryptographic generator; it is meant for shuffling and augmentation, where its statistical quality
 * (full avalanche per output word) is ample.
 */

/** MurmurHash3's 32-bit finaliser: a bijection on u32 with full avalanche. */
export function fmix32(x: number): number {
  let h = x >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

function rotl(x: number, r: number): number {
  return ((x << r) | (x >>> (32 - r))) >>> 0;
}

/** The counter-th 32-bit output of the stream with this key. */
export function hashCounter(key: number, counter: number): number {
  const lo = counter >>> 0;
  const hi = Math.floor(counter / 0x1_0000_0000) >>> 0;
  let h = fmix32(Math.imul((lo ^ key) >>> 0, 0xcc9e2d51));
  h = fmix32(h ^ Math.imul((hi + 0x9e3779b9) >>> 0, 0x1b873593) ^ rotl(key >>> 0, 16));
  return h;
}

/**
 * A stream key from a seed and a path of labels: FNV-1a over the seed's two 32-bit halves and each label (numbers
 * by their two halves, strings by their UTF-16 code units), finished with fmix32.
 */
export function deriveKey(seed: number, ...path: readonly (number | string)[]): number {
  if (!Number.isSafeInteger(seed)) throw new RangeError(`a seed must be a safe integer, got ${seed}`);
  let h = 0x811c9dc5;
  const mixWord = (w: number): void => {
    for (let i = 0; i < 4; i++) {
      h ^= (w >>> (8 * i)) & 0xff;
      h = Math.imul(h, 0x01000193);
    }
  };
  const mixNumber = (n: number): void => {
    mixWord(n >>> 0);
    mixWord(Math.floor(n / 0x1_0000_0000) >>> 0);
  };
  mixNumber(seed < 0 ? seed + 2 ** 53 : seed);
  for (const part of path) {
    if (typeof part === 'number') {
      mixWord(0x6e); // a tag, so 'ab' and 0x6261 differ
      mixNumber(part < 0 ? part + 2 ** 53 : part);
    } else {
      mixWord(0x73);
      for (let i = 0; i < part.length; i++) mixWord(part.charCodeAt(i));
      mixWord(part.length);
    }
  }
  return fmix32(h);
}

/** The complete, serialisable state of a stream. */
export interface RngState {
  readonly key: number;
  readonly counter: number;
}

export class Rng {
  readonly key: number;
  private next: number;

  constructor(key: number, counter = 0) {
    if (!Number.isSafeInteger(counter) || counter < 0) throw new RangeError(`bad RNG counter ${counter}`);
    this.key = key >>> 0;
    this.next = counter;
  }

  /** The stream for a seed and a path of labels (see `deriveKey`). */
  static of(seed: number, ...path: readonly (number | string)[]): Rng {
    return new Rng(deriveKey(seed, ...path));
  }

  static restore(state: RngState): Rng {
    return new Rng(state.key, state.counter);
  }

  /** How many 32-bit words this stream has produced. */
  get counter(): number {
    return this.next;
  }

  state(): RngState {
    return { key: this.key, counter: this.next };
  }

  /** A uniform 32-bit unsigned integer. */
  u32(): number {
    return hashCounter(this.key, this.next++);
  }

  /** A uniform float in [0, 1), with 32 random bits. */
  float(): number {
    return this.u32() / 0x1_0000_0000;
  }

  /** A uniform integer in [0, n), unbiased (rejection of the incomplete last block). */
  below(n: number): number {
    if (!Number.isInteger(n) || n <= 0 || n > 0x1_0000_0000) throw new RangeError(`below(n) needs 1 <= n <= 2^32`);
    const limit = 0x1_0000_0000 - (0x1_0000_0000 % n);
    for (;;) {
      const x = this.u32();
      if (x < limit) return x % n;
    }
  }

  /** A uniform integer in [lo, hi] (inclusive). */
  int(lo: number, hi: number): number {
    return lo + this.below(hi - lo + 1);
  }

  /** True with probability p. */
  chance(p: number): boolean {
    return this.float() < p;
  }

  /** A standard normal sample (Box-Muller on two fresh words; no cached second value, so the state stays a pair). */
  normal(): number {
    const u1 = 1 - this.float(); // (0, 1]: log is finite
    const u2 = this.float();
    return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
  }
}

/** A uniformly random permutation of 0..n-1 (Fisher-Yates). */
export function permutation(n: number, rng: Rng): Int32Array {
  const p = new Int32Array(n);
  for (let i = 0; i < n; i++) p[i] = i;
  shuffleInPlace(p, rng);
  return p;
}

/** Shuffles `xs` in place (Fisher-Yates) and returns it. */
export function shuffleInPlace<T extends { length: number; [i: number]: unknown }>(xs: T, rng: Rng): T {
  for (let i = xs.length - 1; i > 0; i--) {
    const j = rng.below(i + 1);
    const t = xs[i];
    xs[i] = xs[j];
    xs[j] = t;
  }
  return xs;
}
