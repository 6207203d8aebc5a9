/**
 * Counter-based random ops. Each takes a `u32[]` seed tensor (a data input, so every training step can pass a new
 * one) and a `salt` attribute (a per-op stream). The bits come from Philox4x32-10 with key (seed, salt) and counter
 * (element index, 0, 0, 0), using only u32 arithmetic so WGSL reproduces them exactly; see `spec/ir.md` and
 * `runtime/reference/philox.ts`. No gradient flows through a random draw.
 */

import { isFloat, typeToString, type TensorType } from '../types/shape.js';
import type { RandomAttrs } from './op.js';
import { arg, expectArity, fail, NO_GRADIENT, tensor, type GradientRule, type TypeRule } from './rule.js';

type RandomOp = 'random_uniform' | 'random_normal' | 'random_permutation';

function checkSeed(op: string, args: readonly TensorType[]): void {
  expectArity(op, args, 1);
  const seed = arg(args, 0);
  if (seed.dtype !== 'u32' || seed.shape.length !== 0)
    fail(`${op}: the seed must be a u32[] scalar, got ${typeToString(seed)}`);
}

function checkSalt(op: string, salt: number): void {
  if (!Number.isInteger(salt) || salt < 0 || salt > 0xffffffff) fail(`${op}: salt must be a u32, got ${salt}`);
}

function drawType(op: string): (args: readonly TensorType[], attrs: RandomAttrs) => TensorType {
  return (args, { shape, dtype, salt }) => {
    checkSeed(op, args);
    checkSalt(op, salt);
    if (!isFloat(dtype)) fail(`${op}: dtype must be a float, got ${dtype}`);
    return tensor(dtype, shape);
  };
}

export const randomTypes: { readonly [P in RandomOp]: TypeRule<P> } = {
  random_uniform: drawType('random_uniform'),
  random_normal: drawType('random_normal'),
  random_permutation: (args, { n, salt }) => {
    checkSeed('random_permutation', args);
    checkSalt('random_permutation', salt);
    return tensor('i32', [n]);
  },
};

export const randomGradients: { readonly [P in RandomOp]: GradientRule<P> } = {
  random_uniform: NO_GRADIENT,
  random_normal: NO_GRADIENT,
  random_permutation: NO_GRADIENT,
};
