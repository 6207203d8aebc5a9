/**
 * The tensor builtins callable from forward bodies: for each name its parameters (tensors first, then compile-time
 * attributes, with defaults) and its shape rule. The table is typed over `BuiltinName`, so a builtin cannot exist
 * without its signature and rule. The names mirror the IR's ops; operators desugar to them (`+` add, `@` matmul, `<`
 * lt, unary `-` neg).
 */
import {
  dim,
  dimEquals,
  dimToString,
  divDim,
  type Dim,
  shapeToString,
  type TensorType,
  typeToString,
} from '../types/shape.js';
import {
  A,
  B,
  BOOL,
  type BuiltinSpec,
  elementwise,
  F,
  gatherLike,
  I,
  int,
  ints,
  matmul,
  num,
  ok,
  random,
  reduced,
  reduction,
  reshape,
  shapeAttr,
  t,
  transpose,
  unary,
  variadicSame,
  X,
} from './builtin-rules.js';
import {
  broadcastAll,
  fail,
  isError,
  normAxis,
  requireFloat,
  requireInt,
  sameDtype,
  sameExcept,
  sumDims,
} from './shape-rules.js';

export type { ArgKind, ArgSpec, BuiltinSpec, CallArgs, InferResult } from './builtin-rules.js';

export const BUILTIN_NAMES = [
  'add',
  'sub',
  'mul',
  'div',
  'pow',
  'maximum',
  'minimum',
  'eq',
  'ne',
  'lt',
  'le',
  'gt',
  'ge',
  'where',
  'neg',
  'exp',
  'log',
  'sqrt',
  'rsqrt',
  'tanh',
  'erf',
  'gelu',
  'relu',
  'sigmoid',
  'abs',
  'sum',
  'mean',
  'max',
  'logsumexp',
  'softmax',
  'layer_norm',
  'matmul',
  'reshape',
  'transpose',
  'permute',
  'broadcast',
  'concat',
  'split',
  'slice',
  'gather',
  'take',
  'scatter_add',
  'one_hot',
  'argmax',
  'top_k',
  'uniform',
  'normal',
  'permutation',
  'inverse_permutation',
  'cast',
  'stop_gradient',
  'cross_entropy',
  'l2_normalize',
  'cosine_similarity',
  'mean_of',
  'sum_of',
] as const;

export type BuiltinName = (typeof BUILTIN_NAMES)[number];

export const BUILTINS: Readonly<Record<BuiltinName, BuiltinSpec>> = {
  add: elementwise(false),
  sub: elementwise(false),
  mul: elementwise(false),
  div: elementwise(false),
  pow: elementwise(false),
  maximum: elementwise(false),
  minimum: elementwise(false),
  eq: elementwise(true),
  ne: elementwise(true),
  lt: elementwise(true),
  le: elementwise(true),
  gt: elementwise(true),
  ge: elementwise(true),
  where: {
    params: [{ name: 'cond', kind: 'tensor' }, A, B],
    doc: 'cond ? a : b elementwise, with broadcasting',
    infer: (a) => {
      if (t(a, 'cond').dtype !== 'bool')
        return fail('VT3007', `the condition must be bool, got ${typeToString(t(a, 'cond'))}`, 'cond');
      const dtype = sameDtype([t(a, 'a'), t(a, 'b')], ['a', 'b']);
      if (isError(dtype)) return dtype;
      const shape = broadcastAll([t(a, 'cond'), t(a, 'a'), t(a, 'b')], ['cond', 'a', 'b']);
      return isError(shape) ? shape : ok({ dtype, shape });
    },
  },
  neg: unary(false, 'negation, -x'),
  exp: unary(true, 'e^x'),
  log: unary(true, 'natural logarithm'),
  sqrt: unary(true, 'square root'),
  rsqrt: unary(true, '1 / sqrt(x)'),
  tanh: unary(true, 'hyperbolic tangent'),
  erf: unary(true, 'the error function'),
  gelu: {
    params: [X, { name: 'approximate', kind: 'string', default: { kind: 'string', value: 'none' } }],
    doc: 'GELU: exact (erf) by default, approximate: "tanh" for the tanh form',
    infer: (a) => {
      const x = t(a, 'x');
      const mode = a.attrs.approximate;
      if (mode?.kind === 'string' && mode.value !== 'none' && mode.value !== 'tanh') {
        return fail('VT3001', `approximate must be "none" (exact, erf) or "tanh", got "${mode.value}"`, 'approximate');
      }
      return requireFloat(x, 'x') ?? ok(x);
    },
  },
  relu: unary(false, 'max(x, 0)'),
  sigmoid: unary(true, '1 / (1 + e^-x)'),
  abs: unary(false, '|x|'),
  sum: reduction('sum over axes (all when none given)', false),
  mean: reduction('mean over axes (all when none given)', true),
  max: reduction('maximum over axes (all when none given)', false),
  logsumexp: reduction('log(sum(exp(x))) over axes, computed stably', true),
  softmax: {
    params: [X, { name: 'axis', kind: 'int', default: I(-1) }],
    doc: 'softmax along one axis',
    infer: (a) => {
      const x = t(a, 'x');
      const err = requireFloat(x, 'x');
      if (err) return err;
      const ax = normAxis(int(a, 'axis'), x.shape.length);
      return isError(ax) ? ax : ok(x);
    },
  },
  layer_norm: {
    params: [
      X,
      { name: 'weight', kind: 'tensor' },
      { name: 'bias', kind: 'tensor' },
      { name: 'eps', kind: 'float', default: F(1e-5) },
    ],
    doc: 'layer normalisation over the last axis, then * weight + bias (both shaped like the last axis)',
    infer: (a) => {
      const x = t(a, 'x');
      const err = requireFloat(x, 'x');
      if (err) return err;
      const last = x.shape[x.shape.length - 1];
      if (last === undefined) return fail('VT3005', 'layer_norm needs a tensor of rank >= 1', 'x');
      for (const p of ['weight', 'bias']) {
        const w = t(a, p);
        if (w.shape.length !== 1 || !dimEquals(w.shape[0] as Dim, last))
          return fail('VT3002', `${p} must be ${shapeToString([last])}, got ${shapeToString(w.shape)}`, p);
      }
      return ok(x);
    },
  },
  matmul: {
    params: [A, B],
    doc: 'batched matrix product [..., m, k] @ [..., k, n] -> [..., m, n]',
    infer: (a) => matmul(t(a, 'a'), t(a, 'b')),
  },
  reshape: {
    params: [X, { name: 'shape', kind: 'shape' }],
    doc: 'same elements, new shape (one axis may be -1)',
    infer: (a) => {
      const v = a.attrs.shape;
      const minusOne = v?.kind === 'shape' ? v.shape.findIndex((d) => d.coeff === 0) : -1;
      return reshape(t(a, 'x'), shapeAttr(a, 'shape'), minusOne);
    },
  },
  transpose: {
    params: [X, { name: 'dim0', kind: 'int', default: I(-2) }, { name: 'dim1', kind: 'int', default: I(-1) }],
    doc: 'swap two axes (the last two by default)',
    infer: (a) => transpose(t(a, 'x'), int(a, 'dim0'), int(a, 'dim1')),
  },
  permute: {
    params: [X, { name: 'axes', kind: 'ints' }],
    doc: 'reorder axes: result axis i is input axis axes[i]',
    infer: (a) => {
      const x = t(a, 'x');
      const axes = ints(a, 'axes') ?? [];
      const seen = new Set(axes.map((ax) => (ax < 0 ? ax + x.shape.length : ax)));
      if (
        axes.length !== x.shape.length ||
        seen.size !== axes.length ||
        [...seen].some((ax) => ax < 0 || ax >= x.shape.length)
      ) {
        return fail(
          'VT3005',
          `[${axes.join(', ')}] is not a permutation of the ${x.shape.length} axes of ${typeToString(x)}`,
          'axes',
        );
      }
      return ok({ dtype: x.dtype, shape: [...seen].map((ax) => x.shape[ax] as Dim) });
    },
  },
  broadcast: {
    params: [X, { name: 'shape', kind: 'shape' }],
    doc: 'broadcast to a shape (NumPy rules)',
    infer: (a) => {
      const x = t(a, 'x');
      const target = shapeAttr(a, 'shape');
      const s = broadcastAll([x, { dtype: x.dtype, shape: target }], ['x', 'shape']);
      if (isError(s) || s.length !== target.length || !s.every((d, i) => dimEquals(d, target[i] as Dim))) {
        return fail('VT3002', `cannot broadcast ${typeToString(x)} to ${shapeToString(target)}`, 'shape');
      }
      return ok({ dtype: x.dtype, shape: target });
    },
  },
  concat: {
    params: [
      { name: 'xs', kind: 'tensors' },
      { name: 'axis', kind: 'int', default: I(0) },
    ],
    doc: 'join tensors along an axis; other axes must agree',
    infer: (a) => {
      const xs = a.lists.get('xs') ?? [];
      const first = xs[0];
      if (first === undefined) return fail('VT3012', 'concat needs at least one tensor', 'xs');
      const ax = normAxis(int(a, 'axis'), first.shape.length);
      if (isError(ax)) return ax;
      const dtype = sameDtype(
        xs,
        xs.map(() => 'xs'),
      );
      if (isError(dtype)) return dtype;
      for (const x of xs) {
        if (!sameExcept(first.shape, x.shape, ax))
          return fail('VT3012', `cannot concat ${typeToString(first)} and ${typeToString(x)} along axis ${ax}`, 'xs');
      }
      const size = sumDims(xs.map((x) => x.shape[ax] as Dim));
      if (isError(size)) return size;
      return ok({ dtype, shape: first.shape.map((d, i) => (i === ax ? size : d)) });
    },
  },
  split: {
    params: [X, { name: 'parts', kind: 'int' }, { name: 'axis', kind: 'int', default: I(0) }],
    doc: 'split into `parts` equal pieces along an axis; a tuple',
    infer: (a) => {
      const x = t(a, 'x');
      const ax = normAxis(int(a, 'axis'), x.shape.length);
      if (isError(ax)) return ax;
      const parts = int(a, 'parts');
      const piece = parts > 0 ? divDim(x.shape[ax] as Dim, dim(parts)) : undefined;
      if (piece === undefined)
        return fail('VT3012', `cannot split axis ${ax} of ${typeToString(x)} into ${parts} equal parts`, 'parts');
      const one: TensorType = { dtype: x.dtype, shape: x.shape.map((d, i) => (i === ax ? piece : d)) };
      return ok({ tuple: Array.from({ length: parts }, () => one) });
    },
  },
  slice: {
    params: [
      X,
      { name: 'axis', kind: 'int' },
      { name: 'start', kind: 'int' },
      { name: 'stop', kind: 'int' },
      { name: 'step', kind: 'int', default: I(1) },
    ],
    doc: 'elements start, start+step, ... below stop along a concrete axis',
    infer: (a) => {
      const x = t(a, 'x');
      const ax = normAxis(int(a, 'axis'), x.shape.length);
      if (isError(ax)) return ax;
      const d = x.shape[ax] as Dim;
      if (d.syms.length > 0) return fail('VT3015', `cannot slice the symbolic axis ${shapeToString([d])}`, 'axis');
      const [start, stop, step] = [int(a, 'start'), Math.min(int(a, 'stop'), d.coeff), int(a, 'step')];
      if (step <= 0 || start < 0 || start >= stop)
        return fail('VT3005', `slice ${start}:${stop}:${step} is empty or invalid for size ${d.coeff}`, 'start');
      return ok({
        dtype: x.dtype,
        shape: x.shape.map((e, i) => (i === ax ? dim(Math.ceil((stop - start) / step)) : e)),
      });
    },
  },
  gather: {
    params: [X, { name: 'indices', kind: 'tensor' }, { name: 'axis', kind: 'int', default: I(0) }],
    doc: 'x indexed along an axis by an integer tensor',
    infer: (a) => gatherLike(t(a, 'x'), t(a, 'indices'), int(a, 'axis')),
  },
  take: {
    params: [X, { name: 'indices', kind: 'tensor' }, { name: 'axis', kind: 'int', default: I(0) }],
    doc: 'the same as gather',
    infer: (a) => gatherLike(t(a, 'x'), t(a, 'indices'), int(a, 'axis')),
  },
  scatter_add: {
    params: [
      { name: 'target', kind: 'tensor' },
      { name: 'indices', kind: 'tensor' },
      { name: 'src', kind: 'tensor' },
      { name: 'axis', kind: 'int', default: I(0) },
    ],
    doc: 'target with src added at indices along an axis (the adjoint of gather)',
    infer: (a) => {
      const target = t(a, 'target');
      const expected = gatherLike(target, t(a, 'indices'), int(a, 'axis'));
      if (!expected.ok) return expected;
      const src = t(a, 'src');
      const e = expected.type as TensorType;
      if (
        src.dtype !== target.dtype ||
        src.shape.length !== e.shape.length ||
        !src.shape.every((d, i) => dimEquals(d, e.shape[i] as Dim))
      ) {
        return fail('VT3002', `src must be ${typeToString(e)}, got ${typeToString(src)}`, 'src');
      }
      return ok(target);
    },
  },
  one_hot: {
    params: [X, { name: 'classes', kind: 'int' }],
    doc: 'integer labels -> f32 one-hot vectors on a new last axis',
    infer: (a) =>
      requireInt(t(a, 'x'), 'x') ??
      ok({ dtype: 'f32', shape: [...t(a, 'x').shape, dim(Math.max(0, int(a, 'classes')))] }),
  },
  argmax: {
    params: [X, { name: 'axis', kind: 'int', default: I(-1) }, { name: 'keepdim', kind: 'bool', default: BOOL(false) }],
    doc: 'index of the maximum along an axis (i32)',
    infer: (a) =>
      reduced(t(a, 'x'), [int(a, 'axis')], a.attrs.keepdim?.kind === 'bool' && a.attrs.keepdim.value, 'i32'),
  },
  top_k: {
    params: [X, { name: 'k', kind: 'int' }, { name: 'axis', kind: 'int', default: I(-1) }],
    doc: 'the k largest values and their indices along an axis; a tuple (values, indices)',
    infer: (a) => {
      const x = t(a, 'x');
      const ax = normAxis(int(a, 'axis'), x.shape.length);
      if (isError(ax)) return ax;
      const k = int(a, 'k');
      const n = x.shape[ax] as Dim;
      if (k <= 0 || (n.syms.length === 0 && k > n.coeff))
        return fail('VT3009', `k = ${k}, but axis ${ax} has only ${dimToString(n)} choices to pick from`, 'k');
      const shape = x.shape.map((d, i) => (i === ax ? dim(k) : d));
      return ok({
        tuple: [
          { dtype: x.dtype, shape },
          { dtype: 'i32', shape },
        ],
      });
    },
  },
  uniform: random('uniform random numbers in [low, high)', [
    { name: 'low', kind: 'float', default: F(0) },
    { name: 'high', kind: 'float', default: F(1) },
  ]),
  normal: random('normal random numbers', [
    { name: 'mean', kind: 'float', default: F(0) },
    { name: 'std', kind: 'float', default: F(1) },
  ]),
  permutation: {
    params: [
      { name: 'n', kind: 'int' },
      { name: 'seed', kind: 'int', default: I(0) },
    ],
    doc: 'a random permutation of 0..n-1 (i32), redrawn each step',
    infer: (a) =>
      int(a, 'n') > 0
        ? ok({ dtype: 'i32', shape: [dim(int(a, 'n'))] })
        : fail('VT3010', 'permutation needs n > 0', 'n'),
  },
  inverse_permutation: {
    params: [X],
    doc: 'the inverse of a permutation p of 0..n-1 (i32 [n]): q with q[p[j]] = j, so gather(gather(x, p), q) = x',
    infer: (a) => {
      const p = t(a, 'x');
      const n = p.shape[0];
      if (p.dtype !== 'i32' || p.shape.length !== 1 || n === undefined || n.syms.length > 0)
        return fail(
          'VT3007',
          `inverse_permutation takes an i32 vector of concrete length, got ${typeToString(p)}`,
          'x',
        );
      return ok(p);
    },
  },
  cast: {
    params: [X, { name: 'dtype', kind: 'dtype' }],
    doc: 'convert to a dtype',
    infer: (a) => ok({ dtype: a.attrs.dtype?.kind === 'dtype' ? a.attrs.dtype.dtype : 'f32', shape: t(a, 'x').shape }),
  },
  stop_gradient: unary(false, 'x, with no gradient flowing back'),
  cross_entropy: {
    params: [
      { name: 'logits', kind: 'tensor' },
      { name: 'labels', kind: 'tensor' },
      { name: 'label_smoothing', kind: 'float', default: F(0) },
    ],
    doc: 'mean cross-entropy of logits [..., C] against integer labels [...]; a scalar',
    infer: (a) => {
      const logits = t(a, 'logits');
      const labels = t(a, 'labels');
      const err = requireFloat(logits, 'logits') ?? requireInt(labels, 'labels');
      if (err) return err;
      const lead = logits.shape.slice(0, -1);
      if (lead.length !== labels.shape.length || !lead.every((d, i) => dimEquals(d, labels.shape[i] as Dim))) {
        return fail(
          'VT3002',
          `labels must be ${shapeToString(lead)} for logits ${typeToString(logits)}, got ${shapeToString(labels.shape)}`,
          'labels',
        );
      }
      const s = num(a, 'label_smoothing');
      if (s < 0 || s >= 1) return fail('VT3010', `label_smoothing must be in [0, 1), got ${s}`, 'label_smoothing');
      return ok({ dtype: logits.dtype, shape: [] });
    },
  },
  l2_normalize: unary(true, 'x / max(|x|, eps) along an axis', [
    { name: 'axis', kind: 'int', default: I(-1) },
    { name: 'eps', kind: 'float', default: F(1e-12) },
  ]),
  cosine_similarity: {
    params: [A, B, { name: 'axis', kind: 'int', default: I(-1) }, { name: 'eps', kind: 'float', default: F(1e-8) }],
    doc: 'cosine of the angle between a and b along an axis (broadcasting the rest)',
    infer: (a) => {
      const types = [t(a, 'a'), t(a, 'b')];
      const err = requireFloat(types[0] as TensorType, 'a') ?? requireFloat(types[1] as TensorType, 'b');
      if (err) return err;
      const shape = broadcastAll(types, ['a', 'b']);
      if (isError(shape)) return shape;
      return reduced({ dtype: t(a, 'a').dtype, shape }, [int(a, 'axis')], false, t(a, 'a').dtype);
    },
  },
  mean_of: variadicSame('the elementwise mean of same-typed tensors'),
  sum_of: variadicSame('the elementwise sum of same-typed tensors'),
};

export function isBuiltin(name: string): name is BuiltinName {
  return Object.hasOwn(BUILTINS, name);
}
