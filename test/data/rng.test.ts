import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Rng, deriveKey, fmix32, hashCounter, permutation } from '../../runtime/data/rng.js';

describe('counter-based RNG', () => {
  it('is a pure function of key and counter, so a saved state resumes the stream exactly', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 31 }), fc.nat({ max: 200 }), (seed, skip) => {
        const a = Rng.of(seed, 'stream');
        for (let i = 0; i < skip; i++) a.u32();
        const resumed = Rng.restore(JSON.parse(JSON.stringify(a.state())) as { key: number; counter: number });
        const direct = Array.from({ length: 20 }, (_, i) => hashCounter(a.key, skip + i));
        expect(Array.from({ length: 20 }, () => a.u32())).toEqual(direct);
        expect(Array.from({ length: 20 }, () => resumed.u32())).toEqual(direct);
      }),
    );
  });

  it('counters beyond 2^32 use their high bits (no wrap-around repeat)', () => {
    const key = deriveKey(1);
    expect(hashCounter(key, 5)).not.toBe(hashCounter(key, 5 + 2 ** 32));
  });

  it('derives different keys for different seeds and labels', () => {
    const keys = new Set<number>();
    for (let seed = 0; seed < 50; seed++) {
      for (const label of ['order', 'augment', 'domain'])
        for (let e = 0; e < 4; e++) keys.add(deriveKey(seed, label, e));
    }
    expect(keys.size).toBe(50 * 3 * 4);
    expect(deriveKey(3, 'ab')).not.toBe(deriveKey(3, 0x6261));
  });

  it('fmix32 is a bijection on a sample (no collisions among 100k inputs)', () => {
    const seen = new Set<number>();
    for (let i = 0; i < 100_000; i++) seen.add(fmix32(i * 2654435761));
    expect(seen.size).toBe(100_000);
  });

  it('below(n) is uniform (chi-square over 10 bins, 100k draws)', () => {
    const rng = Rng.of(7, 'uniformity');
    const bins = new Array<number>(10).fill(0);
    const draws = 100_000;
    for (let i = 0; i < draws; i++) {
      const v = rng.below(10);
      bins[v] = (bins[v] ?? 0) + 1;
    }
    const expected = draws / 10;
    const chi2 = bins.reduce((s, b) => s + (b - expected) ** 2 / expected, 0);
    expect(chi2).toBeLessThan(27.9); // p = 0.001 for 9 degrees of freedom
    expect(Math.min(...bins)).toBeGreaterThan(0);
  });

  it('float() is in [0, 1) and normal() has mean 0 and variance 1', () => {
    const rng = Rng.of(11);
    let sum = 0;
    let sq = 0;
    let lo = 1;
    let hi = 0;
    const n = 50_000;
    for (let i = 0; i < n; i++) {
      const f = rng.float();
      lo = Math.min(lo, f);
      hi = Math.max(hi, f);
      const z = rng.normal();
      sum += z;
      sq += z * z;
    }
    expect(lo).toBeGreaterThanOrEqual(0);
    expect(hi).toBeLessThan(1);
    expect(hi - lo).toBeGreaterThan(0.999);
    expect(Math.abs(sum / n)).toBeLessThan(0.03);
    expect(Math.abs(sq / n - 1)).toBeLessThan(0.03);
  });

  it('permutation() returns every index exactly once, reproducibly per seed', () => {
    fc.assert(
      fc.property(fc.nat({ max: 300 }), fc.integer(), (n, seed) => {
        const p = permutation(n, Rng.of(seed));
        expect([...p].sort((a, b) => a - b)).toEqual(Array.from({ length: n }, (_, i) => i));
        expect(permutation(n, Rng.of(seed))).toEqual(p);
      }),
    );
  });
});
