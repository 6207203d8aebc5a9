/**
 * Sums folded into the matmul that reads what they sum. A linear layer `y = x W^T + b` has the weight gradient
 * `dW = dy^T x`, a matmul reading dy transposed (stored [rows, out], read as [out, rows]), and the bias gradient
 * `db = reduce_sum(dy)` over every axis but the last: the sum over k of each row of that same op(A). The matmul
 * kernel loads every one of those values anyway, so it adds them up as it goes and stores the sums beside the product
 * (`MatmulStep.rowSums`), and the reduction needs no kernel (two, where it runs in two passes) of its own.
 */

import type { Equation, EquationOf, Graph, Value } from '../../../ir/graph.js';
import { sizeOf } from './common.js';

/**
 * The reductions a matmul computes beside its product, by the matmul's result id: `reduce_sum(x)` over every axis of
 * x but the last, where the matmul reads x as its transposed A through reshapes alone (so op(A)[m, k] is x's element
 * k * M + m, M being x's last axis), with one matrix (no batch) and f32 throughout. Every reader of the sums (through
 * reshapes) must come after the matmul, which is where they are computed. `eligible` tells which matmuls may take
 * them (not one inside an attention kernel, not one reading A in place through strides).
 */
export function foldedRowSums(
  graph: Graph,
  shapeOf: (v: Value) => number[],
  eligible: (matmul: EquationOf<'matmul'>) => boolean,
): Map<number, EquationOf<'reduce_sum'>> {
  const defs = new Map<number, Equation>();
  const position = new Map<number, number>();
  const readers = new Map<number, Equation[]>();
  graph.equations.forEach((eq, i) => {
    defs.set(eq.out.id, eq);
    position.set(eq.out.id, i);
    for (const a of eq.args) {
      const list = readers.get(a.id);
      if (list) list.push(eq);
      else readers.set(a.id, [eq]);
    }
  });
  /** The value a chain of reshapes starts from. */
  const root = (v: Value): number => {
    let def = defs.get(v.id);
    let id = v.id;
    while (def?.op === 'reshape' && def.args[0]) {
      id = def.args[0].id;
      def = defs.get(id);
    }
    return id;
  };
  /** Whether every reader of `v` other than reshapes (followed) comes after position `at`. */
  const readAfter = (v: Value, at: number): boolean =>
    (readers.get(v.id) ?? []).every((r) =>
      r.op === 'reshape' ? readAfter(r.out, at) : (position.get(r.out.id) ?? -1) > at,
    );
  // The candidate sums, by the value they reduce.
  const byInput = new Map<number, EquationOf<'reduce_sum'>[]>();
  for (const eq of graph.equations) {
    if (eq.op !== 'reduce_sum') continue;
    const [x] = eq.args;
    const shape = x && shapeOf(x);
    if (!x || !shape || shape.length < 2 || x.type.dtype !== 'f32' || eq.out.type.dtype !== 'f32') continue;
    const axes = [...eq.attrs.axes].sort((p, q) => p - q);
    if (axes.length !== shape.length - 1 || axes.some((axis, i) => axis !== i)) continue;
    const id = root(x);
    const list = byInput.get(id);
    if (list) list.push(eq);
    else byInput.set(id, [eq]);
  }
  const result = new Map<number, EquationOf<'reduce_sum'>>();
  const claimed = new Set<number>();
  for (const eq of graph.equations) {
    if (eq.op !== 'matmul' || !eq.attrs.transposeA || eq.out.type.dtype !== 'f32') continue;
    const [a] = eq.args;
    if (a?.type.dtype !== 'f32' || shapeOf(a).length !== 2 || shapeOf(eq.out).length !== 2) continue;
    if (!eligible(eq)) continue;
    const m = shapeOf(eq.out)[0];
    const at = position.get(eq.out.id) ?? -1;
    const sum = (byInput.get(root(a)) ?? []).find((r) => {
      const x = shapeOf(r.args[0] as Value);
      return (
        !claimed.has(r.out.id) && x[x.length - 1] === m && sizeOf(shapeOf(a)) === sizeOf(x) && readAfter(r.out, at)
      );
    });
    if (!sum) continue;
    result.set(eq.out.id, sum);
    claimed.add(sum.out.id);
  }
  return result;
}
