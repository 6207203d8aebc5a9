/**
 * Layout ops: `reshape` (same element count, row-major order), `transpose` (a permutation of the axes),
 * `broadcast_to` (NumPy broadcasting to an explicit shape), `concat` along an axis, `slice` of a range along one axis
 * and its adjoint `pad` (zeros before and after along one axis). Sizes along a concatenated, sliced or padded axis
 * must be concrete.
 */

import { dim, dimEquals, numel, shapeEquals, shapeToString, type Dim, type TensorType } from '../types/shape.js';
import { one, unbroadcast, wanted } from './grad-util.js';
import {
  arg,
  broadcastOrFail,
  concreteOrFail,
  expectArity,
  expectAxis,
  fail,
  tensor,
  type GradientRule,
  type TypeRule,
} from './rule.js';

type LayoutOp = 'reshape' | 'transpose' | 'broadcast_to' | 'concat' | 'slice' | 'pad';

/** The inverse of a permutation. */
export function invertPermutation(perm: readonly number[]): number[] {
  const inv = new Array<number>(perm.length).fill(0);
  perm.forEach((p, i) => (inv[p] = i));
  return inv;
}

function replaceAxis(t: TensorType, axis: number, d: Dim): TensorType {
  return tensor(
    t.dtype,
    t.shape.map((x, i) => (i === axis ? d : x)),
  );
}

export const layoutTypes: { readonly [P in LayoutOp]: TypeRule<P> } = {
  reshape: (args, { shape }) => {
    expectArity('reshape', args, 1);
    const x = arg(args, 0);
    if (!dimEquals(numel(x.shape), numel(shape)))
      fail(`reshape: ${shapeToString(x.shape)} and ${shapeToString(shape)} differ in element count`);
    return tensor(x.dtype, shape);
  },
  transpose: (args, { perm }) => {
    expectArity('transpose', args, 1);
    const x = arg(args, 0);
    const rank = x.shape.length;
    const seen = new Set(perm);
    if (perm.length !== rank || seen.size !== rank || perm.some((p) => !Number.isInteger(p) || p < 0 || p >= rank))
      fail(`transpose: [${perm.join(', ')}] is not a permutation of ${rank} axes`);
    return tensor(
      x.dtype,
      perm.map((p) => x.shape[p] as Dim),
    );
  },
  broadcast_to: (args, { shape }) => {
    expectArity('broadcast_to', args, 1);
    const x = arg(args, 0);
    const result = broadcastOrFail('broadcast_to', x.shape, shape);
    if (x.shape.length > shape.length || !shapeEquals(result, shape))
      fail(`broadcast_to: ${shapeToString(x.shape)} does not broadcast to ${shapeToString(shape)}`);
    return tensor(x.dtype, shape);
  },
  concat: (args, { axis }) => {
    const first = args[0];
    if (first === undefined) fail('concat needs at least one argument');
    expectAxis('concat', axis, first.shape.length);
    let total = 0;
    for (const t of args) {
      if (t.dtype !== first.dtype || t.shape.length !== first.shape.length)
        fail('concat: arguments need one dtype and one rank');
      t.shape.forEach((d, i) => {
        if (i !== axis && !dimEquals(d, first.shape[i] as Dim))
          fail(`concat: ${shapeToString(t.shape)} and ${shapeToString(first.shape)} differ off axis ${axis}`);
      });
      total += concreteOrFail('concat', t.shape[axis] as Dim, 'the concatenated axis');
    }
    return replaceAxis(first, axis, dim(total));
  },
  slice: (args, { axis, start, end }) => {
    expectArity('slice', args, 1);
    const x = arg(args, 0);
    expectAxis('slice', axis, x.shape.length);
    const size = concreteOrFail('slice', x.shape[axis] as Dim, 'the sliced axis');
    if (!Number.isInteger(start) || !Number.isInteger(end) || start < 0 || end <= start || end > size)
      fail(`slice: range [${start}, ${end}) out of bounds for size ${size}`);
    return replaceAxis(x, axis, dim(end - start));
  },
  pad: (args, { axis, before, after }) => {
    expectArity('pad', args, 1);
    const x = arg(args, 0);
    expectAxis('pad', axis, x.shape.length);
    const size = concreteOrFail('pad', x.shape[axis] as Dim, 'the padded axis');
    if (!Number.isInteger(before) || !Number.isInteger(after) || before < 0 || after < 0)
      fail(`pad: before and after must be non-negative integers, got ${before} and ${after}`);
    return replaceAxis(x, axis, dim(size + before + after));
  },
};

export const layoutGradients: { readonly [P in LayoutOp]: GradientRule<P> } = {
  reshape: (b, eq, g, w) => wanted(w, () => b.reshape(g, one(eq).type.shape)),
  transpose: (b, eq, g, w) => wanted(w, () => b.transpose(g, invertPermutation(eq.attrs.perm))),
  broadcast_to: (b, eq, g, w) => wanted(w, () => unbroadcast(b, g, one(eq).type.shape)),
  concat: (b, eq, g, w) => {
    const axis = eq.attrs.axis;
    let offset = 0;
    return eq.args.map((x, i) => {
      const size = concreteOrFail('concat', x.type.shape[axis] as Dim, 'the concatenated axis');
      const start = offset;
      offset += size;
      return w[i] === true ? b.slice(g, axis, start, start + size) : undefined;
    });
  },
  slice: (b, eq, g, w) =>
    wanted(w, () => {
      const { axis, start, end } = eq.attrs;
      const size = concreteOrFail('slice', one(eq).type.shape[axis] as Dim, 'the sliced axis');
      return b.pad(g, axis, start, size - end);
    }),
  pad: (b, eq, g, w) =>
    wanted(w, () => {
      const { axis, before } = eq.attrs;
      const size = concreteOrFail('pad', one(eq).type.shape[axis] as Dim, 'the padded axis');
      return b.slice(g, axis, before, before + size);
    }),
};
