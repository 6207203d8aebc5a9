/**
 * Algebraic simplification. Each rule replaces an equation by a simpler value of exactly the same type (a rule that
 * would change the type, e.g. `x + 0` where the zero broadcasts `x` larger, does not fire):
 *
 * - `x + 0`, `0 + x`, `x - 0`, `x * 1`, `1 * x`, `x / 1`  ->  `x`   (0 and 1: `full` equations of that value)
 * - `neg(neg(x))`  ->  `x`
 * - `reshape(x)` to x's own shape, `broadcast_to(x)` to x's shape, `cast(x)` to x's dtype, `add_n(x)`  ->  `x`
 * - `reshape(reshape(x))`  ->  `reshape(x)`
 * - `transpose(transpose(x, p), q)`  ->  `transpose(x, p∘q)`, and the identity permutation  ->  `x`
 *
 * `x * 0` is not rewritten (it is NaN for infinite x). Equations left unused are removed by `eliminateDeadCode`.
 */

import type { GraphBuilder } from '../ir/builder.js';
import type { EquationOf, Graph, Value } from '../ir/graph.js';
import type { OpName } from '../ops/op.js';
import { typesEqual } from '../ir/verify.js';
import { reemit, rewrite } from './rewrite.js';

function isFull(b: GraphBuilder, v: Value, value: number): boolean {
  const def = b.definition(v);
  return def?.op === 'full' && def.attrs.value === value;
}

type Rule<P extends OpName> = (b: GraphBuilder, eq: EquationOf<P>, args: readonly Value[]) => Value | undefined;

/** `args[0]` when it has the equation's exact type. */
function same(eq: { readonly out: Value }, v: Value | undefined): Value | undefined {
  return v !== undefined && typesEqual(v.type, eq.out.type) ? v : undefined;
}

/** `x op unit` -> `x` (and `unit op x` -> `x` when `commutes`). */
function identity(unit: number, commutes: boolean): Rule<'add' | 'sub' | 'mul' | 'div'> {
  return (b, eq, [x, y]) => {
    if (x === undefined || y === undefined) return undefined;
    if (isFull(b, y, unit)) return same(eq, x);
    return commutes && isFull(b, x, unit) ? same(eq, y) : undefined;
  };
}

const single: Rule<'broadcast_to' | 'cast' | 'add_n'> = (_b, eq, args) =>
  args.length === 1 ? same(eq, args[0]) : undefined;

/** The rules, by op; an op without a rule is kept as it is. */
const RULES: { readonly [P in OpName]?: Rule<P> } = {
  add: identity(0, true),
  sub: identity(0, false),
  mul: identity(1, true),
  div: identity(1, false),
  neg: (b, eq, [x]) => {
    const def = x === undefined ? undefined : b.definition(x);
    return def?.op === 'neg' ? same(eq, def.args[0]) : undefined;
  },
  broadcast_to: single,
  cast: single,
  add_n: single,
  reshape: (b, eq, [x]) => {
    if (x === undefined) return undefined;
    if (same(eq, x) !== undefined) return x;
    const def = b.definition(x);
    const inner = def?.op === 'reshape' ? def.args[0] : undefined;
    if (inner === undefined) return undefined;
    return same(eq, inner) ?? b.emit('reshape', [inner], eq.attrs, eq.span);
  },
  transpose: (b, eq, [x]) => {
    if (x === undefined) return undefined;
    const perm = eq.attrs.perm;
    const def = b.definition(x);
    if (def?.op === 'transpose') {
      const inner = def.args[0];
      if (inner === undefined) return undefined;
      const composed = perm.map((p) => def.attrs.perm[p] as number);
      return composed.every((p, i) => p === i)
        ? same(eq, inner)
        : b.emit('transpose', [inner], { perm: composed }, eq.span);
    }
    return perm.every((p, i) => p === i) ? same(eq, x) : undefined;
  },
};

export function simplify(graph: Graph): Graph {
  return rewrite(graph, (b, eq, args) => {
    const rule = RULES[eq.op] as Rule<OpName> | undefined;
    return rule?.(b, eq, args) ?? reemit(b, eq, args);
  });
}
