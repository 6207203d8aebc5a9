/**
 * Elementwise ops as WGSL expressions, and the kernel that evaluates one.
 *
 * `ELEMENTWISE_EXPRESSIONS` maps each elementwise op to a template over its operands' expressions (in their
 * arithmetic types, see `common.ts`): a fusion pass can substitute one template into another and evaluate a whole
 * chain in one kernel. `elementwiseKernel` evaluates one expression over an output shape, reading every operand with
 * NumPy broadcasting by index arithmetic (strides of 0 along broadcast axes; nothing is materialised); an operand of
 * the output's own shape is read at the linear index directly.
 */

import type { EquationOf } from '../../../ir/graph.js';
import type { ArithmeticOp, ComparisonOp, OpAttrs, UnaryOp } from '../../../ops/op.js';
import type { DType } from '../../../types/shape.js';
import type { BufferRef, WgslKernel } from '../../kernel.js';
import {
  arithType,
  broadcastStrides,
  f32Bits,
  MAX_STORAGE_BINDINGS,
  narrow,
  offsetsCode,
  Params,
  sizeOf,
  widen,
  assembleKernel,
  type DeviceCaps,
  type StorageVar,
} from './common.js';

export type ElementwiseOp = UnaryOp | ArithmeticOp | ComparisonOp | 'where' | 'add_n';

/** What a template sees: operand expressions and dtypes, the result dtype, the op's attributes. */
export interface ExprContext<P extends ElementwiseOp> {
  readonly args: readonly string[];
  readonly argTypes: readonly DType[];
  readonly out: DType;
  readonly attrs: OpAttrs[P];
}

export type ExprTemplate<P extends ElementwiseOp> = (ctx: ExprContext<P>) => string;

function arg(ctx: { readonly args: readonly string[] }, i: number): string {
  const a = ctx.args[i];
  if (a === undefined) throw new RangeError(`operand ${i} is missing`);
  return a;
}

function argType(ctx: { readonly argTypes: readonly DType[] }, i: number): DType {
  const t = ctx.argTypes[i];
  if (t === undefined) throw new RangeError(`operand ${i} has no type`);
  return t;
}

/** A float unary op through a helper function. */
const floatFn =
  (fn: string): ExprTemplate<UnaryOp> =>
  (c) =>
    `${fn}(${arg(c, 0)})`;

/** Binary arithmetic: infix for + - *, special forms where WGSL differs from the reference. */
const infix =
  (op: string): ExprTemplate<ArithmeticOp> =>
  (c) =>
    `(${arg(c, 0)} ${op} ${arg(c, 1)})`;

const compare =
  (op: string): ExprTemplate<ComparisonOp> =>
  (c) =>
    `vb(${arg(c, 0)} ${op} ${arg(c, 1)})`;

/** The conversion of a value of dtype `from` (in its arithmetic type) to dtype `to`'s arithmetic type. */
export function castExpr(x: string, from: DType, to: DType): string {
  const src = arithType(from);
  if (to === 'bool') return src === 'f32' ? `vb(${x} != 0.0)` : `vb(${x} != ${src === 'i32' ? '0' : '0u'})`;
  const dst = arithType(to);
  if (src === dst) return x;
  if (dst === 'f32') return `f32(${x})`;
  if (src === 'f32') return dst === 'u32' ? `vf2u(${x})` : `bitcast<i32>(vf2u(${x}))`;
  return `bitcast<${dst}>(${x})`;
}

export const ELEMENTWISE_EXPRESSIONS: { readonly [P in ElementwiseOp]: ExprTemplate<P> } = {
  neg: (c) => (arithType(c.out) === 'u32' ? `(0u - ${arg(c, 0)})` : `(-${arg(c, 0)})`),
  exp: floatFn('vexp'),
  log: floatFn('vlog'),
  sqrt: floatFn('vsqrt'),
  rsqrt: floatFn('vrsqrt'),
  tanh: floatFn('vtanh'),
  erf: floatFn('verf'),
  acos: floatFn('vacos'),
  gelu: (c) => `${c.attrs.approximate === 'none' ? 'vgelu' : 'vgelu_tanh'}(${arg(c, 0)})`,
  gelu_grad: (c) => `${c.attrs.approximate === 'none' ? 'vgelu_grad' : 'vgelu_tanh_grad'}(${arg(c, 0)})`,
  relu: (c) => {
    const t = arithType(c.out);
    const zero = t === 'f32' ? '0.0' : t === 'i32' ? '0' : '0u';
    // select keeps NaN as NaN (x > 0 is false for NaN, and the reference's `x > 0 ? x : 0` gives 0 there too).
    return `select(${zero}, ${arg(c, 0)}, ${arg(c, 0)} > ${zero})`;
  },
  sigmoid: floatFn('vsigmoid'),
  abs: (c) => (arithType(c.out) === 'u32' ? arg(c, 0) : `abs(${arg(c, 0)})`),
  cast: (c) => castExpr(arg(c, 0), argType(c, 0), c.attrs.dtype),
  stop_gradient: (c) => arg(c, 0),
  add: infix('+'),
  sub: infix('-'),
  mul: infix('*'),
  div: (c) => {
    const t = arithType(c.out);
    if (t === 'f32') return `(${arg(c, 0)} / ${arg(c, 1)})`;
    return `${t === 'i32' ? 'vidiv' : 'vudiv'}(${arg(c, 0)}, ${arg(c, 1)})`;
  },
  pow: (c) => `vpow(${arg(c, 0)}, ${arg(c, 1)})`,
  maximum: (c) =>
    arithType(c.out) === 'f32' ? `vmaxf(${arg(c, 0)}, ${arg(c, 1)})` : `max(${arg(c, 0)}, ${arg(c, 1)})`,
  minimum: (c) =>
    arithType(c.out) === 'f32' ? `vminf(${arg(c, 0)}, ${arg(c, 1)})` : `min(${arg(c, 0)}, ${arg(c, 1)})`,
  less: compare('<'),
  less_equal: compare('<='),
  greater: compare('>'),
  greater_equal: compare('>='),
  equal: compare('=='),
  not_equal: compare('!='),
  where: (c) => `select(${arg(c, 2)}, ${arg(c, 1)}, ${arg(c, 0)} != 0u)`,
  add_n: (c) => `(${c.args.join(' + ')})`,
};

/** The expression of an elementwise equation over operand expressions. */
export function equationExpr<P extends ElementwiseOp>(eq: EquationOf<P>, args: readonly string[]): string {
  const template = ELEMENTWISE_EXPRESSIONS[eq.op] as ExprTemplate<P>;
  return template({ args, argTypes: eq.args.map((a) => a.type.dtype), out: eq.out.type.dtype, attrs: eq.attrs });
}

/** An operand of an elementwise kernel. */
export interface Operand {
  readonly buffer: BufferRef;
  readonly dtype: DType;
  readonly shape: readonly number[];
}

/**
 * A kernel writing `expr(operands)` (in the output's arithmetic type) to every element of `out` (of `outShape`);
 * operands broadcast to `outShape`. At most 7 operands (one binding is the output).
 */
export function elementwiseKernel(
  name: string,
  operands: readonly Operand[],
  out: { readonly buffer: BufferRef; readonly dtype: DType },
  outShape: readonly number[],
  expr: (operandExprs: readonly string[]) => string,
  caps: DeviceCaps,
): WgslKernel {
  if (operands.length + 1 > MAX_STORAGE_BINDINGS)
    throw new RangeError(`${name}: ${operands.length} operands exceed the storage bindings of one kernel`);
  const params = new Params();
  const rank = outShape.length;
  const n = sizeOf(outShape);
  const strided = operands.map((o) => sizeOf(o.shape) !== 1 && !sameShape(o.shape, outShape));
  const dimsAt = params.pushAll(outShape);
  const stridesAt: number[] = [];
  const names: string[] = [];
  operands.forEach((o, k) => {
    if (!strided[k]) return;
    stridesAt.push(params.pushAll(broadcastStrides(o.shape, outShape)));
    names.push(`o${k}`);
  });
  const flags = strided.map((s, k) => (s ? 'b' : sizeOf(operands[k]?.shape ?? []) === 1 ? 's' : 'c')).join('');
  const dtypes = operands.map((o) => o.dtype).join(',');
  const vector = vectorPlan(operands, outShape, strided, out.dtype);
  if (vector) {
    // Four consecutive elements per invocation, read and written as vec4 where the operand is contiguous over them.
    const storage: StorageVar[] = operands.map((o, k) => ({
      name: `in${k}`,
      dtype: o.dtype,
      buffer: o.buffer,
      access: 'read',
      ...(vector[k] === 'vec4' ? { vec4: true } : {}),
    }));
    storage.push({ name: 'out', dtype: out.dtype, buffer: out.buffer, access: 'read_write', vec4: true });
    // Offsets of the first of the four elements, and of each of the four for gathered operands.
    const at = (want: (k: number) => boolean, suffix: string): { names: string[]; strides: number[] } => {
      const picked = { names: [] as string[], strides: [] as number[] };
      let j = 0;
      operands.forEach((_, k) => {
        if (!strided[k]) return;
        if (want(k)) {
          picked.names.push(`o${k}${suffix}`);
          picked.strides.push(stridesAt[j] as number);
        }
        j++;
      });
      return picked;
    };
    const first = at((k) => vector[k] !== 'gather', '');
    const offsetLines =
      first.names.length > 0 ? [offsetsCode('gi * 4u', rank, dimsAt, first.names, first.strides)] : [];
    for (const c of range4) {
      const lane = at((k) => vector[k] === 'gather', `_${c}`);
      if (lane.names.length > 0)
        offsetLines.push(offsetsCode(`gi * 4u + ${c}u`, rank, dimsAt, lane.names, lane.strides));
    }
    const offsets = offsetLines.length > 0 ? offsetLines.join('\n') + '\n' : '';
    const loadLines = operands.map((o, k) => {
      if (vector[k] === 'gather')
        return `  let v${k} = vec4<f32>(${range4.map((c) => `in${k}[o${k}_${c}]`).join(', ')});`;
      const index = strided[k]
        ? vector[k] === 'splat'
          ? `o${k}`
          : `o${k} >> 2u`
        : sizeOf(o.shape) === 1
          ? '0u'
          : 'gi';
      return `  let v${k} = in${k}[${index}];`;
    });
    const lanes = range4.map((c) => expr(operands.map((_, k) => (vector[k] === 'splat' ? `v${k}` : `v${k}[${c}]`))));
    const body = `${offsets}${loadLines.join('\n')}\n  out[gi] = vec4<f32>(${lanes.join(', ')});`;
    return assembleKernel(
      { name: `${name}[r${rank}:${flags}:${dtypes}->${out.dtype}:x4]`, storage, body, threads: n / 4, params },
      caps,
    );
  }
  const storage: StorageVar[] = operands.map((o, k) => ({
    name: `in${k}`,
    dtype: o.dtype,
    buffer: o.buffer,
    access: 'read',
  }));
  storage.push({ name: 'out', dtype: out.dtype, buffer: out.buffer, access: 'read_write' });
  const loads = operands.map((o, k) => {
    const index = strided[k] ? `o${k}` : sizeOf(o.shape) === 1 ? '0u' : 'gi';
    return widen(`in${k}[${index}]`, o.dtype);
  });
  const offsets = names.length > 0 ? offsetsCode('gi', rank, dimsAt, names, stridesAt) + '\n' : '';
  const loadLines = loads.map((l, k) => `  let v${k} = ${l};`).join('\n');
  const value = expr(operands.map((_, k) => `v${k}`));
  const body = `${offsets}${loadLines}\n  out[gi] = ${narrow(value, out.dtype)};`;
  return assembleKernel(
    { name: `${name}[r${rank}:${flags}:${dtypes}->${out.dtype}]`, storage, body, threads: n, params },
    caps,
  );
}

const range4 = [0, 1, 2, 3] as const;

/**
 * How each operand of an f32 elementwise kernel is read when every invocation computes four consecutive elements
 * (`vec4`: one vec4 of the operand, `splat`: one value for all four, `gather`: four values at their own offsets), or
 * undefined when that layout does not apply. llvmpipe pays for a storage access per SIMD lane and access, not per
 * element, so a vec4 per access reads and writes four elements for about the price of one, and a gather costs what
 * four one-element invocations would. Needs f32 throughout and a multiple of 4 elements. A broadcast operand is a
 * vec4 or a splat when the four elements lie in one row of the output (last axis a multiple of 4) and are consecutive
 * in the operand (last-axis stride 1) or the same element (stride 0); otherwise (rows of 17 or 50 elements, say) it is
 * gathered, while the contiguous operands and the output still move as vec4.
 */
function vectorPlan(
  operands: readonly Operand[],
  outShape: readonly number[],
  strided: readonly boolean[],
  outDtype: DType,
): ('vec4' | 'splat' | 'gather')[] | undefined {
  const n = sizeOf(outShape);
  if (n % 4 !== 0 || outDtype !== 'f32' || operands.some((o) => o.dtype !== 'f32')) return undefined;
  const last = outShape[outShape.length - 1] ?? 1;
  return operands.map((o, k) => {
    if (sizeOf(o.shape) === 1) return 'splat';
    if (!strided[k]) return 'vec4';
    const lastStride = broadcastStrides(o.shape, outShape)[outShape.length - 1];
    if (last % 4 === 0 && lastStride === 0) return 'splat';
    if (last % 4 === 0 && lastStride === 1) return 'vec4';
    return 'gather';
  });
}

/** A kernel filling `out` with a constant. */
export function fillKernel(
  name: string,
  out: { readonly buffer: BufferRef; readonly dtype: DType },
  elements: number,
  value: number,
  caps: DeviceCaps,
): WgslKernel {
  const params = new Params();
  const t = arithType(out.dtype);
  // The value comes from the uniform block, so one pipeline fills with any value.
  const at = params.push(
    t === 'f32' ? f32Bits(value) : t === 'i32' ? (Math.trunc(value) | 0) >>> 0 : literalU32(value, out.dtype),
  );
  const load = t === 'f32' ? `prmf(${at}u)` : t === 'i32' ? `bitcast<i32>(prm(${at}u))` : `prm(${at}u)`;
  const storage: StorageVar[] = [{ name: 'out', dtype: out.dtype, buffer: out.buffer, access: 'read_write' }];
  return assembleKernel(
    {
      name: `${name}[${out.dtype}]`,
      storage,
      body: `  out[gi] = ${narrow(load, out.dtype)};`,
      threads: elements,
      params,
    },
    caps,
  );
}

function literalU32(value: number, dtype: DType): number {
  return dtype === 'bool' ? (value !== 0 ? 1 : 0) : Math.trunc(value) >>> 0;
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}
