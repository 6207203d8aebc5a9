/**
 * Elementwise ops: unary maps, broadcasting binary arithmetic and comparisons, `where`, and the n-ary `add_n`.
 * Binary ops need equal dtypes (no implicit promotion; the builder gives a bare number the other operand's dtype) and
 * broadcast as NumPy does. VJPs sum cotangents back over broadcast axes (`unbroadcast`).
 */

import { isFloat, shapeEquals, typeToString, type TensorType } from '../types/shape.js';
import { one, three, two, unbroadcast, wanted } from './grad-util.js';
import type { ArithmeticOp, ComparisonOp, UnaryOp } from './op.js';
import {
  arg,
  broadcastOrFail,
  expectArity,
  expectFloat,
  expectSameDtype,
  fail,
  NO_GRADIENT,
  tensor,
  type GradientRule,
  type TypeRule,
} from './rule.js';

type ElementwiseOp = UnaryOp | ArithmeticOp | ComparisonOp | 'where' | 'add_n';

function floatUnary(op: string): TypeRule<UnaryOp> {
  return (args) => {
    expectArity(op, args, 1);
    const x = arg(args, 0);
    expectFloat(op, x);
    return x;
  };
}

function numericUnary(op: string): TypeRule<UnaryOp> {
  return (args) => {
    expectArity(op, args, 1);
    const x = arg(args, 0);
    if (x.dtype === 'bool') fail(`${op} needs a numeric argument, got ${typeToString(x)}`);
    return x;
  };
}

function binary(op: string, float: boolean): (args: readonly TensorType[]) => TensorType {
  return (args) => {
    expectArity(op, args, 2);
    const a = arg(args, 0);
    const b = arg(args, 1);
    expectSameDtype(op, a, b);
    if (float) expectFloat(op, a);
    else if (a.dtype === 'bool') fail(`${op} needs numeric arguments, got ${typeToString(a)}`);
    return tensor(a.dtype, broadcastOrFail(op, a.shape, b.shape));
  };
}

function comparison(op: string): (args: readonly TensorType[]) => TensorType {
  return (args) => {
    expectArity(op, args, 2);
    const a = arg(args, 0);
    const b = arg(args, 1);
    expectSameDtype(op, a, b);
    return tensor('bool', broadcastOrFail(op, a.shape, b.shape));
  };
}

export const elementwiseTypes: { readonly [P in ElementwiseOp]: TypeRule<P> } = {
  neg: numericUnary('neg'),
  exp: floatUnary('exp'),
  log: floatUnary('log'),
  sqrt: floatUnary('sqrt'),
  rsqrt: floatUnary('rsqrt'),
  tanh: floatUnary('tanh'),
  erf: floatUnary('erf'),
  acos: floatUnary('acos'),
  gelu: floatUnary('gelu'),
  gelu_grad: floatUnary('gelu_grad'),
  relu: numericUnary('relu'),
  sigmoid: floatUnary('sigmoid'),
  abs: numericUnary('abs'),
  cast: (args, { dtype }) => {
    expectArity('cast', args, 1);
    return tensor(dtype, arg(args, 0).shape);
  },
  stop_gradient: (args) => {
    expectArity('stop_gradient', args, 1);
    return arg(args, 0);
  },
  add: binary('add', false),
  sub: binary('sub', false),
  mul: binary('mul', false),
  div: binary('div', false),
  pow: binary('pow', true),
  maximum: binary('maximum', false),
  minimum: binary('minimum', false),
  less: comparison('less'),
  less_equal: comparison('less_equal'),
  greater: comparison('greater'),
  greater_equal: comparison('greater_equal'),
  equal: comparison('equal'),
  not_equal: comparison('not_equal'),
  where: (args) => {
    expectArity('where', args, 3);
    const c = arg(args, 0);
    const a = arg(args, 1);
    const b = arg(args, 2);
    if (c.dtype !== 'bool') fail(`where: the condition must be bool, got ${typeToString(c)}`);
    expectSameDtype('where', a, b);
    return tensor(a.dtype, broadcastOrFail('where', broadcastOrFail('where', c.shape, a.shape), b.shape));
  },
  add_n: (args) => {
    const first = args[0];
    if (first === undefined) fail('add_n needs at least one argument');
    for (const t of args) {
      if (t.dtype !== first.dtype || !shapeEquals(t.shape, first.shape))
        fail(`add_n: all arguments need one type, got ${typeToString(first)} and ${typeToString(t)}`);
    }
    if (first.dtype === 'bool') fail('add_n needs numeric arguments');
    return first;
  },
};

const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);
const GELU_TANH_C = 0.044715;

export const elementwiseGradients: { readonly [P in ElementwiseOp]: GradientRule<P> } = {
  neg: (b, _eq, g, w) => wanted(w, () => b.neg(g)),
  exp: (b, eq, g, w) => wanted(w, () => b.mul(g, eq.out)),
  log: (b, eq, g, w) => wanted(w, () => b.div(g, one(eq))),
  sqrt: (b, eq, g, w) => wanted(w, () => b.div(b.mul(g, 0.5), eq.out)),
  rsqrt: (b, eq, g, w) => wanted(w, () => b.mul(b.mul(g, -0.5), b.div(eq.out, one(eq)))),
  tanh: (b, eq, g, w) => wanted(w, () => b.mul(g, b.sub(1, b.mul(eq.out, eq.out)))),
  erf: (b, eq, g, w) =>
    wanted(w, () => {
      const x = one(eq);
      return b.mul(g, b.mul(2 / Math.sqrt(Math.PI), b.exp(b.neg(b.mul(x, x)))));
    }),
  acos: (b, eq, g, w) =>
    wanted(w, () => {
      const x = one(eq);
      return b.neg(b.mul(g, b.rsqrt(b.sub(1, b.mul(x, x)))));
    }),
  gelu: (b, eq, g, w) => wanted(w, () => b.mul(g, b.geluGrad(one(eq), eq.attrs.approximate))),
  gelu_grad: (b, eq, g, w) =>
    wanted(w, () => {
      const x = one(eq);
      const x2 = b.mul(x, x);
      if (eq.attrs.approximate === 'none') {
        // d/dx (Phi(x) + x phi(x)) = 2 phi(x) - x^2 phi(x).
        const pdf = b.mul(1 / Math.sqrt(2 * Math.PI), b.exp(b.mul(-0.5, x2)));
        return b.mul(g, b.mul(pdf, b.sub(2, x2)));
      }
      // y' = 0.5 (1 + t) + 0.5 x (1 - t^2) u', t = tanh(u), u = c (x + a x^3), u' = c (1 + 3 a x^2), u'' = 6 c a x:
      // y'' = (1 - t^2) (u' - x t u'^2 + 0.5 x u'').
      const t = b.tanh(b.mul(SQRT_2_OVER_PI, b.add(x, b.mul(GELU_TANH_C, b.mul(x2, x)))));
      const du = b.mul(SQRT_2_OVER_PI, b.add(1, b.mul(3 * GELU_TANH_C, x2)));
      const halfDdu = b.mul(3 * SQRT_2_OVER_PI * GELU_TANH_C, x);
      const inner = b.add(b.sub(du, b.mul(b.mul(x, t), b.mul(du, du))), b.mul(x, halfDdu));
      return b.mul(g, b.mul(b.sub(1, b.mul(t, t)), inner));
    }),
  relu: (b, eq, g, w) => wanted(w, () => b.where(b.greater(one(eq), 0), g, 0)),
  sigmoid: (b, eq, g, w) => wanted(w, () => b.mul(g, b.mul(eq.out, b.sub(1, eq.out)))),
  abs: (b, eq, g, w) => wanted(w, () => b.where(b.greaterEqual(one(eq), 0), g, b.neg(g))),
  cast: (b, eq, g, w) => {
    const x = one(eq);
    return wanted(w, () => (isFloat(x.type.dtype) ? b.cast(g, x.type.dtype) : undefined));
  },
  stop_gradient: NO_GRADIENT,
  add: (b, eq, g, w) => {
    const [x, y] = two(eq);
    return wanted(
      w,
      () => unbroadcast(b, g, x.type.shape),
      () => unbroadcast(b, g, y.type.shape),
    );
  },
  sub: (b, eq, g, w) => {
    const [x, y] = two(eq);
    return wanted(
      w,
      () => unbroadcast(b, g, x.type.shape),
      () => unbroadcast(b, b.neg(g), y.type.shape),
    );
  },
  mul: (b, eq, g, w) => {
    const [x, y] = two(eq);
    return wanted(
      w,
      () => unbroadcast(b, b.mul(g, y), x.type.shape),
      () => unbroadcast(b, b.mul(g, x), y.type.shape),
    );
  },
  div: (b, eq, g, w) => {
    const [x, y] = two(eq);
    return wanted(
      w,
      () => unbroadcast(b, b.div(g, y), x.type.shape),
      () => unbroadcast(b, b.neg(b.div(b.mul(g, eq.out), y)), y.type.shape),
    );
  },
  pow: (b, eq, g, w) => {
    const [x, y] = two(eq);
    return wanted(
      w,
      () => unbroadcast(b, b.mul(g, b.mul(y, b.pow(x, b.sub(y, 1)))), x.type.shape),
      () => unbroadcast(b, b.mul(g, b.mul(eq.out, b.log(x))), y.type.shape),
    );
  },
  maximum: (b, eq, g, w) => {
    const [x, y] = two(eq);
    return wanted(
      w,
      () => unbroadcast(b, b.where(b.greaterEqual(x, y), g, 0), x.type.shape),
      () => unbroadcast(b, b.where(b.greaterEqual(x, y), 0, g), y.type.shape),
    );
  },
  minimum: (b, eq, g, w) => {
    const [x, y] = two(eq);
    return wanted(
      w,
      () => unbroadcast(b, b.where(b.lessEqual(x, y), g, 0), x.type.shape),
      () => unbroadcast(b, b.where(b.lessEqual(x, y), 0, g), y.type.shape),
    );
  },
  less: NO_GRADIENT,
  less_equal: NO_GRADIENT,
  greater: NO_GRADIENT,
  greater_equal: NO_GRADIENT,
  equal: NO_GRADIENT,
  not_equal: NO_GRADIENT,
  where: (b, eq, g, w) => {
    const [c, x, y] = three(eq);
    return wanted(
      w,
      undefined,
      () => unbroadcast(b, b.where(c, g, 0), x.type.shape),
      () => unbroadcast(b, b.where(c, 0, g), y.type.shape),
    );
  },
  add_n: (_b, eq, g, w) => eq.args.map((_, i) => (w[i] === true ? g : undefined)),
};
