/** Dead-code elimination: drops every equation no output depends on. Inputs are kept (the signature is stable). */

import type { Graph } from '../ir/graph.js';
import { rewrite } from './rewrite.js';

export function eliminateDeadCode(graph: Graph): Graph {
  const live = new Set<number>(graph.outputs.map((o) => o.value.id));
  for (let j = graph.equations.length - 1; j >= 0; j--) {
    const eq = graph.equations[j];
    if (eq !== undefined && live.has(eq.out.id)) for (const a of eq.args) live.add(a.id);
  }
  return rewrite(graph, undefined, (eq) => live.has(eq.out.id));
}
