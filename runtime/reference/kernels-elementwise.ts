/** Reference kernels of the elementwise ops. */

import type { ArithmeticOp, ComparisonOp, UnaryOp } from '../../compiler/ops/op.js';
import { isFloat, type DType } from '../../compiler/types/shape.js';
import { argAt, type Kernel, type OutSpec } from './kernel.js';
import { erf, geluErf, geluErfGrad, geluTanh, geluTanhGrad, sigmoid } from './math.js';
import { broadcastMap, size, type RefTensor } from './tensor.js';

type ElementwiseOp = UnaryOp | ArithmeticOp | ComparisonOp | 'where' | 'add_n';

function unary(f: (x: number) => number): Kernel<UnaryOp> {
  return (args) => argAt(args, 0).data.map(f);
}

/** Converts a value to `dtype`: floats unchanged, integers truncated toward zero (i32 wraps, u32 wraps), bool as 0/1. */
export function convert(x: number, dtype: DType): number {
  if (isFloat(dtype)) return x;
  if (dtype === 'bool') return x !== 0 ? 1 : 0;
  if (!Number.isFinite(x)) return 0;
  return dtype === 'i32' ? Math.trunc(x) | 0 : Math.trunc(x) >>> 0;
}

/** Applies `f` elementwise to broadcast arguments. */
export function broadcastApply(
  args: readonly RefTensor[],
  out: OutSpec,
  f: (xs: readonly number[]) => number,
): Float64Array {
  const n = size(out.shape);
  const maps = args.map((a) => broadcastMap(a.shape, out.shape));
  const result = new Float64Array(n);
  const xs = new Array<number>(args.length).fill(0);
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < args.length; k++)
      xs[k] = (args[k] as RefTensor).data[(maps[k] as Int32Array)[i] as number] as number;
    result[i] = f(xs);
  }
  return result;
}

function binary(f: (a: number, b: number, dtype: DType) => number): Kernel<ArithmeticOp | ComparisonOp> {
  return (args, _attrs, out) => {
    const dtype = argAt(args, 0).dtype;
    return broadcastApply(args, out, (xs) => f(xs[0] as number, xs[1] as number, dtype));
  };
}

export const elementwiseKernels: { readonly [P in ElementwiseOp]: Kernel<P> } = {
  neg: unary((x) => -x),
  exp: unary(Math.exp),
  log: unary(Math.log),
  sqrt: unary(Math.sqrt),
  rsqrt: unary((x) => 1 / Math.sqrt(x)),
  tanh: unary(Math.tanh),
  erf: unary(erf),
  acos: unary(Math.acos),
  gelu: (args, { approximate }) => argAt(args, 0).data.map(approximate === 'none' ? geluErf : geluTanh),
  gelu_grad: (args, { approximate }) => argAt(args, 0).data.map(approximate === 'none' ? geluErfGrad : geluTanhGrad),
  relu: unary((x) => (x > 0 ? x : 0)),
  sigmoid: unary(sigmoid),
  abs: unary(Math.abs),
  cast: (args, { dtype }) => argAt(args, 0).data.map((x) => convert(x, dtype)),
  stop_gradient: unary((x) => x),
  add: binary((a, b) => a + b),
  sub: binary((a, b) => a - b),
  mul: binary((a, b) => a * b),
  div: binary((a, b, dtype) => (isFloat(dtype) ? a / b : convert(a / b, dtype))),
  pow: binary((a, b) => Math.pow(a, b)),
  maximum: binary((a, b) => (Number.isNaN(a) || Number.isNaN(b) ? NaN : Math.max(a, b))),
  minimum: binary((a, b) => (Number.isNaN(a) || Number.isNaN(b) ? NaN : Math.min(a, b))),
  less: binary((a, b) => (a < b ? 1 : 0)),
  less_equal: binary((a, b) => (a <= b ? 1 : 0)),
  greater: binary((a, b) => (a > b ? 1 : 0)),
  greater_equal: binary((a, b) => (a >= b ? 1 : 0)),
  equal: binary((a, b) => (a === b ? 1 : 0)),
  not_equal: binary((a, b) => (a !== b ? 1 : 0)),
  where: (args, _attrs, out) => broadcastApply(args, out, ([c, a, b]) => (c !== 0 ? (a as number) : (b as number))),
  add_n: (args, _attrs, out) => {
    const result = new Float64Array(size(out.shape));
    for (const a of args)
      for (let i = 0; i < result.length; i++) result[i] = (result[i] as number) + (a.data[i] as number);
    return result;
  },
};
