/**
 * Composing layout ops: two strided copies in a row are one strided copy, so the intermediate tensor is never
 * written. Two patterns of attention lower this way:
 *
 * - `slice(transpose(x))`, where every use of the transpose is a slice (the split of a fused q/k/v projection into
 *   heads): each slice copies straight from `x` with the transpose's strides, its base moved by `start` along the
 *   sliced axis;
 * - `transpose(concat(a, b, ...))`, where the concat's only use is the transpose (the gradient flowing back into that
 *   projection): each argument is copied straight into the transpose's output, at the strides its axes have there.
 *
 * Copies move bits, so the result is exactly that of the two ops in sequence.
 */

import type { Equation, EquationOf, Graph } from '../../../ir/graph.js';
import { useCounts } from '../../../ir/graph.js';
import type { KernelStep } from '../../kernel.js';
import { stridesOf } from './common.js';
import { stridedCopyKernel, transposeStrides } from './layout.js';
import type { LowerContext } from './rules.js';

export interface LayoutCompositions {
  /** Layout equations whose result is never materialised (their consumers read through them). */
  readonly skipped: ReadonlySet<number>;
  /** Slices reading through a skipped transpose: slice result id -> the transpose. */
  readonly sliceOfTranspose: ReadonlyMap<number, EquationOf<'transpose'>>;
  /** Transposes writing a skipped concat's arguments: transpose result id -> the concat. */
  readonly transposeOfConcat: ReadonlyMap<number, EquationOf<'concat'>>;
}

/** Finds the compositions of `graph` (a pure decision over its equations and uses). */
export function layoutCompositions(graph: Graph): LayoutCompositions {
  const uses = useCounts(graph);
  const consumers = new Map<number, Equation[]>();
  const defs = new Map<number, Equation>();
  for (const eq of graph.equations) {
    defs.set(eq.out.id, eq);
    for (const a of eq.args) {
      const list = consumers.get(a.id) ?? [];
      list.push(eq);
      consumers.set(a.id, list);
    }
  }
  const skipped = new Set<number>();
  const sliceOfTranspose = new Map<number, EquationOf<'transpose'>>();
  const transposeOfConcat = new Map<number, EquationOf<'concat'>>();
  for (const eq of graph.equations) {
    if (eq.op === 'transpose') {
      const t = eq;
      const readers = consumers.get(t.out.id) ?? [];
      const allSlices =
        readers.length > 0 && readers.length === uses.get(t.out.id) && readers.every((r) => r.op === 'slice');
      if (allSlices) {
        skipped.add(t.out.id);
        for (const r of readers) sliceOfTranspose.set(r.out.id, t);
        continue;
      }
      const source = t.args[0];
      const def = source && defs.get(source.id);
      if (def?.op === 'concat' && uses.get(def.out.id) === 1 && !skipped.has(def.out.id)) {
        skipped.add(def.out.id);
        transposeOfConcat.set(t.out.id, def);
      }
    }
  }
  return { skipped, sliceOfTranspose, transposeOfConcat };
}

function argAt(eq: Equation, i: number): NonNullable<Equation['args'][number]> {
  const v = eq.args[i];
  if (v === undefined) throw new RangeError(`${eq.op} %${eq.out.id} has no argument ${i}`);
  return v;
}

/** `slice(transpose(x))` as one strided copy from `x`. */
export function lowerSliceOfTranspose(
  slice: EquationOf<'slice'>,
  transpose: EquationOf<'transpose'>,
  ctx: LowerContext,
): KernelStep[] {
  const x = argAt(transpose, 0);
  const strides = transposeStrides(ctx.shape(x), transpose.attrs.perm);
  const base = slice.attrs.start * (strides[slice.attrs.axis] ?? 0);
  return [
    stridedCopyKernel(
      'slice_transpose',
      x.type.dtype,
      ctx.shape(slice.out),
      { buffer: ctx.buffer(x), strides, base },
      { buffer: ctx.buffer(slice.out), strides: 'contiguous', base: 0 },
      ctx.caps,
    ),
  ];
}

/** `transpose(concat(a, b, ...))` as one strided copy per argument into the transpose's output. */
export function lowerTransposeOfConcat(
  transpose: EquationOf<'transpose'>,
  concat: EquationOf<'concat'>,
  ctx: LowerContext,
): KernelStep[] {
  const perm = transpose.attrs.perm;
  const outStrides = stridesOf(ctx.shape(transpose.out));
  // Axis i of the concat lands at position perm^-1(i) of the transpose.
  const strides = perm.map((_, i) => outStrides[perm.indexOf(i)] ?? 0);
  const axis = concat.attrs.axis;
  let offset = 0;
  return concat.args.map((a) => {
    const shape = ctx.shape(a);
    const step = stridedCopyKernel(
      'concat_transpose',
      a.type.dtype,
      shape,
      { buffer: ctx.buffer(a), strides: 'contiguous', base: 0 },
      { buffer: ctx.buffer(transpose.out), strides, base: offset * (strides[axis] ?? 0) },
      ctx.caps,
    );
    offset += shape[axis] ?? 1;
    return step;
  });
}
