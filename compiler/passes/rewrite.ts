/**
 * The shared skeleton of the rewriting passes: rebuilds a graph equation by equation through a fresh builder (so
 * values are renumbered densely and every new equation is type-checked), letting the pass replace any equation's
 * result. Not a pass itself.
 */

import { GraphBuilder } from '../ir/builder.js';
import type { Equation, Graph, Value } from '../ir/graph.js';

/** Emits `eq` again with new arguments. */
export function reemit(b: GraphBuilder, eq: Equation, args: readonly Value[]): Value {
  return b.emit(eq.op, args, eq.attrs, eq.span);
}

/**
 * Rebuilds `graph`. For each equation kept by `keep` (all by default), `visit` returns the new value of its result
 * given the already-rebuilt arguments (by default it re-emits the equation unchanged).
 */
export function rewrite(
  graph: Graph,
  visit: (b: GraphBuilder, eq: Equation, args: readonly Value[]) => Value = reemit,
  keep: (eq: Equation) => boolean = () => true,
): Graph {
  const { builder: b, map } = GraphBuilder.withInputsOf(graph);
  const get = (v: Value): Value => {
    const nv = map.get(v.id);
    if (nv === undefined) throw new RangeError(`%${v.id} is used but was removed`);
    return nv;
  };
  for (const eq of graph.equations) {
    if (!keep(eq)) continue;
    map.set(eq.out.id, visit(b, eq, eq.args.map(get)));
  }
  return b.build(graph.outputs.map((o) => ({ name: o.name, value: get(o.value) })));
}
