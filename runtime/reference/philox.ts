/**
 * Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC'11), written with u32 arithmetic
 * only so that WGSL (which has no 64-bit integers) reproduces every bit. `mulhilo` splits one factor into 16-bit
 * halves so each partial product stays below 2^53.
 */

const M0 = 0xd2511f53;
const M1 = 0xcd9e8d57;
const W0 = 0x9e3779b9;
const W1 = 0xbb67ae85;

/** The high and low 32 bits of the 64-bit product of two u32s. */
export function mulhilo(a: number, b: number): [number, number] {
  const lo = Math.imul(a, b) >>> 0;
  const aHi = a >>> 16;
  const aLo = a & 0xffff;
  const p = aHi * b; // < 2^48
  const q = aLo * b; // < 2^48
  const pLow = p % 65536;
  const hi = (Math.floor(p / 65536) + Math.floor((pLow * 65536 + q) / 4294967296)) >>> 0;
  return [hi, lo];
}

/** Ten Philox rounds on counter (c0, c1, c2, c3) with key (k0, k1); returns four u32 words. */
export function philox4x32(
  c0: number,
  c1: number,
  c2: number,
  c3: number,
  k0: number,
  k1: number,
): [number, number, number, number] {
  let x0 = c0 >>> 0;
  let x1 = c1 >>> 0;
  let x2 = c2 >>> 0;
  let x3 = c3 >>> 0;
  let key0 = k0 >>> 0;
  let key1 = k1 >>> 0;
  for (let round = 0; round < 10; round++) {
    if (round > 0) {
      key0 = (key0 + W0) >>> 0;
      key1 = (key1 + W1) >>> 0;
    }
    const [hi0, lo0] = mulhilo(M0, x0);
    const [hi1, lo1] = mulhilo(M1, x2);
    const y0 = (hi1 ^ x1 ^ key0) >>> 0;
    const y2 = (hi0 ^ x3 ^ key1) >>> 0;
    x0 = y0;
    x1 = lo1;
    x2 = y2;
    x3 = lo0;
  }
  return [x0, x1, x2, x3];
}

/** The u32 words for element `i` of a random op with this seed and salt: counter (i, 0, 0, 0), key (seed, salt). */
export function randomWords(seed: number, salt: number, i: number): [number, number, number, number] {
  return philox4x32(i, 0, 0, 0, seed, salt);
}

/** A uniform float in [0, 1) from a u32: its top 24 bits times 2^-24 (exact in f32). */
export function uniformFromBits(w: number): number {
  return (w >>> 8) * 2 ** -24;
}

/** A standard normal from two u32s by Box-Muller: `sqrt(-2 ln u1) cos(2 pi u2)`, u1 in (0, 1] so the log is finite. */
export function normalFromBits(w0: number, w1: number): number {
  const u1 = ((w0 >>> 8) + 1) * 2 ** -24;
  const u2 = (w1 >>> 8) * 2 ** -24;
  return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
}
