/**
 * How each tensor builtin of the language becomes IR: one rule per builtin, in a table typed over `BuiltinName`,
 * so a builtin cannot be added to the front end without saying how it lowers. Rules receive the checked call (its
 * operands, attributes and result type, with the caller's dimension symbols already substituted) and emit
 * equations through the graph builder.
 *
 * Where the surface and the IR differ, the rule says so: the language's `cross_entropy` is the batch mean of the
 * IR's per-example loss; `transpose` operands of `@` are folded into the matmul's transpose flags (the kernel reads
 * them in place); `inverse_permutation` is a `scatter_add` of `0..n-1`; `uniform`/`normal`/`permutation` draw from the graph's `rng.seed` input, salted per call site, so a
 * program redraws them every step by feeding a new seed.
 */
import { CompilerBug } from '../diagnostics/diagnostic.js';
import type { GraphBuilder } from '../ir/builder.js';
import type { Value } from '../ir/graph.js';
import { BUILTINS, type BuiltinName } from '../semantic/builtins.js';
import { type Attr, type ExprType, isTupleType, type TExpr } from '../semantic/elaborated.js';
import { concrete, type Dim, type DType, type TensorType } from '../types/shape.js';

/** A lowered expression: a value, or a tuple of values. */
export type Lowered = Value | readonly Value[];

/** What a rule sees of one builtin call. */
export interface BuiltinCall {
  readonly builder: GraphBuilder;
  readonly op: BuiltinName;
  /** The unlowered operands (to look through a `transpose`, say). */
  readonly operands: readonly TExpr[];
  readonly attrs: Readonly<Record<string, Attr>>;
  /** The call's result type, in the caller's terms. */
  readonly type: ExprType;
  /** Lowers operand `i` (memoised by the caller). */
  value(i: number): Value;
  /** Every operand, lowered. */
  values(): Value[];
  /** Lowers any expression of the caller's frame (to look through an operand). */
  lower(e: TExpr): Value;
  /** The graph's random seed input (created on first use). */
  seed(): Value;
  /** A fresh salt for a random call site, mixed with the call's `seed:` attribute. */
  salt(): number;
}

type Rule = (call: BuiltinCall) => Lowered;

function attr(call: BuiltinCall, name: string): Attr | undefined {
  const given = call.attrs[name];
  if (given !== undefined) return given;
  return BUILTINS[call.op].params.find((p) => p.name === name)?.default;
}

function num(call: BuiltinCall, name: string): number {
  const a = attr(call, name);
  if (a?.kind === 'int' || a?.kind === 'float') return a.value;
  throw new CompilerBug(`${call.op}: the attribute '${name}' is not a number`);
}

function bool(call: BuiltinCall, name: string): boolean {
  const a = attr(call, name);
  return a?.kind === 'bool' ? a.value : false;
}

function str(call: BuiltinCall, name: string): string {
  const a = attr(call, name);
  if (a?.kind === 'string') return a.value;
  throw new CompilerBug(`${call.op}: the attribute '${name}' is not a string`);
}

function ints(call: BuiltinCall, name: string): number[] {
  const a = attr(call, name);
  if (a?.kind === 'int') return [a.value];
  if (a?.kind === 'list') return a.items.map((item) => (item.kind === 'int' ? item.value : NaN));
  throw new CompilerBug(`${call.op}: the attribute '${name}' is not a list of integers`);
}

function dtypeAttr(call: BuiltinCall, name: string): DType {
  const a = attr(call, name);
  if (a?.kind === 'dtype') return a.dtype;
  throw new CompilerBug(`${call.op}: the attribute '${name}' is not a dtype`);
}

function tensorType(call: BuiltinCall): TensorType {
  if (isTupleType(call.type)) throw new CompilerBug(`${call.op} was typed as a tuple`);
  return call.type;
}

function normAxis(axis: number, rank: number): number {
  return axis < 0 ? axis + rank : axis;
}

/** A reduction's axes (all when the list is empty) and keepdim flag. */
function reduceArgs(call: BuiltinCall): { x: Value; axes: number[] | undefined; keepdims: boolean } {
  const x = call.value(0);
  const axes = ints(call, 'axis');
  return { x, axes: axes.length === 0 ? undefined : axes, keepdims: bool(call, 'keepdim') };
}

/** Whether operand `i` is `transpose(y)` of its last two axes: then the matmul reads `y` transposed in place. */
function lastTwoTransposed(call: BuiltinCall, i: number): TExpr | undefined {
  const e = call.operands[i];
  if (e?.kind !== 'builtin' || e.op !== 'transpose' || isTupleType(e.type)) return undefined;
  const inner = e.args[0];
  if (inner === undefined || isTupleType(inner.type)) return undefined;
  const rank = inner.type.shape.length;
  const a0 = e.attrs.dim0?.kind === 'int' ? e.attrs.dim0.value : -2;
  const a1 = e.attrs.dim1?.kind === 'int' ? e.attrs.dim1.value : -1;
  const pair = [normAxis(a0, rank), normAxis(a1, rank)].sort((p, q) => p - q);
  return rank >= 2 && pair[0] === rank - 2 && pair[1] === rank - 1 ? inner : undefined;
}

/** `x[start:stop:step]` along `axis`: a slice, then for a step above 1 a gather of every step-th element. */
export function strided(b: GraphBuilder, x: Value, axis: number, start: number, stop: number, step: number): Value {
  const sliced = b.slice(x, axis, start, stop);
  if (step === 1) return sliced;
  const count = Math.ceil((stop - start) / step);
  const picks = Array.from({ length: count }, (_, i) => i * step);
  return b.take(sliced, b.constant(picks, [count], 'i32'), axis);
}

function random(kind: 'uniform' | 'normal'): Rule {
  return (call) => {
    const b = call.builder;
    const type = tensorType(call);
    const salt = call.salt();
    if (kind === 'uniform') {
      const u = b.randomUniform(call.seed(), type.shape, salt, type.dtype);
      const low = num(call, 'low');
      const high = num(call, 'high');
      return low === 0 && high === 1 ? u : b.add(b.mul(u, high - low), low);
    }
    const n = b.randomNormal(call.seed(), type.shape, salt, type.dtype);
    const mean = num(call, 'mean');
    const std = num(call, 'std');
    return mean === 0 && std === 1 ? n : b.add(b.mul(n, std), mean);
  };
}

export const LOWER_BUILTINS: Readonly<Record<BuiltinName, Rule>> = {
  add: (c) => c.builder.add(c.value(0), c.value(1)),
  sub: (c) => c.builder.sub(c.value(0), c.value(1)),
  mul: (c) => c.builder.mul(c.value(0), c.value(1)),
  div: (c) => c.builder.div(c.value(0), c.value(1)),
  pow: (c) => c.builder.pow(c.value(0), c.value(1)),
  maximum: (c) => c.builder.maximum(c.value(0), c.value(1)),
  minimum: (c) => c.builder.minimum(c.value(0), c.value(1)),
  eq: (c) => c.builder.equal(c.value(0), c.value(1)),
  ne: (c) => c.builder.notEqual(c.value(0), c.value(1)),
  lt: (c) => c.builder.less(c.value(0), c.value(1)),
  le: (c) => c.builder.lessEqual(c.value(0), c.value(1)),
  gt: (c) => c.builder.greater(c.value(0), c.value(1)),
  ge: (c) => c.builder.greaterEqual(c.value(0), c.value(1)),
  where: (c) => c.builder.where(c.value(0), c.value(1), c.value(2)),
  neg: (c) => c.builder.neg(c.value(0)),
  exp: (c) => c.builder.exp(c.value(0)),
  log: (c) => c.builder.log(c.value(0)),
  sqrt: (c) => c.builder.sqrt(c.value(0)),
  rsqrt: (c) => c.builder.rsqrt(c.value(0)),
  tanh: (c) => c.builder.tanh(c.value(0)),
  erf: (c) => c.builder.erf(c.value(0)),
  gelu: (c) => {
    const form = str(c, 'approximate');
    if (form !== 'none' && form !== 'tanh') throw new CompilerBug(`gelu: unknown approximation '${form}'`);
    return c.builder.gelu(c.value(0), form);
  },
  relu: (c) => c.builder.relu(c.value(0)),
  sigmoid: (c) => c.builder.sigmoid(c.value(0)),
  abs: (c) => c.builder.abs(c.value(0)),
  sum: (c) => {
    const { x, axes, keepdims } = reduceArgs(c);
    return c.builder.sum(x, axes, keepdims);
  },
  mean: (c) => {
    const { x, axes, keepdims } = reduceArgs(c);
    return c.builder.mean(x, axes, keepdims);
  },
  max: (c) => {
    const { x, axes, keepdims } = reduceArgs(c);
    return c.builder.max(x, axes, keepdims);
  },
  logsumexp: (c) => {
    const { x, axes, keepdims } = reduceArgs(c);
    return c.builder.logsumexp(x, axes, keepdims);
  },
  softmax: (c) => c.builder.softmax(c.value(0), num(c, 'axis')),
  layer_norm: (c) => c.builder.layerNormAffine(c.value(0), c.value(1), c.value(2), num(c, 'eps')),
  matmul: (c) => {
    const ta = lastTwoTransposed(c, 0);
    const tb = lastTwoTransposed(c, 1);
    const lower = (e: TExpr | undefined, i: number): Value => (e === undefined ? c.value(i) : c.lower(e));
    return c.builder.matmul(lower(ta, 0), lower(tb, 1), { transposeA: ta !== undefined, transposeB: tb !== undefined });
  },
  reshape: (c) => c.builder.reshape(c.value(0), tensorType(c).shape),
  transpose: (c) => {
    const x = c.value(0);
    const rank = x.type.shape.length;
    const perm = Array.from({ length: rank }, (_, i) => i);
    const a0 = normAxis(num(c, 'dim0'), rank);
    const a1 = normAxis(num(c, 'dim1'), rank);
    perm[a0] = a1;
    perm[a1] = a0;
    return c.builder.transpose(x, perm);
  },
  permute: (c) => {
    const x = c.value(0);
    return c.builder.transpose(
      x,
      ints(c, 'axes').map((a) => normAxis(a, x.type.shape.length)),
    );
  },
  broadcast: (c) => c.builder.broadcastTo(c.value(0), tensorType(c).shape),
  concat: (c) => {
    const xs = c.values();
    const rank = xs[0]?.type.shape.length ?? 0;
    return c.builder.concat(xs, normAxis(num(c, 'axis'), rank));
  },
  split: (c) => {
    const x = c.value(0);
    const axis = normAxis(num(c, 'axis'), x.type.shape.length);
    const parts = num(c, 'parts');
    const size = concrete(x.type.shape[axis] as Dim);
    if (size === undefined) throw new CompilerBug('split of a symbolic axis reached lowering');
    return c.builder.split(
      x,
      axis,
      Array.from({ length: parts }, () => size / parts),
    );
  },
  slice: (c) => {
    const x = c.value(0);
    const axis = normAxis(num(c, 'axis'), x.type.shape.length);
    const size = concrete(x.type.shape[axis] as Dim) ?? 0;
    return strided(c.builder, x, axis, num(c, 'start'), Math.min(num(c, 'stop'), size), num(c, 'step'));
  },
  gather: (c) => c.builder.take(c.value(0), c.value(1), normAxis(num(c, 'axis'), c.value(0).type.shape.length)),
  take: (c) => c.builder.take(c.value(0), c.value(1), normAxis(num(c, 'axis'), c.value(0).type.shape.length)),
  scatter_add: (c) => {
    const target = c.value(0);
    const axis = normAxis(num(c, 'axis'), target.type.shape.length);
    return c.builder.add(target, c.builder.scatterAdd(c.value(1), c.value(2), axis, target.type.shape[axis] as Dim));
  },
  one_hot: (c) => c.builder.oneHot(c.value(0), num(c, 'classes'), 'f32'),
  argmax: (c) => {
    const x = c.value(0);
    const axis = normAxis(num(c, 'axis'), x.type.shape.length);
    const index = c.builder.argmax(x, axis);
    return bool(c, 'keepdim') ? c.builder.reshape(index, tensorType(c).shape) : index;
  },
  top_k: (c) => {
    const b = c.builder;
    const x = c.value(0);
    const rank = x.type.shape.length;
    const axis = normAxis(num(c, 'axis'), rank);
    // The IR's top_k works on the last axis: move `axis` there and back.
    const perm = Array.from({ length: rank }, (_, i) => i);
    perm[axis] = rank - 1;
    perm[rank - 1] = axis;
    const moved = axis === rank - 1 ? x : b.transpose(x, perm);
    const indices = b.topK(moved, num(c, 'k'));
    const values = b.takeAlongAxis(moved, indices, rank - 1);
    const back = (v: Value): Value => (axis === rank - 1 ? v : b.transpose(v, perm));
    return [back(values), back(indices)];
  },
  uniform: random('uniform'),
  normal: random('normal'),
  permutation: (c) => c.builder.randomPermutation(c.seed(), num(c, 'n'), c.salt()),
  inverse_permutation: (c) => {
    const p = c.value(0);
    const n = concrete(p.type.shape[0] as Dim);
    if (n === undefined) throw new CompilerBug('inverse_permutation of a symbolic length reached lowering');
    const iota = c.builder.constant(
      Array.from({ length: n }, (_, j) => j),
      [n],
      'i32',
    );
    // q[p[j]] = j: each position receives exactly one j, so the scatter's sum is the assignment.
    return c.builder.scatterAdd(p, iota, 0, p.type.shape[0] as Dim);
  },
  cast: (c) => c.builder.cast(c.value(0), dtypeAttr(c, 'dtype')),
  stop_gradient: (c) => c.builder.stopGradient(c.value(0)),
  cross_entropy: (c) => c.builder.mean(c.builder.crossEntropy(c.value(0), c.value(1), num(c, 'label_smoothing'))),
  l2_normalize: (c) => {
    const x = c.value(0);
    return c.builder.l2Normalize(x, normAxis(num(c, 'axis'), x.type.shape.length), num(c, 'eps'));
  },
  cosine_similarity: (c) => {
    const a = c.value(0);
    const type = tensorType(c);
    const rank = type.shape.length + 1;
    const axis = normAxis(num(c, 'axis'), rank);
    const b2 = c.value(1);
    return c.builder.cosineSimilarity(a, b2, axis, num(c, 'eps'));
  },
  mean_of: (c) => c.builder.meanN(c.values()),
  sum_of: (c) => c.builder.addN(c.values()),
};
