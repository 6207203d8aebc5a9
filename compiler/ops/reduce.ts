/**
 * Reductions over a set of axes (`reduce_sum`, `reduce_mean`, `reduce_max`, `logsumexp`) and the two fused
 * normalisations that need stable numerics: `softmax` along one axis and `layer_norm` over the last axis (no affine
 * parameters; `GraphBuilder.layerNormAffine` multiplies and adds them).
 */

import { concrete, mulDim, dim, shapeEquals, typeToString, type TensorType } from '../types/shape.js';
import type { GraphBuilder } from '../ir/builder.js';
import type { Value } from '../ir/graph.js';
import { expandReduced, keptShape, one, two, wanted } from './grad-util.js';
import type { ReduceAttrs, ReduceOp } from './op.js';
import { arg, expectArity, expectAxis, expectFloat, fail, tensor, type GradientRule, type TypeRule } from './rule.js';

type ReduceFamilyOp = ReduceOp | 'softmax' | 'softmax_grad' | 'layer_norm' | 'layer_norm_grad';

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
  softmax_grad: (args, { axis }) => {
    expectArity('softmax_grad', args, 2);
    const y = arg(args, 0);
    const g = arg(args, 1);
    expectFloat('softmax_grad', y);
    expectAxis('softmax_grad', axis, y.shape.length);
    if (g.dtype !== y.dtype || !shapeEquals(g.shape, y.shape))
      fail(`softmax_grad: the cotangent ${typeToString(g)} must match the probabilities ${typeToString(y)}`);
    return y;
  },
  layer_norm: (args, { eps }) => {
    expectArity('layer_norm', args, 1);
    const x = arg(args, 0);
    expectFloat('layer_norm', x);
    if (x.shape.length === 0) fail('layer_norm needs at least one axis');
    if (!(eps >= 0)) fail(`layer_norm: eps must be non-negative, got ${eps}`);
    return x;
  },
  layer_norm_grad: (args, { eps }) => {
    expectArity('layer_norm_grad', args, 2);
    const x = arg(args, 0);
    const g = arg(args, 1);
    expectFloat('layer_norm_grad', x);
    if (x.shape.length === 0) fail('layer_norm_grad needs at least one axis');
    if (g.dtype !== x.dtype || !shapeEquals(g.shape, x.shape))
      fail(`layer_norm_grad: the cotangent ${typeToString(g)} must match the input ${typeToString(x)}`);
    if (!(eps >= 0)) fail(`layer_norm_grad: eps must be non-negative, got ${eps}`);
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
  // dx = y (g - sum(g y)) along the axis: one op, one row kernel.
  softmax: (b, eq, g, w) => wanted(w, () => b.softmaxGrad(eq.out, g, eq.attrs.axis)),
  softmax_grad: (b, eq, h, w) => {
    const [y, g] = two(eq);
    const { axis } = eq.attrs;
    return wanted(
      w,
      // z = y (g - s), s = sum(g y): dz_i/dy_k = [i = k] (g_i - s) - y_i g_k, so the cotangent of y is
      // h (g - s) - g sum(h y).
      () => b.sub(b.mul(h, b.sub(g, b.sum(b.mul(g, y), axis, true))), b.mul(g, b.sum(b.mul(h, y), axis, true))),
      // The map g -> z is the softmax's Jacobian diag(y) - y y^T, which is symmetric.
      () => b.softmaxGrad(y, h, axis),
    );
  },
  // dx = rstd * (g - mean(g) - y * mean(g * y)), all means over the last axis: one op, one row kernel.
  layer_norm: (b, eq, g, w) => wanted(w, () => b.layerNormGrad(one(eq), g, eq.attrs.eps)),
  layer_norm_grad: (b, eq, h, w) => {
    const [x, g] = two(eq);
    const { eps } = eq.attrs;
    return wanted(
      w,
      () => {
        // With y = rstd (g - mean(g) - xh m), xh = (x - mean(x)) rstd, m = mean(g xh) and L = sum(h y):
        // the cotangent u of xh and c of rstd, then back through xh = xc rstd and rstd = (mean(xc^2) + eps)^-1/2.
        const d = lastDim(b, x);
        const xc = b.sub(x, b.mean(x, -1, true));
        const rstd = b.rsqrt(b.add(b.mean(b.mul(xc, xc), -1, true), eps));
        const xh = b.mul(xc, rstd);
        const m = b.mean(b.mul(g, xh), -1, true);
        const hx = b.sum(b.mul(h, xh), -1, true);
        const a = b.sum(b.mul(h, b.sub(g, b.mean(g, -1, true))), -1, true);
        const u = b.neg(b.mul(rstd, b.add(b.div(b.mul(hx, g), d), b.mul(m, h))));
        const c = b.add(b.sub(a, b.mul(m, hx)), b.div(b.sum(b.mul(u, xh), -1, true), rstd));
        const wx = b.sub(b.mul(rstd, u), b.div(b.mul(b.mul(c, b.mul(rstd, rstd)), xh), d));
        return b.sub(wx, b.mean(wx, -1, true));
      },
      // The map g -> y is the layer norm's Jacobian, which is symmetric.
      () => b.layerNormGrad(x, h, eps),
    );
  },
};

/** The size of `x`'s last axis: a number, or a `dim_size` of x's dtype where it is symbolic. */
function lastDim(b: GraphBuilder, x: Value): number | Value {
  const last = x.type.shape[x.type.shape.length - 1] ?? dim(1);
  return concrete(last) ?? b.dimSize(last, x.type.dtype);
}
