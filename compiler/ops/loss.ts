/**
 * `cross_entropy(logits, labels) {labelSmoothing}`: the per-example loss `logsumexp(z) - sum_k t_k z_k` of logits
 * [..., K] against integer labels [...], with the smoothed target `t = (1 - eps) onehot(label) + eps / K`. Fused so
 * the forward pass is one stable log-sum-exp and the gradient is `softmax(z) - t`.
 */

import { shapeEquals, shapeToString } from '../types/shape.js';
import { two, wanted } from './grad-util.js';
import {
  arg,
  concreteOrFail,
  expectArity,
  expectFloat,
  expectIndex,
  fail,
  tensor,
  type GradientRule,
  type TypeRule,
} from './rule.js';

export const lossTypes: { readonly [P in 'cross_entropy']: TypeRule<P> } = {
  cross_entropy: (args, { labelSmoothing }) => {
    expectArity('cross_entropy', args, 2);
    const z = arg(args, 0);
    const labels = arg(args, 1);
    expectFloat('cross_entropy', z);
    expectIndex('cross_entropy', labels);
    const classes = z.shape[z.shape.length - 1];
    if (classes === undefined) fail('cross_entropy: logits need a class axis');
    concreteOrFail('cross_entropy', classes, 'the class count');
    const batch = z.shape.slice(0, -1);
    if (!shapeEquals(batch, labels.shape))
      fail(`cross_entropy: labels ${shapeToString(labels.shape)} do not match logits ${shapeToString(z.shape)}`);
    if (!(labelSmoothing >= 0 && labelSmoothing <= 1))
      fail(`cross_entropy: label smoothing must be in [0, 1], got ${labelSmoothing}`);
    return tensor(z.dtype, batch);
  },
};

export const lossGradients: { readonly [P in 'cross_entropy']: GradientRule<P> } = {
  cross_entropy: (b, eq, g, w) =>
    wanted(w, () => {
      const [z, labels] = two(eq);
      const shape = z.type.shape;
      const k = concreteOrFail('cross_entropy', shape[shape.length - 1] ?? fail('no class axis'), 'the class count');
      const eps = eq.attrs.labelSmoothing;
      const onehot = b.oneHot(labels, k, z.type.dtype);
      const target = eps === 0 ? onehot : b.add(b.mul(onehot, 1 - eps), eps / k);
      const gk = b.reshape(g, [...g.type.shape, 1]);
      return b.mul(gk, b.sub(b.softmax(z, -1), target));
    }),
};
