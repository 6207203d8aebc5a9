/**
 * The WGSL lowering table: one rule per op, typed over the op union (`{ [P in OpName]: WgslRule<P> }`), so a new op
 * does not compile until it has a lowering. A rule turns one equation, with its shapes made concrete, into kernel
 * steps over buffers, or declares that its result aliases its argument's buffer (reshape, stop_gradient).
 */

import type { EquationOf, Value } from '../../../ir/graph.js';
import type { OpName } from '../../../ops/op.js';
import { byteSize, evalDim, type DType, type SymbolValues } from '../../../types/shape.js';
import type { BufferRef, KernelStep } from '../../kernel.js';
import { aroundAxis, broadcastStrides, MAX_STORAGE_BINDINGS, sizeOf, stridesOf, type DeviceCaps } from './common.js';
import { elementwiseKernel, equationExpr, fillKernel, type ElementwiseOp } from './elementwise.js';
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
import { permutationKeysKernel, permutationRankKernel, randomFloatKernel } from './random.js';
import { crossEntropyKernel, layerNormKernel, reduceKernel, softmaxKernel, type ReduceKind } from './reduce.js';

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
    return [
      reduceKernel(kind, { ...tensor(x, ctx), shape: ctx.shape(x) }, eq.attrs.axes, tensor(eq.out, ctx), ctx.caps),
    ];
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

/** The bytes of a literal tensor in its dtype's storage layout. */
export function encodeValues(values: readonly number[], dtype: DType): Uint8Array {
  const n = values.length;
  switch (dtype) {
    case 'f32':
      return new Uint8Array(Float32Array.from(values).buffer);
    case 'i32':
      return new Uint8Array(Int32Array.from(values, (v) => Math.trunc(v) | 0).buffer);
    case 'u32':
      return new Uint8Array(Uint32Array.from(values, (v) => Math.trunc(v) >>> 0).buffer);
    case 'bool':
      return new Uint8Array(Uint32Array.from(values, (v) => (v !== 0 ? 1 : 0)).buffer);
    case 'f16': {
      const bytes = new Uint8Array(n * byteSize('f16'));
      const view = new DataView(bytes.buffer);
      values.forEach((v, i) => {
        view.setUint16(i * 2, f16Bits(v), true);
      });
      return bytes;
    }
  }
}

/** The IEEE half-precision bits of `x` (round to nearest even). */
export function f16Bits(x: number): number {
  const f = new Float32Array([x]);
  const u = new Uint32Array(f.buffer)[0] as number;
  const sign = (u >>> 16) & 0x8000;
  const exp = (u >>> 23) & 0xff;
  let mant = u & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant !== 0 ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    const half = 1 << (shift - 1);
    let r = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    if (rem > half || (rem === half && (r & 1) === 1)) r++;
    return sign | r;
  }
  let r = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (r & 1) === 1)) r++;
  return sign | r;
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
  layer_norm: (eq, ctx) => {
    const shape = ctx.shape(eq.out);
    const d = shape[shape.length - 1] ?? 1;
    return [layerNormKernel(tensor(arg0(eq), ctx), sizeOf(shape) / d, d, eq.attrs.eps, tensor(eq.out, ctx), ctx.caps)];
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

/**
 * matmul through the matmul family. Its operands are [batch, rows, cols] with a batch of 1 (broadcast) or the full
 * batch; an operand whose batch axes broadcast only partly (e.g. [B, 1, ...] against [B, H, ...]) is first copied
 * to the full batch. f16 operands are widened to f32 scratch and the result narrowed (the family is f32 only).
 */
function lowerMatmul(eq: EquationOf<'matmul'>, ctx: LowerContext): Lowered {
  const outShape = ctx.shape(eq.out);
  const rank = outShape.length;
  const batchShape = outShape.slice(0, rank - 2);
  const batch = sizeOf(batchShape);
  const m = outShape[rank - 2] ?? 1;
  const n = outShape[rank - 1] ?? 1;
  const steps: KernelStep[] = [];
  const operand = (v: Value): { buffer: BufferRef; batch: number } => {
    const shape = ctx.shape(v);
    const mat = shape.slice(-2);
    const own = shape.slice(0, -2);
    let buffer = ctx.buffer(v);
    let dtype = v.type.dtype;
    const ownBatch = sizeOf(own);
    const full = ownBatch === batch && own.length === batchShape.length && own.every((d, i) => d === batchShape[i]);
    let operandBatch = ownBatch === 1 ? 1 : batch;
    if (ownBatch !== 1 && !full) {
      const target = [...batchShape, ...mat];
      const temp = ctx.temp(dtype, sizeOf(target), 'matmul:broadcast');
      steps.push(
        stridedCopyKernel(
          'matmul_broadcast',
          dtype,
          target,
          { buffer, strides: broadcastStrides(shape, target), base: 0 },
          { buffer: temp, strides: 'contiguous', base: 0 },
          ctx.caps,
        ),
      );
      buffer = temp;
      operandBatch = batch;
    }
    if (dtype !== 'f32') {
      const elements = operandBatch * sizeOf(mat);
      const temp = ctx.temp('f32', elements, 'matmul:widen');
      steps.push(
        elementwiseKernel(
          'matmul_widen',
          [{ buffer, dtype, shape: [elements] }],
          { buffer: temp, dtype: 'f32' },
          [elements],
          (xs) => xs[0] ?? '',
          ctx.caps,
        ),
      );
      buffer = temp;
      dtype = 'f32';
    }
    return { buffer, batch: operandBatch };
  };
  const a = operand(arg0(eq));
  const b = operand(arg0(eq, 1));
  const aShape = ctx.shape(arg0(eq));
  const k = (eq.attrs.transposeA ? aShape[aShape.length - 2] : aShape[aShape.length - 1]) ?? 1;
  const wide = eq.out.type.dtype !== 'f32';
  const c = wide ? ctx.temp('f32', batch * m * n, 'matmul:result') : ctx.buffer(eq.out);
  steps.push({
    kind: 'matmul',
    name: 'matmul',
    problem: {
      batch,
      batchA: a.batch,
      batchB: b.batch,
      m,
      n,
      k,
      transposeA: eq.attrs.transposeA,
      transposeB: eq.attrs.transposeB,
    },
    a: a.buffer,
    b: b.buffer,
    c,
  });
  if (wide) {
    const elements = batch * m * n;
    steps.push(
      elementwiseKernel(
        'matmul_narrow',
        [{ buffer: c, dtype: 'f32', shape: [elements] }],
        tensor(eq.out, ctx),
        [elements],
        (xs) => xs[0] ?? '',
        ctx.caps,
      ),
    );
  }
  return steps;
}
