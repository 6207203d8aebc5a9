/**
 * Reductions over a set of axes (`reduce_sum`, `reduce_mean`, `reduce_max`, `logsumexp`) and the two fused
 * normalisations that need stable numerics: `softmax` along one axis and `layer_norm` over the last axis (no affine
 * parameters; `GraphBuilder.layerNormAffine` multiplies and adds them).
 */

import { concrete, mulDim, dim, typeToString, type TensorType } from '../types/shape.js';
import { expandReduced, keptShape, one, wanted } from './grad-util.js';
import type { ReduceAttrs, ReduceOp } from './op.js';
import { arg, expectArity, expectAxis, expectFloat, fail, tensor, type GradientRule, type TypeRule } from './rule.js';

type ReduceFamilyOp = ReduceOp | 'softmax' | 'layer_norm';

function reduceType(op: string, float: boolean): (args: readonly TensorType[], attrs: ReduceAttrs) => TensorType {
  return (args, { axes, keepdims }) => {
    expectArity(op, args, 1);
    const x = arg(args, 0);
    if (float) expectFloat(op, x);
    else if (x.dtype === 'bool') fail(`${op} needs a numeric argument, got ${typeToString(x)}`);
    const rank = x.shape.length;
    axes.forEach((a, i) => {
      expectAxis(op, a, rank);
      if (i > 0 && a <= (axes[i - 1] ?? -1)) fail(`${op}: axes must be distinct and sorted, got [${axes.join(', ')}]`);
    });
    const shape = keepdims ? keptShape(x.shape, axes) : x.shape.filter((_, i) => !axes.includes(i));
    return tensor(x.dtype, shape);
  };
}

export const reduceTypes: { readonly [P in ReduceFamilyOp]: TypeRule<P> } = {
  reduce_sum: reduceType('reduce_sum', false),
  reduce_mean: reduceType('reduce_mean', true),
  reduce_max: reduceType('reduce_max', false),
  logsumexp: reduceType('logsumexp', true),
  softmax: (args, { axis }) => {
    expectArity('softmax', args, 1);
    const x = arg(args, 0);
    expectFloat('softmax', x);
    expectAxis('softmax', axis, x.shape.length);
    return x;
  },
  layer_norm: (args, { eps }) => {
    expectArity('layer_norm', args, 1);
    const x = arg(args, 0);
    expectFloat('layer_norm', x);
    if (x.shape.length === 0) fail('layer_norm needs at least one axis');
    if (!(eps >= 0)) fail(`layer_norm: eps must be non-negative, got ${eps}`);
    return x;
  },
};

export const reduceGradients: { readonly [P in ReduceFamilyOp]: GradientRule<P> } = {
  reduce_sum: (b, eq, g, w) =>
    wanted(w, () => expandReduced(b, g, one(eq).type.shape, eq.attrs.axes, eq.attrs.keepdims)),
  reduce_mean: (b, eq, g, w) =>
    wanted(w, () => {
      const x = one(eq);
      const spread = expandReduced(b, g, x.type.shape, eq.attrs.axes, eq.attrs.keepdims);
      const count = eq.attrs.axes.reduce((n, a) => mulDim(n, x.type.shape[a] ?? dim(1)), dim(1));
      const n = concrete(count);
      return b.div(spread, n ?? b.dimSize(count, x.type.dtype));
    }),
  reduce_max: (b, eq, g, w) =>
    wanted(w, () => {
      // The cotangent is shared equally among the positions that attain the maximum.
      const x = one(eq);
      const { axes, keepdims } = eq.attrs;
      const kept = keepdims ? eq.out : b.reshape(eq.out, keptShape(x.type.shape, axes));
      const mask = b.cast(b.equal(x, kept), x.type.dtype);
      const share = b.div(mask, b.sum(mask, axes, true));
      return b.mul(expandReduced(b, g, x.type.shape, axes, keepdims), share);
    }),
  logsumexp: (b, eq, g, w) =>
    wanted(w, () => {
      const x = one(eq);
      const { axes, keepdims } = eq.attrs;
      const kept = keepdims ? eq.out : b.reshape(eq.out, keptShape(x.type.shape, axes));
      return b.mul(expandReduced(b, g, x.type.shape, axes, keepdims), b.exp(b.sub(x, kept)));
    }),
  softmax: (b, eq, g, w) =>
    wanted(w, () => {
      const y = eq.out;
      const gy = b.mul(g, y);
      return b.sub(gy, b.mul(y, b.sum(gy, eq.attrs.axis, true)));
    }),
  layer_norm: (b, eq, g, w) =>
    wanted(w, () => {
      // dx = rstd * (g - mean(g) - y * mean(g * y)), all means over the last axis.
      const x = one(eq);
      const y = eq.out;
      const centred = b.sub(x, b.mean(x, -1, true));
      const rstd = b.rsqrt(b.add(b.mean(b.mul(centred, centred), -1, true), eq.attrs.eps));
      const inner = b.sub(b.sub(g, b.mean(g, -1, true)), b.mul(y, b.mean(b.mul(g, y), -1, true)));
      return b.mul(rstd, inner);
    }),
};
