/**
 * Common-subexpression elimination: an equation with the same op, arguments and attributes as an earlier one is
 * replaced by the earlier result. Every op is a pure function of its arguments and attributes (random ops included:
 * their bits depend only on the seed argument and the salt attribute), so this is always sound.
 */

import type { Graph, Value } from '../ir/graph.js';
import { formatAttr } from '../ir/print.js';
import { reemit, rewrite } from './rewrite.js';

export function eliminateCommonSubexpressions(graph: Graph): Graph {
  const seen = new Map<string, Value>();
  return rewrite(graph, (b, eq, args) => {
    const attrs = Object.entries(eq.attrs)
      .sort(([p], [q]) => (p < q ? -1 : p > q ? 1 : 0))
      .map(([k, v]) => `${k}=${formatAttr(v)}`)
      .join(',');
    const key = `${eq.op}(${args.map((a) => a.id).join(',')}){${attrs}}`;
    const earlier = seen.get(key);
    if (earlier !== undefined) return earlier;
    const v = reemit(b, eq, args);
    seen.set(key, v);
    return v;
  });
}
