/**
 * The op registry: one table per rule kind, each typed over the whole op union, so an op missing from any table is a
 * compile error. A later stage adds its own table the same way, e.g. the WGSL lowering:
 *
 *     export const WGSL_RULES: { readonly [P in OpName]: WgslRule<P> } = { ...elementwiseWgsl, ... };
 *
 * The reference interpreter's table is `runtime/reference/kernels.ts`.
 */

import type { TensorType } from '../types/shape.js';
import { elementwiseGradients, elementwiseTypes } from './elementwise.js';
import { indexingGradients, indexingTypes } from './indexing.js';
import { layoutGradients, layoutTypes } from './layout.js';
import { linalgGradients, linalgTypes } from './linalg.js';
import { lossGradients, lossTypes } from './loss.js';
import type { OpAttrs, OpName } from './op.js';
import { randomGradients, randomTypes } from './random.js';
import { reduceGradients, reduceTypes } from './reduce.js';
import { NO_GRADIENT, type GradientRule, type TypeRule } from './rule.js';
import { sourceGradients, sourceTypes } from './sources.js';

/** The dtype and shape rule of every op. */
export const TYPE_RULES: { readonly [P in OpName]: TypeRule<P> } = {
  ...sourceTypes,
  ...elementwiseTypes,
  ...reduceTypes,
  ...lossTypes,
  ...linalgTypes,
  ...layoutTypes,
  ...indexingTypes,
  ...randomTypes,
};

/** The VJP of every op, or `NO_GRADIENT`. */
export const VJP_RULES: { readonly [P in OpName]: GradientRule<P> } = {
  ...sourceGradients,
  ...elementwiseGradients,
  ...reduceGradients,
  ...lossGradients,
  ...linalgGradients,
  ...layoutGradients,
  ...indexingGradients,
  ...randomGradients,
};

/** The result type of `op(args) {attrs}`; throws `IrTypeError` when the rule rejects them. */
export function inferType<P extends OpName>(op: P, args: readonly TensorType[], attrs: OpAttrs[P]): TensorType {
  const rule: TypeRule<P> = TYPE_RULES[op];
  return rule(args, attrs);
}

/** Whether gradients flow through `op` at all. */
export function isDifferentiable(op: OpName): boolean {
  return VJP_RULES[op] !== NO_GRADIENT;
}
