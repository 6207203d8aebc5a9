/** The lowering of `matmul` onto the tuned matmul family (compiler/codegen/wgsl/matmul.ts). */

import type { EquationOf, Value } from '../../../ir/graph.js';
import type { BufferRef, KernelStep, MatmulStepEpilogue } from '../../kernel.js';
import type { StridedMatrix } from '../matmul.js';
import { broadcastStrides, PRELUDE, sizeOf, stridesOf } from './common.js';
import { elementwiseKernel, type Operand } from './elementwise.js';
import { stridedCopyKernel } from './layout.js';
import type { LowerContext, Lowered } from './rules.js';

function argAt(eq: { readonly args: readonly Value[] }, i: number): Value {
  const v = eq.args[i];
  if (v === undefined) throw new RangeError(`argument ${i} is missing`);
  return v;
}

/**
 * A matmul whose product is not stored as is: `out` receives `epilogue(product)` (see `matmulEpilogue`), built for
 * the problem's layout (`foldRows`: the batch is folded into the rows).
 */
export interface FusedMatmulOutput {
  readonly out: BufferRef;
  readonly epilogue: (foldRows: boolean) => MatmulStepEpilogue;
  /** A second result computed from each stored value (`MatmulStepEpilogue.second`). */
  readonly second?: { readonly wgsl: string; readonly out: BufferRef };
}

/**
 * The epilogue of a matmul whose product feeds an elementwise group of the product's shape: `expr` over the
 * operands' expressions, where operand `product` is the matmul's own result (`value`) and every other operand (f32,
 * broadcast to `outShape`) is read at the element's (batch, row, col). Two layouts are left to the kernel, which
 * loads them with its own tile and passes the values in: an operand read at the column alone (a bias:
 * `MatmulEpilogue.columns`) and one laid out as the product with rows of whole vec4s (a residual, a pre-activation:
 * `MatmulEpilogue.elements`). For the others, sizes and strides are WGSL constants, so the index arithmetic of a
 * broadcast operand costs a multiply-add per axis.
 */
export function matmulEpilogue(
  operands: readonly Operand[],
  product: number,
  outShape: readonly number[],
  expr: (operandExprs: readonly string[]) => string,
  foldRows = false,
): MatmulStepEpilogue {
  const rank = outShape.length;
  const batchDims = outShape.slice(0, Math.max(0, rank - 2));
  const rowName = foldRows && rank > 2 ? 'ep_row' : 'row';
  const inputs: { name: string; buffer: BufferRef }[] = [];
  const columns: string[] = [];
  const elements: string[] = [];
  const lines: string[] = [];
  const batchCoords = new Set<number>();
  const own = stridesOf(outShape);
  const names = operands.map((o, k) => {
    if (k === product) return 'value';
    if (o.dtype !== 'f32') throw new RangeError('a matmul epilogue reads f32 operands only');
    const name = `ep${k}`;
    inputs.push({ name, buffer: o.buffer });
    const strides = broadcastStrides(o.shape, outShape);
    // Read at the column alone (a bias): the kernel loads it once per column and passes it in.
    if (rank > 0 && strides.every((stride, axis) => stride === (axis === rank - 1 ? 1 : 0))) {
      columns.push(name);
      return `${name}c`;
    }
    // Laid out as the product itself, in rows of vec4s: the kernel loads it with the accumulators' layout.
    if (
      rank >= 2 &&
      (outShape[rank - 1] as number) % 4 === 0 &&
      strides.every((st, axis) => st === own[axis] || outShape[axis] === 1)
    ) {
      elements.push(name);
      return `${name}x`;
    }
    const terms: string[] = [];
    strides.forEach((stride, axis) => {
      if (stride === 0) return;
      const coord = axis === rank - 1 ? 'col' : axis === rank - 2 ? rowName : `ep_b${axis}`;
      if (axis < rank - 2) batchCoords.add(axis);
      terms.push(stride === 1 ? coord : `${coord} * ${stride}u`);
    });
    lines.push(`  let v${k} = ${name}[${terms.length > 0 ? terms.join(' + ') : '0u'}];`);
    return `v${k}`;
  });
  const decompose: string[] = [];
  const rows = outShape[rank - 2] ?? 1;
  if (foldRows && rank > 2) decompose.push(`  let ep_row = row % ${rows}u;`);
  if (batchCoords.size > 0) {
    decompose.push(`  var ep_rest = ${foldRows ? `row / ${rows}u` : 'batch'};`);
    for (let axis = batchDims.length - 1; axis >= 0; axis--) {
      const dim = batchDims[axis] ?? 1;
      decompose.push(`  let ep_b${axis} = ep_rest % ${dim}u;`, `  ep_rest = ep_rest / ${dim}u;`);
    }
  }
  const wgsl = `${PRELUDE}
fn epilogue(value: f32, batch: u32, row: u32, col: u32${columns.map((n) => `, ${n}c: f32`).join('')}${elements.map((n) => `, ${n}x: f32`).join('')}) -> f32 {
${[...decompose, ...lines].join('\n')}
  return ${expr(names)};
}
`;
  return { wgsl, inputs, ...(columns.length > 0 ? { columns } : {}), ...(elements.length > 0 ? { elements } : {}) };
}

/** Where a matmul writes its product in place (views.ts): the buffer, and the strides of the product's axes there. */
export interface MatmulResultView {
  readonly buffer: BufferRef;
  readonly base: number;
  readonly strides: readonly number[];
}

/**
 * matmul through the matmul family. Its operands are [batch, rows, cols] with a batch of 1 (broadcast) or the full
 * batch; an operand whose batch axes broadcast only partly (e.g. [B, 1, ...] against [B, H, ...]) is first copied
 * to the full batch. f16 operands are widened to f32 scratch and the result narrowed (the family is f32 only).
 */
export function lowerMatmul(
  eq: EquationOf<'matmul'>,
  ctx: LowerContext,
  fused?: FusedMatmulOutput,
  result?: MatmulResultView,
): Lowered {
  const outShape = ctx.shape(eq.out);
  const rank = outShape.length;
  const batchShape = outShape.slice(0, rank - 2);
  const batch = sizeOf(batchShape);
  const m = outShape[rank - 2] ?? 1;
  const n = outShape[rank - 1] ?? 1;
  const steps: KernelStep[] = [];
  if (batchShape.length > 2 && (result || eq.args.some((v) => ctx.operandView?.(v))))
    throw new RangeError('a strided matmul operand needs at most two batch axes');
  // With two batch axes, the batch index splits as (outer, inner) over them (`MatmulLayout.inner`).
  const inner = batchShape.length === 2 ? (batchShape[1] as number) : 1;
  const matrix = (base: number, strides: readonly number[]): StridedMatrix => {
    const s = strides.slice(0, -1);
    const row = s[s.length - 1] ?? 0;
    const b = s.slice(0, -1);
    return { base, outer: b[0] ?? 0, inner: b.length === 2 ? (b[1] ?? 0) : 0, row };
  };
  const operand = (v: Value): { buffer: BufferRef; batch: number; matrix?: StridedMatrix } => {
    const view = ctx.operandView?.(v);
    if (view) return { buffer: view.buffer, batch, matrix: matrix(view.base, view.strides) };
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
  if (wide && fused) throw new RangeError('a matmul with an epilogue must produce f32');
  if (result && (fused || wide)) throw new RangeError('a matmul written in place must store its f32 product as is');
  const c = result
    ? result.buffer
    : fused
      ? fused.out
      : wide
        ? ctx.temp('f32', batch * m * n, 'matmul:result')
        : ctx.buffer(eq.out);
  const layout =
    a.matrix || b.matrix || result
      ? {
          inner,
          ...(a.matrix ? { a: a.matrix } : {}),
          ...(b.matrix ? { b: b.matrix } : {}),
          ...(result ? { c: matrix(result.base, result.strides) } : {}),
        }
      : undefined;
  // A batch of A's against one shared B (a linear layer over [B, N, D] tokens) is one matmul of batch x M rows:
  // A's batches and C's are contiguous row blocks, and one tall problem fills tiles better than many short ones.
  const foldRows = batch > 1 && b.batch === 1 && a.batch === batch && !eq.attrs.transposeA && !layout;
  const rowSums = ctx.matmulRowSums?.(eq);
  // One matrix, so A is neither broadcast nor copied; f32 and contiguous, so it is read as it is stored.
  if (rowSums && (batch !== 1 || a.matrix || argAt(eq, 0).type.dtype !== 'f32'))
    throw new RangeError('row sums are folded into a matmul of one f32 matrix reading A as it is stored');
  steps.push({
    kind: 'matmul',
    name: 'matmul',
    problem: {
      batch: foldRows ? 1 : batch,
      batchA: foldRows ? 1 : a.batch,
      batchB: b.batch,
      m: foldRows ? batch * m : m,
      n,
      k,
      transposeA: eq.attrs.transposeA,
      transposeB: eq.attrs.transposeB,
      ...(layout ? { layout } : {}),
    },
    a: a.buffer,
    b: b.buffer,
    c,
    ...(fused ? { epilogue: { ...fused.epilogue(foldRows), ...(fused.second ? { second: fused.second } : {}) } } : {}),
    ...(rowSums ? { rowSums } : {}),
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
