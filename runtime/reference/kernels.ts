/**
 * The reference interpreter's rule table, typed over the whole op union (a missing op is a compile error): the
 * families' kernels plus the sources and the random ops.
 */

import type { OpName } from '../../compiler/ops/op.js';
import { evalDim } from '../../compiler/types/shape.js';
import { argAt, type Kernel } from './kernel.js';
import { elementwiseKernels } from './kernels-elementwise.js';
import { layoutKernels } from './kernels-layout.js';
import { reduceKernels } from './kernels-reduce.js';
import { normalFromBits, randomWords, uniformFromBits } from './philox.js';
import { size } from './tensor.js';

type SourceOp = 'full' | 'constant' | 'dim_size' | 'random_uniform' | 'random_normal' | 'random_permutation';

function seedOf(args: Parameters<Kernel<'random_uniform'>>[0]): number {
  return (argAt(args, 0).data[0] ?? 0) >>> 0;
}

/** The random permutation of 0..n-1 for (seed, salt): indices sorted by their Philox key word 0, ties by index. */
export function randomPermutation(seed: number, salt: number, n: number): number[] {
  const keys = Array.from({ length: n }, (_, i) => randomWords(seed, salt, i)[0]);
  return Array.from({ length: n }, (_, i) => i).sort((p, q) => (keys[p] as number) - (keys[q] as number) || p - q);
}

const sourceKernels: { readonly [P in SourceOp]: Kernel<P> } = {
  full: (_args, { value }, out) => new Float64Array(size(out.shape)).fill(value),
  constant: (_args, { values }) => Float64Array.from(values),
  dim_size: (_args, { dim }, _out, ctx) => Float64Array.of(evalDim(dim, ctx.symbols)),
  random_uniform: (args, { salt }, out) => {
    const seed = seedOf(args);
    return Float64Array.from({ length: size(out.shape) }, (_, i) => uniformFromBits(randomWords(seed, salt, i)[0]));
  },
  random_normal: (args, { salt }, out) => {
    const seed = seedOf(args);
    return Float64Array.from({ length: size(out.shape) }, (_, i) => {
      const [w0, w1] = randomWords(seed, salt, i);
      return normalFromBits(w0, w1);
    });
  },
  random_permutation: (args, { salt }, out) =>
    Float64Array.from(randomPermutation(seedOf(args), salt, out.shape[0] ?? 0)),
};

export const REFERENCE_KERNELS: { readonly [P in OpName]: Kernel<P> } = {
  ...sourceKernels,
  ...elementwiseKernels,
  ...reduceKernels,
  ...layoutKernels,
};
