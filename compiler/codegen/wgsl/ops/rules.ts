/**
 * The WGSL lowering table: one rule per op, typed over the op union (`{ [P in OpName]: WgslRule<P> }`), so a new op
 * does not compile until it has a lowering. A rule turns one equation, with its shapes made concrete, into kernel
 * steps over buffers, or declares that its result aliases its argument's buffer (reshape, stop_gradient).
 */

import type { EquationOf, Value } from '../../../ir/graph.js';
import type { OpName } from '../../../ops/op.js';
import { evalDim, type DType, type SymbolValues } from '../../../types/shape.js';
import type { BufferRef, KernelStep } from '../../kernel.js';
import { aroundAxis, broadcastStrides, MAX_STORAGE_BINDINGS, sizeOf, stridesOf, type DeviceCaps } from './common.js';
import { elementwiseKernel, equationExpr, fillKernel, type ElementwiseOp } from './elementwise.js';
import { encodeValues } from './encode.js';
import {
  argmaxKernel,
  oneHotKernel,
  scatterAddAlongAxisKernel,
  scatterAddKernel,
  takeAlongAxisKernel,
  takeKernel,
  topKKernel,
} from './indexing.js';
import { stridedCopyKernel, transposeStrides } from './layout.js';
import { lowerMatmul } from './linalg.js';
import { permutationKeysKernel, permutationRankKernel, randomFloatKernel } from './random.js';
import { crossEntropyKernel, layerNormKernel, plainGrad, reduceSteps, type ReduceKind } from './reduce.js';
import { softmaxGradKernel, softmaxKernel } from './softmax.js';

/** What a rule can ask about the graph being lowered. */
export interface LowerContext {
  readonly caps: DeviceCaps;
  readonly symbols: SymbolValues;
  /** The concrete shape of a value. */
  shape(v: Value): number[];
  /** The buffer holding a value. */
  buffer(v: Value): BufferRef;
  /** A fresh scratch buffer. */
  temp(dtype: DType, elements: number, label: string): BufferRef;
  /**
   * A matmul operand read in place (views.ts): the buffer it lies in, and its first element and strides there. Absent
   * for operands with a buffer of their own.
   */
  operandView?(v: Value): { buffer: BufferRef; base: number; strides: readonly number[] } | undefined;
  /** Where a matmul stores the row sums of op(A) beside its product (sums.ts), if the plan folds a reduction in. */
  matmulRowSums?(eq: EquationOf<'matmul'>): BufferRef | undefined;
}

/** A rule's result: kernel steps writing the equation's buffer, or an alias of its first argument's buffer. */
export type Lowered = readonly KernelStep[] | 'alias';

export type WgslRule<P extends OpName> = (eq: EquationOf<P>, ctx: LowerContext) => Lowered;

function arg0(eq: { readonly args: readonly Value[] }, i = 0): Value {
  const v = eq.args[i];
  if (v === undefined) throw new RangeError(`argument ${i} is missing`);
  return v;
}

function tensor(v: Value, ctx: LowerContext): { buffer: BufferRef; dtype: DType } {
  return { buffer: ctx.buffer(v), dtype: v.type.dtype };
}

/** An elementwise equation as one kernel (add_n with many arguments as a chain of partial sums). */
function elementwise<P extends ElementwiseOp>(eq: EquationOf<P>, ctx: LowerContext): Lowered {
  const outShape = ctx.shape(eq.out);
  const out = tensor(eq.out, ctx);
  const operands = eq.args.map((a) => ({ ...tensor(a, ctx), shape: ctx.shape(a) }));
  const limit = MAX_STORAGE_BINDINGS - 1;
  if (operands.length <= limit)
    return [elementwiseKernel(eq.op, operands, out, outShape, (xs) => equationExpr(eq, xs), ctx.caps)];
  // add_n beyond the binding limit: out = sum of the first 7, then out = out + the next 6, ... (same type, no broadcast).
  const steps: KernelStep[] = [];
  let rest = operands;
  let acc: typeof operands = [];
  while (rest.length > 0) {
    const take = limit - acc.length;
    const group = [...acc, ...rest.slice(0, take)];
    rest = rest.slice(take);
    const target = rest.length === 0 ? out.buffer : ctx.temp(out.dtype, sizeOf(outShape), `${eq.op}:partial`);
    steps.push(
      elementwiseKernel(
        'add_n',
        group,
        { buffer: target, dtype: out.dtype },
        outShape,
        (xs) => `(${xs.join(' + ')})`,
        ctx.caps,
      ),
    );
    acc = [{ buffer: target, dtype: out.dtype, shape: outShape }];
  }
  return steps;
}

function reduce(kind: ReduceKind): WgslRule<'reduce_sum' | 'reduce_mean' | 'reduce_max' | 'logsumexp'> {
  return (eq, ctx) => {
    const x = arg0(eq);
    const input = { ...tensor(x, ctx), shape: ctx.shape(x) };
    return reduceSteps(kind, input, eq.attrs.axes, tensor(eq.out, ctx), ctx.caps, (dtype, elements) =>
      ctx.temp(dtype, elements, `${eq.op}:partial`),
    );
  };
}

/** A copy of `x` (iterating `shape`) with source strides `src` and base into the equation's buffer, contiguous. */
function gather(
  name: string,
  x: Value,
  out: Value,
  shape: readonly number[],
  srcStrides: readonly number[],
  srcBase: number,
  ctx: LowerContext,
): KernelStep[] {
  return [
    stridedCopyKernel(
      name,
      x.type.dtype,
      shape,
      { buffer: ctx.buffer(x), strides: srcStrides, base: srcBase },
      { buffer: ctx.buffer(out), strides: 'contiguous', base: 0 },
      ctx.caps,
    ),
  ];
}

export const WGSL_RULES: { readonly [P in OpName]: WgslRule<P> } = {
  full: (eq, ctx) => [fillKernel('full', tensor(eq.out, ctx), sizeOf(ctx.shape(eq.out)), eq.attrs.value, ctx.caps)],
  constant: (eq, ctx) => [
    {
      kind: 'upload',
      name: 'constant',
      target: ctx.buffer(eq.out),
      bytes: encodeValues(eq.attrs.values, eq.attrs.dtype),
    },
  ],
  dim_size: (eq, ctx) => [fillKernel('dim_size', tensor(eq.out, ctx), 1, evalDim(eq.attrs.dim, ctx.symbols), ctx.caps)],
  neg: elementwise,
  exp: elementwise,
  log: elementwise,
  sqrt: elementwise,
  rsqrt: elementwise,
  tanh: elementwise,
  erf: elementwise,
  acos: elementwise,
  gelu: elementwise,
  gelu_grad: elementwise,
  relu: elementwise,
  sigmoid: elementwise,
  abs: elementwise,
  cast: elementwise,
  stop_gradient: () => 'alias',
  add: elementwise,
  sub: elementwise,
  mul: elementwise,
  div: elementwise,
  pow: elementwise,
  maximum: elementwise,
  minimum: elementwise,
  less: elementwise,
  less_equal: elementwise,
  greater: elementwise,
  greater_equal: elementwise,
  equal: elementwise,
  not_equal: elementwise,
  where: elementwise,
  add_n: elementwise,
  reduce_sum: reduce('sum'),
  reduce_mean: reduce('mean'),
  reduce_max: reduce('max'),
  logsumexp: reduce('logsumexp'),
  softmax: (eq, ctx) => [
    softmaxKernel(tensor(arg0(eq), ctx), ctx.shape(eq.out), eq.attrs.axis, tensor(eq.out, ctx), ctx.caps),
  ],
  softmax_grad: (eq, ctx) => [
    softmaxGradKernel(
      tensor(arg0(eq), ctx),
      tensor(arg0(eq, 1), ctx),
      ctx.shape(eq.out),
      eq.attrs.axis,
      tensor(eq.out, ctx),
      ctx.caps,
    ),
  ],
  layer_norm: (eq, ctx) => {
    const shape = ctx.shape(eq.out);
    const d = shape[shape.length - 1] ?? 1;
    return [layerNormKernel(tensor(arg0(eq), ctx), sizeOf(shape) / d, d, eq.attrs.eps, tensor(eq.out, ctx), ctx.caps)];
  },
  layer_norm_grad: (eq, ctx) => {
    const shape = ctx.shape(eq.out);
    const d = shape[shape.length - 1] ?? 1;
    const [x, g, out] = [tensor(arg0(eq), ctx), tensor(arg0(eq, 1), ctx), tensor(eq.out, ctx)];
    return [layerNormKernel(x, sizeOf(shape) / d, d, eq.attrs.eps, out, ctx.caps, { grad: plainGrad(g) })];
  },
  cross_entropy: (eq, ctx) => {
    const shape = ctx.shape(arg0(eq));
    const k = shape[shape.length - 1] ?? 1;
    const rows = sizeOf(shape) / k;
    const [z, labels] = [tensor(arg0(eq), ctx), tensor(arg0(eq, 1), ctx)];
    return [crossEntropyKernel(z, labels, rows, k, eq.attrs.labelSmoothing, tensor(eq.out, ctx), ctx.caps)];
  },
  matmul: (eq, ctx) => lowerMatmul(eq, ctx),
  reshape: () => 'alias',
  transpose: (eq, ctx) => {
    const x = arg0(eq);
    return gather('transpose', x, eq.out, ctx.shape(eq.out), transposeStrides(ctx.shape(x), eq.attrs.perm), 0, ctx);
  },
  broadcast_to: (eq, ctx) => {
    const x = arg0(eq);
    const shape = ctx.shape(eq.out);
    return gather('broadcast_to', x, eq.out, shape, broadcastStrides(ctx.shape(x), shape), 0, ctx);
  },
  concat: (eq, ctx) => {
    const outShape = ctx.shape(eq.out);
    const outStrides = stridesOf(outShape);
    const inner = sizeOf(outShape.slice(eq.attrs.axis + 1));
    let offset = 0;
    return eq.args.map((a) => {
      const shape = ctx.shape(a);
      const step = stridedCopyKernel(
        'concat',
        a.type.dtype,
        shape,
        { buffer: ctx.buffer(a), strides: 'contiguous', base: 0 },
        { buffer: ctx.buffer(eq.out), strides: outStrides, base: offset * inner },
        ctx.caps,
      );
      offset += shape[eq.attrs.axis] ?? 1;
      return step;
    });
  },
  slice: (eq, ctx) => {
    const x = arg0(eq);
    const inShape = ctx.shape(x);
    const inStrides = stridesOf(inShape);
    const base = eq.attrs.start * (inStrides[eq.attrs.axis] ?? 1);
    return gather('slice', x, eq.out, ctx.shape(eq.out), inStrides, base, ctx);
  },
  pad: (eq, ctx) => {
    const x = arg0(eq);
    const outShape = ctx.shape(eq.out);
    const outStrides = stridesOf(outShape);
    return [
      fillKernel('pad', tensor(eq.out, ctx), sizeOf(outShape), 0, ctx.caps),
      stridedCopyKernel(
        'pad',
        x.type.dtype,
        ctx.shape(x),
        { buffer: ctx.buffer(x), strides: 'contiguous', base: 0 },
        { buffer: ctx.buffer(eq.out), strides: outStrides, base: eq.attrs.before * (outStrides[eq.attrs.axis] ?? 1) },
        ctx.caps,
      ),
    ];
  },
  take: (eq, ctx) => {
    const [x, idx] = [arg0(eq), arg0(eq, 1)];
    const [outer, n, inner] = aroundAxis(ctx.shape(x), eq.attrs.axis);
    const count = sizeOf(ctx.shape(idx));
    return [takeKernel(tensor(x, ctx), tensor(idx, ctx), tensor(eq.out, ctx), { outer, n, inner, count }, ctx.caps)];
  },
  scatter_add: (eq, ctx) => {
    const [idx, upd] = [arg0(eq), arg0(eq, 1)];
    const [outer, n, inner] = aroundAxis(ctx.shape(eq.out), eq.attrs.axis);
    const count = sizeOf(ctx.shape(idx));
    return [
      scatterAddKernel(tensor(idx, ctx), tensor(upd, ctx), tensor(eq.out, ctx), { outer, n, inner, count }, ctx.caps),
    ];
  },
  take_along_axis: (eq, ctx) => {
    const [x, idx] = [arg0(eq), arg0(eq, 1)];
    const [outer, n, inner] = aroundAxis(ctx.shape(x), eq.attrs.axis);
    const m = ctx.shape(idx)[eq.attrs.axis] ?? 1;
    return [
      takeAlongAxisKernel(tensor(x, ctx), tensor(idx, ctx), tensor(eq.out, ctx), { outer, n, inner, m }, ctx.caps),
    ];
  },
  scatter_add_along_axis: (eq, ctx) => {
    const [idx, upd] = [arg0(eq), arg0(eq, 1)];
    const [outer, n, inner] = aroundAxis(ctx.shape(eq.out), eq.attrs.axis);
    const m = ctx.shape(upd)[eq.attrs.axis] ?? 1;
    const dims = { outer, n, inner, m };
    return [scatterAddAlongAxisKernel(tensor(idx, ctx), tensor(upd, ctx), tensor(eq.out, ctx), dims, ctx.caps)];
  },
  one_hot: (eq, ctx) => {
    const idx = arg0(eq);
    return [oneHotKernel(tensor(idx, ctx), tensor(eq.out, ctx), sizeOf(ctx.shape(idx)), eq.attrs.depth, ctx.caps)];
  },
  argmax: (eq, ctx) => {
    const x = arg0(eq);
    const [outer, n, inner] = aroundAxis(ctx.shape(x), eq.attrs.axis);
    return [argmaxKernel(tensor(x, ctx), tensor(eq.out, ctx), { outer, n, inner }, ctx.caps)];
  },
  top_k: (eq, ctx) => {
    const x = arg0(eq);
    const shape = ctx.shape(x);
    const n = shape[shape.length - 1] ?? 1;
    return [topKKernel(tensor(x, ctx), tensor(eq.out, ctx), { rows: sizeOf(shape) / n, n, k: eq.attrs.k }, ctx.caps)];
  },
  random_uniform: (eq, ctx) => [
    randomFloatKernel(
      'uniform',
      tensor(arg0(eq), ctx),
      eq.attrs.salt,
      tensor(eq.out, ctx),
      sizeOf(ctx.shape(eq.out)),
      ctx.caps,
    ),
  ],
  random_normal: (eq, ctx) => [
    randomFloatKernel(
      'normal',
      tensor(arg0(eq), ctx),
      eq.attrs.salt,
      tensor(eq.out, ctx),
      sizeOf(ctx.shape(eq.out)),
      ctx.caps,
    ),
  ],
  random_permutation: (eq, ctx) => {
    const n = evalDim(eq.attrs.n, ctx.symbols);
    const keys = ctx.temp('u32', n, 'random_permutation:keys');
    return [
      permutationKeysKernel(tensor(arg0(eq), ctx), eq.attrs.salt, keys, n, ctx.caps),
      permutationRankKernel(keys, tensor(eq.out, ctx), n, ctx.caps),
    ];
  },
};
