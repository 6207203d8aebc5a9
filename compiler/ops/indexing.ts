/**
 * Indexing ops. `take` gathers slices along an axis by an index tensor (NumPy's `take`) and `scatter_add` is its
 * adjoint (adds slices into zeros at the indexed positions; repeated indices accumulate). `take_along_axis` and
 * `scatter_add_along_axis` are the per-position pair (NumPy's `take_along_axis`). `one_hot`, `argmax` and `top_k`
 * produce indices or masks and carry no gradient; top-k's values are `take_along_axis(x, top_k(x))`, which does.
 * Indices out of range are an error in the reference interpreter.
 */

import { dim, dimEquals, shapeEquals, shapeToString, type Dim } from '../types/shape.js';
import { two, wanted } from './grad-util.js';
import {
  arg,
  expectArity,
  expectAxis,
  expectIndex,
  fail,
  NO_GRADIENT,
  tensor,
  type GradientRule,
  type TypeRule,
} from './rule.js';

type IndexingOp =
  'take' | 'scatter_add' | 'take_along_axis' | 'scatter_add_along_axis' | 'one_hot' | 'argmax' | 'top_k';

export const indexingTypes: { readonly [P in IndexingOp]: TypeRule<P> } = {
  take: (args, { axis }) => {
    expectArity('take', args, 2);
    const x = arg(args, 0);
    const idx = arg(args, 1);
    expectIndex('take', idx);
    expectAxis('take', axis, x.shape.length);
    return tensor(x.dtype, [...x.shape.slice(0, axis), ...idx.shape, ...x.shape.slice(axis + 1)]);
  },
  scatter_add: (args, { axis, size }) => {
    expectArity('scatter_add', args, 2);
    const idx = arg(args, 0);
    const upd = arg(args, 1);
    expectIndex('scatter_add', idx);
    const r = idx.shape.length;
    if (axis < 0 || axis + r > upd.shape.length) fail(`scatter_add: axis ${axis} out of range`);
    if (!shapeEquals(upd.shape.slice(axis, axis + r), idx.shape))
      fail(
        `scatter_add: updates ${shapeToString(upd.shape)} do not hold indices ${shapeToString(idx.shape)} at axis ${axis}`,
      );
    return tensor(upd.dtype, [...upd.shape.slice(0, axis), size, ...upd.shape.slice(axis + r)]);
  },
  take_along_axis: (args, { axis }) => {
    expectArity('take_along_axis', args, 2);
    const x = arg(args, 0);
    const idx = arg(args, 1);
    expectIndex('take_along_axis', idx);
    expectAxis('take_along_axis', axis, x.shape.length);
    if (idx.shape.length !== x.shape.length || idx.shape.some((d, i) => i !== axis && !dimEquals(d, x.shape[i] as Dim)))
      fail(
        `take_along_axis: indices ${shapeToString(idx.shape)} do not match ${shapeToString(x.shape)} off axis ${axis}`,
      );
    return tensor(x.dtype, idx.shape);
  },
  scatter_add_along_axis: (args, { axis, size }) => {
    expectArity('scatter_add_along_axis', args, 2);
    const idx = arg(args, 0);
    const upd = arg(args, 1);
    expectIndex('scatter_add_along_axis', idx);
    expectAxis('scatter_add_along_axis', axis, upd.shape.length);
    if (!shapeEquals(idx.shape, upd.shape))
      fail(
        `scatter_add_along_axis: indices ${shapeToString(idx.shape)} and updates ${shapeToString(upd.shape)} differ`,
      );
    return tensor(
      upd.dtype,
      upd.shape.map((d, i) => (i === axis ? size : d)),
    );
  },
  one_hot: (args, { depth, dtype }) => {
    expectArity('one_hot', args, 1);
    const idx = arg(args, 0);
    expectIndex('one_hot', idx);
    if (!Number.isInteger(depth) || depth < 1) fail(`one_hot: depth must be a positive integer, got ${depth}`);
    return tensor(dtype, [...idx.shape, dim(depth)]);
  },
  argmax: (args, { axis }) => {
    expectArity('argmax', args, 1);
    const x = arg(args, 0);
    expectAxis('argmax', axis, x.shape.length);
    return tensor(
      'i32',
      x.shape.filter((_, i) => i !== axis),
    );
  },
  top_k: (args, { k }) => {
    expectArity('top_k', args, 1);
    const x = arg(args, 0);
    const last = x.shape[x.shape.length - 1];
    if (last === undefined) fail('top_k needs at least one axis');
    if (!Number.isInteger(k) || k < 1 || (last.syms.length === 0 && k > last.coeff))
      fail(`top_k: k = ${k} out of range for ${shapeToString(x.shape)}`);
    return tensor('i32', [...x.shape.slice(0, -1), dim(k)]);
  },
};

export const indexingGradients: { readonly [P in IndexingOp]: GradientRule<P> } = {
  take: (b, eq, g, w) => {
    const [x, idx] = two(eq);
    const axis = eq.attrs.axis;
    return wanted(w, () => b.scatterAdd(idx, g, axis, x.type.shape[axis] as Dim));
  },
  scatter_add: (b, eq, g, w) => {
    const [idx] = two(eq);
    return wanted(w, undefined, () => b.take(g, idx, eq.attrs.axis));
  },
  take_along_axis: (b, eq, g, w) => {
    const [x, idx] = two(eq);
    const axis = eq.attrs.axis;
    return wanted(w, () => b.scatterAddAlongAxis(idx, g, axis, x.type.shape[axis] as Dim));
  },
  scatter_add_along_axis: (b, eq, g, w) => {
    const [idx] = two(eq);
    return wanted(w, undefined, () => b.takeAlongAxis(g, idx, eq.attrs.axis));
  },
  one_hot: NO_GRADIENT,
  argmax: NO_GRADIENT,
  top_k: NO_GRADIENT,
};
