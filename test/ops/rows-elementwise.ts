/** Op-table rows of the elementwise ops and the sources. */

import fc from 'fast-check';
import type { GraphBuilder } from '../../compiler/ir/builder.js';
import type { Value } from '../../compiler/ir/graph.js';
import { erfSeries, generate, map, sizeOf, type Nd } from './numpy.js';
import {
  arbAwayFromZero,
  arbBroadcastShapes,
  arbShape,
  arbValues,
  dataInput,
  nd,
  param,
  type Instance,
  type Row,
} from './row.js';

const at = (vs: readonly Value[], i: number): Value => vs[i] as Value;

/** A row for a unary op with values drawn by `values(n)`. */
function unaryRow(
  name: string,
  build: (b: GraphBuilder, x: Value) => Value,
  f: (x: number) => number,
  values: (n: number) => fc.Arbitrary<number[]> = (n) => arbValues(n),
  gradient = true,
): Row {
  return {
    name,
    gradient,
    cases: arbShape()
      .chain((s) => values(sizeOf(s)).map((d) => param('x', s, d)))
      .map((x): Instance => ({
        inputs: [x],
        build: (b, vs) => build(b, at(vs, 0)),
        expected: () => map(f, nd(x)),
      })),
  };
}

/** A row for a broadcasting binary op; `values` draws each operand's values. */
function binaryRow(
  name: string,
  build: (b: GraphBuilder, x: Value, y: Value) => Value,
  f: (x: number, y: number) => number,
  options: {
    values?: [(n: number) => fc.Arbitrary<number[]>, (n: number) => fc.Arbitrary<number[]>];
    gradient?: boolean;
    /** Rejects drawn cases (e.g. near-ties of maximum). */
    accept?: (x: Nd, y: Nd) => boolean;
  } = {},
): Row {
  const [vx, vy] = options.values ?? [(n: number) => arbValues(n), (n: number) => arbValues(n)];
  const gradient = options.gradient ?? true;
  const role = gradient ? param : (n: string, s: readonly number[], d: readonly number[]) => dataInput(n, s, d);
  return {
    name,
    gradient,
    cases: arbBroadcastShapes(2)
      .chain(([sx, sy]) =>
        fc
          .tuple(vx(sizeOf(sx as number[])), vy(sizeOf(sy as number[])))
          .map(([dx, dy]) => [role('x', sx as number[], dx), role('y', sy as number[], dy)]),
      )
      .filter(([x, y]) => options.accept?.(nd(x as never), nd(y as never)) ?? true)
      .map(([x, y]): Instance => ({
        inputs: [x as never, y as never],
        build: (b, vs) => build(b, at(vs, 0), at(vs, 1)),
        expected: () => map(f, nd(x as never), nd(y as never)),
      })),
  };
}

const positive = (n: number): fc.Arbitrary<number[]> => arbValues(n, 0.1, 3);
const awayFromZero = (n: number): fc.Arbitrary<number[]> => arbAwayFromZero(n, 0.5, 2);
const farApart = (x: Nd, y: Nd): boolean => map((a, b) => Math.abs(a - b), x, y).data.every((d) => d > 0.05);
const phi = (x: number): number => 0.5 * (1 + erfSeries(x / Math.SQRT2));
const integers = (n: number): fc.Arbitrary<number[]> =>
  fc.array(fc.integer({ min: -3, max: 3 }), { minLength: n, maxLength: n });

export const elementwiseRows: readonly Row[] = [
  unaryRow(
    'neg',
    (b, x) => b.neg(x),
    (x) => -x,
  ),
  unaryRow('exp', (b, x) => b.exp(x), Math.exp),
  unaryRow('log', (b, x) => b.log(x), Math.log, positive),
  unaryRow('sqrt', (b, x) => b.sqrt(x), Math.sqrt, positive),
  unaryRow(
    'rsqrt',
    (b, x) => b.rsqrt(x),
    (x) => x ** -0.5,
    positive,
  ),
  unaryRow(
    'tanh',
    (b, x) => b.tanh(x),
    (x) => (Math.exp(2 * x) - 1) / (Math.exp(2 * x) + 1),
    (n) => arbValues(n, -3, 3),
  ),
  unaryRow(
    'erf',
    (b, x) => b.erf(x),
    erfSeries,
    (n) => arbValues(n, -3, 3),
  ),
  // acos' is -1/sqrt(1 - x^2): values stay inside (-0.9, 0.9), away from the infinite slopes at +-1.
  unaryRow(
    'acos',
    (b, x) => b.acos(x),
    (x) => Math.PI / 2 - Math.atan(x / Math.sqrt(1 - x * x)),
    (n) => arbValues(n, -0.9, 0.9),
  ),
  unaryRow(
    'gelu',
    (b, x) => b.gelu(x),
    (x) => x * phi(x),
    (n) => arbValues(n, -3, 3),
  ),
  unaryRow(
    'gelu',
    (b, x) => b.gelu(x, 'tanh'),
    (x) => 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3))),
    (n) => arbValues(n, -3, 3),
  ),
  unaryRow(
    'gelu_grad',
    (b, x) => b.geluGrad(x),
    (x) => phi(x) + (x * Math.exp(-0.5 * x * x)) / Math.sqrt(2 * Math.PI),
    (n) => arbValues(n, -4, 4),
  ),
  unaryRow(
    'gelu_grad',
    (b, x) => b.geluGrad(x, 'tanh'),
    (x) => {
      const c = Math.sqrt(2 / Math.PI);
      const t = Math.tanh(c * (x + 0.044715 * x ** 3));
      return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * c * (1 + 3 * 0.044715 * x * x);
    },
    (n) => arbValues(n, -4, 4),
  ),
  unaryRow(
    'relu',
    (b, x) => b.relu(x),
    (x) => (x < 0 ? 0 : x),
    (n) => arbAwayFromZero(n),
  ),
  unaryRow(
    'sigmoid',
    (b, x) => b.sigmoid(x),
    (x) => 1 / (1 + Math.exp(-x)),
    (n) => arbValues(n, -5, 5),
  ),
  unaryRow(
    'abs',
    (b, x) => b.abs(x),
    (x) => (x < 0 ? -x : x),
    (n) => arbAwayFromZero(n),
  ),
  unaryRow(
    'cast',
    (b, x) => b.cast(x, 'f16'),
    (x) => x,
  ),
  unaryRow(
    'cast',
    (b, x) => b.cast(x, 'i32'),
    (x) => (x < 0 ? Math.ceil(x) : Math.floor(x)),
    (n) => arbValues(n, -5, 5),
    false,
  ),
  unaryRow(
    'stop_gradient',
    (b, x) => b.stopGradient(x),
    (x) => x,
    (n) => arbValues(n),
    false,
  ),
  binaryRow(
    'add',
    (b, x, y) => b.add(x, y),
    (x, y) => x + y,
  ),
  binaryRow(
    'sub',
    (b, x, y) => b.sub(x, y),
    (x, y) => x - y,
  ),
  binaryRow(
    'mul',
    (b, x, y) => b.mul(x, y),
    (x, y) => x * y,
  ),
  binaryRow(
    'div',
    (b, x, y) => b.div(x, y),
    (x, y) => x / y,
    { values: [(n) => arbValues(n), awayFromZero] },
  ),
  binaryRow(
    'pow',
    (b, x, y) => b.pow(x, y),
    (x, y) => Math.exp(y * Math.log(x)),
    {
      values: [(n) => arbValues(n, 0.5, 2), (n) => arbValues(n, -2, 2)],
    },
  ),
  binaryRow(
    'maximum',
    (b, x, y) => b.maximum(x, y),
    (x, y) => (x > y ? x : y),
    { accept: farApart },
  ),
  binaryRow(
    'minimum',
    (b, x, y) => b.minimum(x, y),
    (x, y) => (x < y ? x : y),
    { accept: farApart },
  ),
  binaryRow(
    'less',
    (b, x, y) => b.less(x, y),
    (x, y) => Number(x < y),
    { values: [integers, integers], gradient: false },
  ),
  binaryRow(
    'less_equal',
    (b, x, y) => b.lessEqual(x, y),
    (x, y) => Number(x <= y),
    {
      values: [integers, integers],
      gradient: false,
    },
  ),
  binaryRow(
    'greater',
    (b, x, y) => b.greater(x, y),
    (x, y) => Number(x > y),
    {
      values: [integers, integers],
      gradient: false,
    },
  ),
  binaryRow(
    'greater_equal',
    (b, x, y) => b.greaterEqual(x, y),
    (x, y) => Number(x >= y),
    {
      values: [integers, integers],
      gradient: false,
    },
  ),
  binaryRow(
    'equal',
    (b, x, y) => b.equal(x, y),
    (x, y) => Number(x === y),
    { values: [integers, integers], gradient: false },
  ),
  binaryRow(
    'not_equal',
    (b, x, y) => b.notEqual(x, y),
    (x, y) => Number(x !== y),
    {
      values: [integers, integers],
      gradient: false,
    },
  ),
  {
    name: 'where',
    gradient: true,
    cases: arbBroadcastShapes(3)
      .chain(([sc, sx, sy]) =>
        fc
          .tuple(
            fc.array(fc.boolean(), { minLength: sizeOf(sc as number[]), maxLength: sizeOf(sc as number[]) }),
            arbValues(sizeOf(sx as number[])),
            arbValues(sizeOf(sy as number[])),
          )
          .map(([c, x, y]) => [
            dataInput('c', sc as number[], c.map(Number), 'bool'),
            param('x', sx as number[], x),
            param('y', sy as number[], y),
          ]),
      )
      .map(([c, x, y]): Instance => ({
        inputs: [c as never, x as never, y as never],
        build: (b, vs) => b.where(at(vs, 0), at(vs, 1), at(vs, 2)),
        expected: () => map((k, p, q) => (k === 1 ? p : q), nd(c as never), nd(x as never), nd(y as never)),
      })),
  },
  {
    name: 'add_n',
    gradient: true,
    cases: fc
      .tuple(arbShape(), fc.integer({ min: 1, max: 4 }))
      .chain(([s, n]) =>
        fc
          .array(arbValues(sizeOf(s)), { minLength: n, maxLength: n })
          .map((ds) => ds.map((d, i) => param(`x${i}`, s, d))),
      )
      .map((xs): Instance => ({
        inputs: xs,
        build: (b, vs) => b.addN(vs),
        expected: () => map((...v) => v.reduce((p, q) => p + q, 0), ...xs.map(nd)),
      })),
  },
  {
    name: 'composite:meanN',
    gradient: true,
    cases: fc
      .tuple(arbShape(), fc.integer({ min: 1, max: 4 }))
      .chain(([s, n]) =>
        fc
          .array(arbValues(sizeOf(s)), { minLength: n, maxLength: n })
          .map((ds) => ds.map((d, i) => param(`x${i}`, s, d))),
      )
      .map((xs): Instance => ({
        inputs: xs,
        build: (b, vs) => b.meanN(vs),
        expected: () => map((...v) => v.reduce((p, q) => p + q, 0) / v.length, ...xs.map(nd)),
      })),
  },
  {
    name: 'full',
    gradient: false,
    cases: fc.tuple(arbShape(), fc.double({ min: -5, max: 5, noNaN: true })).map(([s, v]): Instance => ({
      inputs: [],
      build: (b) => b.full(v, s),
      expected: () => generate(s, () => v),
    })),
  },
  {
    name: 'constant',
    gradient: false,
    cases: arbShape()
      .chain((s) => arbValues(sizeOf(s)).map((d) => [s, d] as const))
      .map(([s, d]): Instance => ({
        inputs: [],
        build: (b) => b.constant(d, s),
        expected: () => ({ shape: s, data: d }),
      })),
  },
  {
    name: 'dim_size',
    gradient: false,
    cases: fc.integer({ min: 1, max: 50 }).map((n): Instance => ({
      inputs: [],
      build: (b) => b.dimSize({ coeff: n, syms: [] }),
      expected: () => ({ shape: [], data: [n] }),
    })),
  },
];
