/** The shape of a reference kernel: the reference interpreter's rule for one op. */

import type { OpAttrs, OpName } from '../../compiler/ops/op.js';
import type { DType, SymbolValues } from '../../compiler/types/shape.js';
import type { RefTensor } from './tensor.js';

/** The concrete result type a kernel must produce. */
export interface OutSpec {
  readonly dtype: DType;
  readonly shape: readonly number[];
}

export interface KernelContext {
  /** Values of the dimension symbols (for `dim_size`). */
  readonly symbols: SymbolValues;
}

/** Computes an op's result elements (row-major, float64) from its arguments. */
export type Kernel<P extends OpName> = (
  args: readonly RefTensor[],
  attrs: OpAttrs[P],
  out: OutSpec,
  ctx: KernelContext,
) => Float64Array;

export function argAt(args: readonly RefTensor[], i: number): RefTensor {
  const t = args[i];
  if (t === undefined) throw new RangeError(`missing argument ${i}`);
  return t;
}

/** Checks an index against a size and returns it; out-of-range indices are an error, never a silent clamp. */
export function checkIndex(i: number, n: number, op: string): number {
  if (!Number.isInteger(i) || i < 0 || i >= n) throw new RangeError(`${op}: index ${i} out of range [0, ${n})`);
  return i;
}
