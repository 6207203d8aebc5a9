/**
 * One row per builtin: a call with concrete argument types and the result type its shape rule must give, plus the
 * coded failures of the rules that can fail. The table is keyed by builtin name, so a builtin without a row fails.
 */
import { describe, expect, test } from 'vitest';
import { BUILTIN_NAMES, BUILTINS, type BuiltinName, type CallArgs } from '../../compiler/semantic/builtins.js';
import { type Attr, isTupleType } from '../../compiler/semantic/elaborated.js';
import { type DType, shape, type TensorType, typeToString } from '../../compiler/types/shape.js';

function T(dtype: DType, dims: (number | string)[]): TensorType {
  return { dtype, shape: shape(dims) };
}
const f = (...dims: (number | string)[]): TensorType => T('f32', dims);
const i32 = (...dims: (number | string)[]): TensorType => T('i32', dims);
const int = (value: number): Attr => ({ kind: 'int', value });
const ints = (...values: number[]): Attr => ({ kind: 'list', items: values.map((value) => ({ kind: 'int', value })) });
const shp = (...dims: (number | string)[]): Attr => ({ kind: 'shape', shape: shape(dims) });

interface Row {
  readonly tensors?: Record<string, TensorType>;
  readonly lists?: Record<string, TensorType[]>;
  readonly attrs?: Record<string, Attr>;
  /** The result type, or a diagnostic code for a failing call. */
  readonly expect: string;
}

const BIN = { a: f('B', 4, 1), b: f(3) };
const ROWS: Record<BuiltinName, readonly Row[]> = {
  add: [
    { tensors: BIN, expect: 'f32[B, 4, 3]' },
    { tensors: { a: f('B', 4), b: f(3) }, expect: 'VT3002' },
  ],
  sub: [
    { tensors: BIN, expect: 'f32[B, 4, 3]' },
    { tensors: { a: f(2), b: i32(2) }, expect: 'VT3007' },
  ],
  mul: [{ tensors: BIN, expect: 'f32[B, 4, 3]' }],
  div: [{ tensors: BIN, expect: 'f32[B, 4, 3]' }],
  pow: [{ tensors: BIN, expect: 'f32[B, 4, 3]' }],
  maximum: [{ tensors: BIN, expect: 'f32[B, 4, 3]' }],
  minimum: [{ tensors: BIN, expect: 'f32[B, 4, 3]' }],
  eq: [{ tensors: { a: i32('B'), b: i32('B') }, expect: 'bool[B]' }],
  ne: [{ tensors: BIN, expect: 'bool[B, 4, 3]' }],
  lt: [{ tensors: BIN, expect: 'bool[B, 4, 3]' }],
  le: [{ tensors: BIN, expect: 'bool[B, 4, 3]' }],
  gt: [{ tensors: BIN, expect: 'bool[B, 4, 3]' }],
  ge: [{ tensors: BIN, expect: 'bool[B, 4, 3]' }],
  where: [
    { tensors: { cond: T('bool', ['B', 1]), a: f('B', 3), b: f(3) }, expect: 'f32[B, 3]' },
    { tensors: { cond: f(3), a: f(3), b: f(3) }, expect: 'VT3007' },
  ],
  neg: [{ tensors: { x: i32(2) }, expect: 'i32[2]' }],
  exp: [
    { tensors: { x: f('B') }, expect: 'f32[B]' },
    { tensors: { x: i32(2) }, expect: 'VT3007' },
  ],
  log: [{ tensors: { x: f(2) }, expect: 'f32[2]' }],
  sqrt: [{ tensors: { x: f(2) }, expect: 'f32[2]' }],
  rsqrt: [{ tensors: { x: f(2) }, expect: 'f32[2]' }],
  tanh: [{ tensors: { x: f(2) }, expect: 'f32[2]' }],
  erf: [{ tensors: { x: f(2) }, expect: 'f32[2]' }],
  gelu: [
    { tensors: { x: f('B', 8) }, attrs: { approximate: { kind: 'string', value: 'tanh' } }, expect: 'f32[B, 8]' },
    { tensors: { x: f('B', 8) }, attrs: { approximate: { kind: 'string', value: 'fast' } }, expect: 'VT3001' },
  ],

  relu: [{ tensors: { x: f(2) }, expect: 'f32[2]' }],
  sigmoid: [{ tensors: { x: f(2) }, expect: 'f32[2]' }],
  abs: [{ tensors: { x: i32(2) }, expect: 'i32[2]' }],
  sum: [
    {
      tensors: { x: f('B', 4, 5) },
      attrs: { axis: ints(-1), keepdim: { kind: 'bool', value: true } },
      expect: 'f32[B, 4, 1]',
    },
    { tensors: { x: f('B', 4) }, attrs: { axis: ints(), keepdim: { kind: 'bool', value: false } }, expect: 'f32[]' },
    { tensors: { x: f(4) }, attrs: { axis: ints(2) }, expect: 'VT3005' },
  ],
  mean: [{ tensors: { x: f('B', 4, 5) }, attrs: { axis: ints(0, 2) }, expect: 'f32[4]' }],
  max: [{ tensors: { x: f('B', 4) }, attrs: { axis: int(1) }, expect: 'f32[B]' }],
  logsumexp: [{ tensors: { x: f('B', 4) }, attrs: { axis: int(-1) }, expect: 'f32[B]' }],
  softmax: [
    { tensors: { x: f('B', 4) }, attrs: { axis: int(-1) }, expect: 'f32[B, 4]' },
    { tensors: { x: f(4) }, attrs: { axis: int(1) }, expect: 'VT3005' },
  ],
  layer_norm: [
    {
      tensors: { x: f('B', 'N', 8), weight: f(8), bias: f(8) },
      attrs: { eps: { kind: 'float', value: 1e-6 } },
      expect: 'f32[B, N, 8]',
    },
    { tensors: { x: f('B', 8), weight: f(4), bias: f(8) }, expect: 'VT3002' },
  ],
  matmul: [
    { tensors: { a: f('B', 12, 'N', 64), b: f('B', 12, 64, 'N') }, expect: 'f32[B, 12, N, N]' },
    { tensors: { a: f('B', 3), b: f(4, 5) }, expect: 'VT3003' },
  ],
  reshape: [
    { tensors: { x: f('B', 196, 768) }, attrs: { shape: shp('B', 14, 14, 768) }, expect: 'f32[B, 14, 14, 768]' },
    {
      tensors: { x: f('B', 6) },
      attrs: { shape: { kind: 'shape', shape: [...shape(['B', 2]), { coeff: 0, syms: [] }] } },
      expect: 'f32[B, 2, 3]',
    },
    { tensors: { x: f('B', 6) }, attrs: { shape: shp('B', 4) }, expect: 'VT3006' },
  ],
  transpose: [{ tensors: { x: f('B', 3, 4) }, attrs: { dim0: int(-2), dim1: int(-1) }, expect: 'f32[B, 4, 3]' }],
  permute: [
    { tensors: { x: f('B', 3, 4) }, attrs: { axes: ints(2, 0, 1) }, expect: 'f32[4, B, 3]' },
    { tensors: { x: f('B', 3, 4) }, attrs: { axes: ints(0, 0, 1) }, expect: 'VT3005' },
  ],
  broadcast: [
    { tensors: { x: f(1, 1, 8) }, attrs: { shape: shp('B', 1, 8) }, expect: 'f32[B, 1, 8]' },
    { tensors: { x: f(2, 8) }, attrs: { shape: shp('B', 3, 8) }, expect: 'VT3002' },
  ],
  concat: [
    { lists: { xs: [f('B', 1, 8), f('B', 196, 8)] }, attrs: { axis: int(1) }, expect: 'f32[B, 197, 8]' },
    { lists: { xs: [f('B', 8), f('B', 8)] }, attrs: { axis: int(0) }, expect: 'f32[2*B, 8]' },
    { lists: { xs: [f('B', 8), f('N', 8)] }, attrs: { axis: int(0) }, expect: 'VT3015' },
    { lists: { xs: [f('B', 8), f('B', 4)] }, attrs: { axis: int(0) }, expect: 'VT3012' },
  ],
  split: [
    { tensors: { x: f('B', 6) }, attrs: { parts: int(3), axis: int(1) }, expect: '(f32[B, 2], f32[B, 2], f32[B, 2])' },
    { tensors: { x: f('B', 6) }, attrs: { parts: int(4), axis: int(1) }, expect: 'VT3012' },
  ],
  slice: [
    {
      tensors: { x: f('B', 10) },
      attrs: { axis: int(1), start: int(1), stop: int(8), step: int(3) },
      expect: 'f32[B, 3]',
    },
    {
      tensors: { x: f('B', 10) },
      attrs: { axis: int(0), start: int(0), stop: int(1), step: int(1) },
      expect: 'VT3015',
    },
  ],
  gather: [
    { tensors: { x: f('B', 8, 4), indices: i32(8) }, attrs: { axis: int(1) }, expect: 'f32[B, 8, 4]' },
    { tensors: { x: f(4), indices: f(2) }, attrs: { axis: int(0) }, expect: 'VT3007' },
  ],
  take: [{ tensors: { x: f(10, 4), indices: i32('B', 3) }, attrs: { axis: int(0) }, expect: 'f32[B, 3, 4]' }],
  scatter_add: [
    {
      tensors: { target: f('B', 8, 4), indices: i32(8), src: f('B', 8, 4) },
      attrs: { axis: int(1) },
      expect: 'f32[B, 8, 4]',
    },
    {
      tensors: { target: f('B', 8, 4), indices: i32(8), src: f('B', 4, 4) },
      attrs: { axis: int(1) },
      expect: 'VT3002',
    },
  ],
  one_hot: [{ tensors: { x: i32('B') }, attrs: { classes: int(10) }, expect: 'f32[B, 10]' }],
  argmax: [{ tensors: { x: f('B', 10) }, attrs: { axis: int(-1) }, expect: 'i32[B]' }],
  top_k: [
    { tensors: { x: f('B', 'N', 4) }, attrs: { k: int(2), axis: int(-1) }, expect: '(f32[B, N, 2], i32[B, N, 2])' },
    { tensors: { x: f('B', 4) }, attrs: { k: int(5), axis: int(-1) }, expect: 'VT3009' },
  ],
  uniform: [{ attrs: { shape: shp(2, 3) }, expect: 'f32[2, 3]' }],
  normal: [{ attrs: { shape: shp('B', 3) }, expect: 'f32[B, 3]' }],
  permutation: [
    { attrs: { n: int(196) }, expect: 'i32[196]' },
    { attrs: { n: int(0) }, expect: 'VT3010' },
  ],
  inverse_permutation: [
    { tensors: { x: i32(7) }, expect: 'i32[7]' },
    { tensors: { x: i32('N') }, expect: 'VT3007' },
    { tensors: { x: f(7) }, expect: 'VT3007' },
  ],
  cast: [{ tensors: { x: i32('B') }, attrs: { dtype: { kind: 'dtype', dtype: 'f16' } }, expect: 'f16[B]' }],
  stop_gradient: [{ tensors: { x: f('B') }, expect: 'f32[B]' }],
  cross_entropy: [
    {
      tensors: { logits: f('B', 10), labels: i32('B') },
      attrs: { label_smoothing: { kind: 'float', value: 0.1 } },
      expect: 'f32[]',
    },
    {
      tensors: { logits: f('B', 10), labels: i32('B', 10) },
      attrs: { label_smoothing: { kind: 'float', value: 0 } },
      expect: 'VT3002',
    },
  ],
  l2_normalize: [{ tensors: { x: f('B', 8) }, expect: 'f32[B, 8]' }],
  cosine_similarity: [{ tensors: { a: f('B', 4, 8), b: f(4, 8) }, attrs: { axis: int(-1) }, expect: 'f32[B, 4]' }],
  mean_of: [
    { lists: { xs: [f(2, 3), f(2, 3), f(2, 3)] }, expect: 'f32[2, 3]' },
    { lists: { xs: [f(2, 3), f(3, 2)] }, expect: 'VT3002' },
  ],
  sum_of: [{ lists: { xs: [f('B'), f('B')] }, expect: 'f32[B]' }],
};

function call(name: BuiltinName, row: Row): string {
  const spec = BUILTINS[name];
  const attrs: Record<string, Attr> = {};
  for (const p of spec.params) if (p.default !== undefined) attrs[p.name] = p.default;
  Object.assign(attrs, row.attrs ?? {});
  const args: CallArgs = {
    tensors: new Map(Object.entries(row.tensors ?? {})),
    lists: new Map(Object.entries(row.lists ?? {})),
    attrs,
  };
  const r = spec.infer(args);
  if (!r.ok) return r.code;
  return isTupleType(r.type) ? `(${r.type.tuple.map(typeToString).join(', ')})` : typeToString(r.type);
}

describe('builtin shape rules', () => {
  test('every builtin has rows', () => {
    for (const name of BUILTIN_NAMES) expect(ROWS[name].length, name).toBeGreaterThan(0);
  });
  test.each(BUILTIN_NAMES.flatMap((name) => ROWS[name].map((row, i) => [`${name} #${i}`, name, row] as const)))(
    '%s',
    (_, name, row) => {
      expect(call(name, row)).toBe(row.expect);
    },
  );
});
