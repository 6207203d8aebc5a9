import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  broadcastShapes,
  dim,
  dimEquals,
  dimToString,
  divDim,
  evalDim,
  evalShape,
  mulDim,
  numel,
  shape,
  shapeToString,
  sym,
  type Dim,
} from '../../compiler/types/shape.js';

const symbols = ['B', 'N', 'H'] as const;
const arbDim: fc.Arbitrary<Dim> = fc
  .tuple(fc.integer({ min: 1, max: 64 }), fc.array(fc.constantFrom(...symbols), { maxLength: 3 }))
  .map(([coeff, syms]) => ({ coeff, syms: [...syms].sort() }));
const arbValues = fc.record({
  B: fc.integer({ min: 1, max: 9 }),
  N: fc.integer({ min: 1, max: 9 }),
  H: fc.integer({ min: 1, max: 9 }),
});

describe('dimensions', () => {
  it('print as integers times symbol products', () => {
    expect(dimToString(dim(768))).toBe('768');
    expect(dimToString(mulDim(sym('N'), mulDim(dim(4), sym('B'))))).toBe('4*B*N');
    expect(dimToString(mulDim(sym('B'), sym('B')))).toBe('B^2');
    expect(shapeToString(shape(['B', 197, 768]))).toBe('[B, 197, 768]');
  });

  it('multiply and divide consistently with their values', () => {
    fc.assert(
      fc.property(arbDim, arbDim, arbValues, (a, b, values) => {
        const product = mulDim(a, b);
        expect(evalDim(product, values)).toBe(evalDim(a, values) * evalDim(b, values));
        const back = divDim(product, b);
        expect(back && dimEquals(back, a)).toBe(true);
      }),
    );
  });

  it('divide only when exact', () => {
    expect(divDim(dim(768), dim(12))).toEqual(dim(64));
    expect(divDim(dim(10), dim(4))).toBeUndefined();
    expect(divDim(sym('B'), sym('N'))).toBeUndefined();
    expect(divDim(mulDim(sym('B'), dim(197)), dim(197))).toEqual(sym('B'));
  });

  it('count elements', () => {
    expect(evalDim(numel(shape(['B', 197, 768])), { B: 2 })).toBe(2 * 197 * 768);
    expect(evalShape(shape(['B', 3]), { B: 5 })).toEqual([5, 3]);
    expect(() => evalDim(sym('Q'), {})).toThrow(/'Q'/);
  });
});

describe('broadcasting', () => {
  it('follows NumPy on concrete shapes', () => {
    const arbShape = fc.array(fc.constantFrom(1, 2, 3), { maxLength: 4 });
    fc.assert(
      fc.property(arbShape, arbShape, (a, b) => {
        const rank = Math.max(a.length, b.length);
        const pa = [...Array<number>(rank - a.length).fill(1), ...a];
        const pb = [...Array<number>(rank - b.length).fill(1), ...b];
        const ok = pa.every((x, i) => x === pb[i] || x === 1 || pb[i] === 1);
        const result = broadcastShapes(shape(a), shape(b));
        expect(result.ok).toBe(ok);
        if (result.ok) expect(evalShape(result.shape, {})).toEqual(pa.map((x, i) => Math.max(x, pb[i] ?? 1)));
      }),
    );
  });

  it('lets a symbol agree only with itself or 1, and names the failing axis', () => {
    expect(broadcastShapes(shape(['B', 1, 64]), shape([197, 1]))).toEqual({ ok: true, shape: shape(['B', 197, 64]) });
    expect(broadcastShapes(shape(['B', 64]), shape([3, 64]))).toEqual({ ok: false, axis: 0 });
    expect(broadcastShapes(shape([2, 3]), shape([4]))).toEqual({ ok: false, axis: 1 });
  });
});
