/**
 * Constant folding: an equation whose arguments are all constants (`full`, `constant`, or folded results) and whose
 * result has a concrete shape of at most `MAX_FOLDED_ELEMENTS` elements is evaluated with the reference interpreter
 * (float64) and replaced by a `full` (when every element is equal) or a `constant`. `dim_size` of a concrete
 * dimension becomes a `full`. Larger results are left to run on the device.
 */

import type { GraphBuilder } from '../ir/builder.js';
import type { Equation, Graph, Value } from '../ir/graph.js';
import { evaluateEquation } from '../../runtime/reference/interpret.js';
import { makeTensor, type RefTensor } from '../../runtime/reference/tensor.js';
import { concrete, numel, type Shape } from '../types/shape.js';
import { reemit, rewrite } from './rewrite.js';

export const MAX_FOLDED_ELEMENTS = 4096;

function concreteShape(shape: Shape): number[] | undefined {
  const dims = shape.map(concrete);
  return dims.every((d) => d !== undefined) ? dims : undefined;
}

/** Emits a tensor as a `full` when uniform, else as a `constant`. */
function emitTensor(b: GraphBuilder, t: RefTensor, eq: Equation): Value {
  const first = t.data[0] ?? 0;
  const shape = eq.out.type.shape;
  if (t.data.every((x) => Object.is(x, first)))
    return b.emit('full', [], { value: first, dtype: t.dtype, shape }, eq.span);
  return b.emit('constant', [], { values: Array.from(t.data), dtype: t.dtype, shape }, eq.span);
}

export function foldConstants(graph: Graph): Graph {
  const known = new Map<number, RefTensor>();
  return rewrite(graph, (b, eq, args) => {
    const shape = concreteShape(eq.out.type.shape);
    const small = shape !== undefined && (concrete(numel(eq.out.type.shape)) ?? Infinity) <= MAX_FOLDED_ELEMENTS;
    if (eq.op === 'full' || eq.op === 'constant') {
      const v = reemit(b, eq, args);
      if (small) known.set(v.id, evaluateEquation(eq, []));
      return v;
    }
    if (eq.op === 'dim_size') {
      const n = concrete(eq.attrs.dim);
      if (n === undefined) return reemit(b, eq, args);
      const v = b.emit('full', [], { value: n, dtype: eq.attrs.dtype, shape: [] }, eq.span);
      known.set(v.id, makeTensor(eq.attrs.dtype, [], [n]));
      return v;
    }
    const values = args.map((a) => known.get(a.id));
    if (!small || values.some((t) => t === undefined)) return reemit(b, eq, args);
    const result = evaluateEquation(eq, values as RefTensor[]);
    const v = emitTensor(b, result, eq);
    known.set(v.id, result);
    return v;
  });
}
