/**
 * The op union: every primitive of the tensor IR and the attributes it carries. `OpAttrs` is the single source of
 * truth; each rule table (`TYPE_RULES`, `VJP_RULES`, the reference kernels, the WGSL lowering) is typed
 * `{ [P in OpName]: Rule<P> }`, so adding an op here does not compile until every table has its rule.
 *
 * Conventions: axes are non-negative after normalisation (negative axes count from the end and are normalised by the
 * builder); shapes in attributes are symbolic (`Dim`); an op that takes no attributes has `Empty`.
 * `spec/ir.md` documents every op (a test checks that each has a section).
 */

import type { DType, Dim, Shape } from '../types/shape.js';

/** Attributes of an op without attributes. */
export type Empty = Readonly<Record<string, never>>;

export interface ReduceAttrs {
  /** Distinct, sorted axes to reduce. */
  readonly axes: readonly number[];
  readonly keepdims: boolean;
}

export interface RandomAttrs {
  readonly shape: Shape;
  readonly dtype: DType;
  /** A per-op stream number (the second Philox key word), so two random ops with one seed draw independent bits. */
  readonly salt: number;
}

export interface OpAttrs {
  // Sources.
  readonly full: { readonly value: number; readonly dtype: DType; readonly shape: Shape };
  readonly constant: { readonly values: readonly number[]; readonly dtype: DType; readonly shape: Shape };
  readonly dim_size: { readonly dim: Dim; readonly dtype: DType };
  // Elementwise unary.
  readonly neg: Empty;
  readonly exp: Empty;
  readonly log: Empty;
  readonly sqrt: Empty;
  readonly rsqrt: Empty;
  readonly tanh: Empty;
  readonly erf: Empty;
  readonly acos: Empty;
  readonly gelu: { readonly approximate: 'none' | 'tanh' };
  /** The derivative of `gelu` with the same approximation (the backward pass of `gelu`, one op instead of eight). */
  readonly gelu_grad: { readonly approximate: 'none' | 'tanh' };
  readonly relu: Empty;
  readonly sigmoid: Empty;
  readonly abs: Empty;
  readonly cast: { readonly dtype: DType };
  readonly stop_gradient: Empty;
  // Elementwise binary (broadcasting).
  readonly add: Empty;
  readonly sub: Empty;
  readonly mul: Empty;
  readonly div: Empty;
  readonly pow: Empty;
  readonly maximum: Empty;
  readonly minimum: Empty;
  readonly less: Empty;
  readonly less_equal: Empty;
  readonly greater: Empty;
  readonly greater_equal: Empty;
  readonly equal: Empty;
  readonly not_equal: Empty;
  readonly where: Empty;
  readonly add_n: Empty;
  // Reductions and normalisations.
  readonly reduce_sum: ReduceAttrs;
  readonly reduce_mean: ReduceAttrs;
  readonly reduce_max: ReduceAttrs;
  readonly logsumexp: ReduceAttrs;
  readonly softmax: { readonly axis: number };
  /** The gradient of `softmax(x) {axis}` for the cotangent g of its result y: `softmax_grad(y, g)`. */
  readonly softmax_grad: { readonly axis: number };
  readonly layer_norm: { readonly eps: number };
  /** The gradient of `layer_norm(x) {eps}` for the cotangent g of its result: `layer_norm_grad(x, g)`. */
  readonly layer_norm_grad: { readonly eps: number };
  readonly cross_entropy: { readonly labelSmoothing: number };
  // Linear algebra.
  readonly matmul: { readonly transposeA: boolean; readonly transposeB: boolean };
  // Layout.
  readonly reshape: { readonly shape: Shape };
  readonly transpose: { readonly perm: readonly number[] };
  readonly broadcast_to: { readonly shape: Shape };
  readonly concat: { readonly axis: number };
  readonly slice: { readonly axis: number; readonly start: number; readonly end: number };
  readonly pad: { readonly axis: number; readonly before: number; readonly after: number };
  // Indexing.
  readonly take: { readonly axis: number };
  readonly scatter_add: { readonly axis: number; readonly size: Dim };
  readonly take_along_axis: { readonly axis: number };
  readonly scatter_add_along_axis: { readonly axis: number; readonly size: Dim };
  readonly one_hot: { readonly depth: number; readonly dtype: DType };
  readonly argmax: { readonly axis: number };
  readonly top_k: { readonly k: number };
  // Random.
  readonly random_uniform: RandomAttrs;
  readonly random_normal: RandomAttrs;
  readonly random_permutation: { readonly n: Dim; readonly salt: number };
}

export type OpName = keyof OpAttrs;

/** Every op once; the object literal's type makes the list exhaustive (a missing or extra key is a compile error). */
const OP_SET: Readonly<Record<OpName, true>> = {
  full: true,
  constant: true,
  dim_size: true,
  neg: true,
  exp: true,
  log: true,
  sqrt: true,
  rsqrt: true,
  tanh: true,
  erf: true,
  acos: true,
  gelu: true,
  gelu_grad: true,
  relu: true,
  sigmoid: true,
  abs: true,
  cast: true,
  stop_gradient: true,
  add: true,
  sub: true,
  mul: true,
  div: true,
  pow: true,
  maximum: true,
  minimum: true,
  less: true,
  less_equal: true,
  greater: true,
  greater_equal: true,
  equal: true,
  not_equal: true,
  where: true,
  add_n: true,
  reduce_sum: true,
  reduce_mean: true,
  reduce_max: true,
  logsumexp: true,
  softmax: true,
  softmax_grad: true,
  layer_norm: true,
  layer_norm_grad: true,
  cross_entropy: true,
  matmul: true,
  reshape: true,
  transpose: true,
  broadcast_to: true,
  concat: true,
  slice: true,
  pad: true,
  take: true,
  scatter_add: true,
  take_along_axis: true,
  scatter_add_along_axis: true,
  one_hot: true,
  argmax: true,
  top_k: true,
  random_uniform: true,
  random_normal: true,
  random_permutation: true,
};

/** All op names, in declaration order. */
export const OP_NAMES: readonly OpName[] = Object.keys(OP_SET) as OpName[];

export const UNARY_OPS = [
  'neg',
  'exp',
  'log',
  'sqrt',
  'rsqrt',
  'tanh',
  'erf',
  'acos',
  'gelu',
  'gelu_grad',
  'relu',
  'sigmoid',
  'abs',
  'cast',
  'stop_gradient',
] as const satisfies readonly OpName[];
export type UnaryOp = (typeof UNARY_OPS)[number];

export const ARITHMETIC_OPS = [
  'add',
  'sub',
  'mul',
  'div',
  'pow',
  'maximum',
  'minimum',
] as const satisfies readonly OpName[];
export type ArithmeticOp = (typeof ARITHMETIC_OPS)[number];

export const COMPARISON_OPS = [
  'less',
  'less_equal',
  'greater',
  'greater_equal',
  'equal',
  'not_equal',
] as const satisfies readonly OpName[];
export type ComparisonOp = (typeof COMPARISON_OPS)[number];

export const REDUCE_OPS = ['reduce_sum', 'reduce_mean', 'reduce_max', 'logsumexp'] as const satisfies readonly OpName[];
export type ReduceOp = (typeof REDUCE_OPS)[number];

export function isOpName(name: string): name is OpName {
  return Object.prototype.hasOwnProperty.call(OP_SET, name);
}
