/**
 * Source ops: equations without arguments. `full` is a tensor filled with one number, `constant` a small literal
 * tensor (concrete shape), `dim_size` the run-time value of a possibly symbolic dimension (a mean over the batch
 * divides by it).
 */

import { concrete, numel, shapeToString } from '../types/shape.js';
import { expectArity, fail, NO_GRADIENT, tensor, type GradientRule, type TypeRule } from './rule.js';

type SourceOp = 'full' | 'constant' | 'dim_size';

export const sourceTypes: { readonly [P in SourceOp]: TypeRule<P> } = {
  full: (args, { dtype, shape }) => {
    expectArity('full', args, 0);
    return tensor(dtype, shape);
  },
  constant: (args, { values, dtype, shape }) => {
    expectArity('constant', args, 0);
    const n = concrete(numel(shape));
    if (n === undefined) fail(`constant: shape ${shapeToString(shape)} must be concrete`);
    if (n !== values.length) fail(`constant: ${values.length} values for shape ${shapeToString(shape)}`);
    return tensor(dtype, shape);
  },
  dim_size: (args, { dtype }) => {
    expectArity('dim_size', args, 0);
    return tensor(dtype, []);
  },
};

export const sourceGradients: { readonly [P in SourceOp]: GradientRule<P> } = {
  full: NO_GRADIENT,
  constant: NO_GRADIENT,
  dim_size: NO_GRADIENT,
};
