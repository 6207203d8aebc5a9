/** The lowering of `matmul` onto the tuned matmul family (compiler/codegen/wgsl/matmul.ts). */

import type { EquationOf, Value } from '../../../ir/graph.js';
import type { BufferRef, KernelStep } from '../../kernel.js';
import { broadcastStrides, sizeOf } from './common.js';
import { elementwiseKernel } from './elementwise.js';
import { stridedCopyKernel } from './layout.js';
import type { LowerContext, Lowered } from './rules.js';

function argAt(eq: { readonly args: readonly Value[] }, i: number): Value {
  const v = eq.args[i];
  if (v === undefined) throw new RangeError(`argument ${i} is missing`);
  return v;
}

/**
 * matmul through the matmul family. Its operands are [batch, rows, cols] with a batch of 1 (broadcast) or the full
 * batch; an operand whose batch axes broadcast only partly (e.g. [B, 1, ...] against [B, H, ...]) is first copied
 * to the full batch. f16 operands are widened to f32 scratch and the result narrowed (the family is f32 only).
 */
export function lowerMatmul(eq: EquationOf<'matmul'>, ctx: LowerContext): Lowered {
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
  const a = operand(argAt(eq, 0));
  const b = operand(argAt(eq, 1));
  const aShape = ctx.shape(argAt(eq, 0));
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
        { buffer: ctx.buffer(eq.out), dtype: eq.out.type.dtype },
        [elements],
        (xs) => xs[0] ?? '',
        ctx.caps,
      ),
    );
  }
  return steps;
}
