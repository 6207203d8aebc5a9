/** The reference interpreter's numerics: erf, f16 rounding, stable forms, random streams, errors. */

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { GraphBuilder } from '../../compiler/ir/builder.js';
import { evaluate } from '../../runtime/reference/interpret.js';
import { erf, roundF16, sigmoid } from '../../runtime/reference/math.js';
import { makeTensor, type RefTensor } from '../../runtime/reference/tensor.js';

/** erfc by its continued fraction (Lentz), accurate for x >= 2: an independent check of the series. */
function erfcContinuedFraction(x: number): number {
  let f = x;
  let c = x;
  let d = 0;
  for (let n = 1; n < 300; n++) {
    const a = n / 2;
    d = x + a * d;
    d = 1 / d;
    c = x + a / c;
    const delta = c * d;
    f *= delta;
    if (Math.abs(delta - 1) < 1e-16) break;
  }
  return Math.exp(-x * x) / (Math.sqrt(Math.PI) * f);
}

function run(
  build: (b: GraphBuilder) => Record<string, ReturnType<GraphBuilder['full']>>,
  inputs = {},
): Record<string, RefTensor> {
  const b = new GraphBuilder();
  const outs = build(b);
  return evaluate(b.build(outs), inputs);
}

describe('reference numerics', () => {
  it('erf is odd, agrees with known values and with the continued fraction of erfc', () => {
    expect(erf(0)).toBe(0);
    expect(erf(1)).toBeCloseTo(0.8427007929497149, 15);
    expect(erf(0.5)).toBeCloseTo(0.5204998778130465, 15);
    fc.assert(
      fc.property(fc.double({ min: 2, max: 5.5, noNaN: true }), (x) => {
        expect(erf(-x)).toBe(-erf(x));
        // Absolute error: erf is near 1 here, where one ulp is 1.1e-16.
        expect(Math.abs(1 - erf(x) - erfcContinuedFraction(x))).toBeLessThan(4e-15);
      }),
    );
  });

  it('rounds to half precision like IEEE binary16', () => {
    expect(roundF16(1)).toBe(1);
    expect(roundF16(1 + 2 ** -11)).toBe(1); // a tie rounds to even
    expect(roundF16(1 + 3 * 2 ** -11)).toBe(1 + 2 ** -9);
    expect(roundF16(65504)).toBe(65504);
    expect(roundF16(65520)).toBe(Infinity);
    expect(roundF16(2 ** -24)).toBe(2 ** -24);
    expect(roundF16(2 ** -26)).toBe(0);
    expect(roundF16(0.1)).toBe(0.0999755859375);
  });

  it('keeps sigmoid, softmax, logsumexp and cross-entropy finite for large inputs', () => {
    expect(sigmoid(-1000)).toBe(0);
    expect(sigmoid(1000)).toBe(1);
    const out = run((b) => {
      const x = b.constant([1000, -1000, 0, 999], [2, 2]);
      return {
        sm: b.softmax(x, -1),
        lse: b.logsumexp(x, 1),
        ce: b.crossEntropy(x, b.constant([1, 0], [2], 'i32')),
        gelu: b.gelu(x, 'tanh'),
      };
    });
    for (const t of Object.values(out)) for (const v of t.data) expect(Number.isFinite(v)).toBe(true);
    expect(Array.from(out.lse?.data ?? [])).toEqual([1000, 999 + Math.log(1 + Math.exp(-999))]);
    expect(out.ce?.data[0]).toBeCloseTo(2000, 10);
  });

  it('rounds every op in f32 mode', () => {
    const b = new GraphBuilder();
    const x = b.data('x', [3]);
    const g = b.build({ y: b.div(b.exp(x), 3) });
    const inputs = { x: makeTensor('f32', [3], [0.1, 0.2, 0.3]) };
    const y = evaluate(g, inputs, { precision: 'f32' }).y as RefTensor;
    expect(Array.from(y.data)).toEqual([0.1, 0.2, 0.3].map((v) => Math.fround(Math.fround(Math.exp(v)) / 3)));
  });

  it('rejects indices out of range and inputs of the wrong shape', () => {
    const b = new GraphBuilder();
    const x = b.data('x', [3]);
    const i = b.data('i', [1], 'i32');
    const g = b.build({ y: b.take(x, i, 0) });
    const x0 = makeTensor('f32', [3], [1, 2, 3]);
    expect(Array.from((evaluate(g, { x: x0, i: makeTensor('i32', [1], [2]) }).y as RefTensor).data)).toEqual([3]);
    expect(() => evaluate(g, { x: x0, i: makeTensor('i32', [1], [3]) })).toThrow(/out of range/);
    expect(() => evaluate(g, { x: makeTensor('f32', [4], [1, 2, 3, 4]), i: makeTensor('i32', [1], [0]) })).toThrow(
      /expects f32\[3\]/,
    );
  });
});

describe('random ops', () => {
  const draw = (seed: number, salt: number, n: number) => {
    const b = new GraphBuilder();
    const s = b.data('seed', [], 'u32');
    const g = b.build({
      u: b.randomUniform(s, [n], salt),
      z: b.randomNormal(s, [n], salt),
      p: b.randomPermutation(s, n, salt),
    });
    return evaluate(g, { seed: makeTensor('u32', [], [seed]) });
  };

  it('reproduce for one seed and salt and differ across them', () => {
    const a = draw(42, 1, 64);
    expect(Array.from(draw(42, 1, 64).u?.data ?? [])).toEqual(Array.from(a.u?.data ?? []));
    expect(Array.from(draw(43, 1, 64).u?.data ?? [])).not.toEqual(Array.from(a.u?.data ?? []));
    expect(Array.from(draw(42, 2, 64).u?.data ?? [])).not.toEqual(Array.from(a.u?.data ?? []));
  });

  it('have the right distributions', () => {
    const n = 20000;
    const { u, z, p } = draw(7, 3, n);
    const mean = (xs: Float64Array): number => xs.reduce((s, v) => s + v, 0) / xs.length;
    const uu = u?.data ?? new Float64Array();
    const zz = z?.data ?? new Float64Array();
    expect(Math.min(...uu)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...uu)).toBeLessThan(1);
    // Standard errors: uniform mean 0.002, normal mean 0.007, normal variance 0.01; bounds at about 5 sigma.
    expect(Math.abs(mean(uu) - 0.5)).toBeLessThan(0.01);
    expect(Math.abs(mean(zz))).toBeLessThan(0.035);
    expect(Math.abs(mean(zz.map((v) => v * v)) - 1)).toBeLessThan(0.05);
    expect([...(p?.data ?? [])].sort((a, b) => a - b)).toEqual(Array.from({ length: n }, (_, i) => i));
  });
});
