/**
 * How far the two sides of a law may differ and still count as equal (spec/ir.md, "Law tolerance").
 *
 * Both sides are computed in their dtype with rounding after every op, so each may carry rounding error. For a float
 * output the allowance is `8 u A S + tiny`:
 * - `u` is the dtype's unit roundoff (f32 `2^-24`, f16 `2^-11`);
 * - `A` is the output's accumulation length: along the longest path of equations from the inputs to it, the sum of
 *   each equation's reduction length (the number of terms a reduction, matmul contraction, softmax or layer-norm row,
 *   `add_n` or `scatter_add` accumulates into one element; 1 for any other op);
 * - `S` is the largest magnitude of any finite float value either side computes (inputs included), so a difference
 *   of nearly equal large numbers is judged against the numbers it came from.
 * plus the dtype's smallest normal number (f32 `2^-126`, f16 `2^-14`), the absolute error of a result that
 * underflows. Integer and bool outputs must be equal exactly. The factor 8 covers transcendental ulps (erf and exp are accurate
 * to a few ulps on devices) and f32 accumulation order inside device reductions.
 */
import type { Equation, Graph } from '../../compiler/ir/graph.js';
import { concrete, type DType, evalDim, type SymbolValues } from '../../compiler/types/shape.js';

/** The unit roundoff of a float dtype (0 for integers and bool: they compare exactly). */
export function unitRoundoff(dtype: DType): number {
  switch (dtype) {
    case 'f32':
      return 2 ** -24;
    case 'f16':
      return 2 ** -11;
    case 'i32':
    case 'u32':
    case 'bool':
      return 0;
  }
}

/** The smallest normal number of a float dtype (0 for the others). */
export function smallestNormal(dtype: DType): number {
  return dtype === 'f32' ? 2 ** -126 : dtype === 'f16' ? 2 ** -14 : 0;
}

/** The safety factor of the rule. */
export const TOLERANCE_FACTOR = 8;

/** The number of terms one element of `eq`'s result accumulates. */
export function reductionLength(eq: Equation, symbols: SymbolValues): number {
  const arg = eq.args[0];
  const shape = arg === undefined ? [] : arg.type.shape.map((d) => concrete(d) ?? evalDim(d, symbols));
  const last = shape[shape.length - 1] ?? 1;
  if (eq.op === 'reduce_sum' || eq.op === 'reduce_mean' || eq.op === 'reduce_max' || eq.op === 'logsumexp') {
    return eq.attrs.axes.reduce((n, a) => n * (shape[a] ?? 1), 1);
  }
  if (eq.op === 'matmul') return eq.attrs.transposeA ? (shape[shape.length - 2] ?? 1) : last;
  if (eq.op === 'softmax' || eq.op === 'softmax_grad') return shape[eq.attrs.axis] ?? 1;
  if (eq.op === 'layer_norm' || eq.op === 'layer_norm_grad' || eq.op === 'cross_entropy') return last;
  if (eq.op === 'add_n') return eq.args.length;
  if (eq.op === 'scatter_add' || eq.op === 'scatter_add_along_axis') return shape.reduce((n, d) => n * d, 1);
  return 1;
}

/** The accumulation length `A` of every value of the graph, by value id (inputs 0). */
export function accumulationLengths(graph: Graph, symbols: SymbolValues): Map<number, number> {
  const lengths = new Map<number, number>();
  for (const input of graph.inputs) lengths.set(input.value.id, 0);
  for (const eq of graph.equations) {
    const before = Math.max(0, ...eq.args.map((a) => lengths.get(a.id) ?? 0));
    lengths.set(eq.out.id, before + reductionLength(eq, symbols));
  }
  return lengths;
}

/** The allowance for one output: `8 u A S + tiny`. */
export function allowance(dtype: DType, length: number, scale: number): number {
  return TOLERANCE_FACTOR * unitRoundoff(dtype) * Math.max(1, length) * scale + smallestNormal(dtype);
}
