/**
 * Elementwise fusion: chains (trees) of elementwise equations become one kernel, their intermediate values never
 * stored. A pure decision over the graph (`fusionGroups`) and the expression of a group (`groupExpression`).
 *
 * An elementwise result (or a `full`) is inlined into its consumer when:
 * - the consumer is elementwise too and is its only use (not a graph output, not read by another equation:
 *   recomputing a shared value per consumer is later work, as is fusing into reduction prologues);
 * - it has the consumer's output shape (so it is read at the consumer's own index).
 *
 * A `full` is a literal in every elementwise consumer, whatever its shape and however many uses it has; it gets a
 * kernel of its own only when some other consumer (a matmul, a reduction, a graph output) reads its buffer.
 * - the merged kernel still binds at most 7 inputs and its output (`MAX_STORAGE_BINDINGS`).
 *
 * Semantics are kept exactly: an inlined f16 intermediate is rounded to f16 as if it had been stored.
 *
 * A group may also absorb the matmul whose product it consumes: the planner (`plan.ts`) then runs the group as that
 * matmul's epilogue, applied to each element of the product before it is stored.
 */

import type { Equation, EquationOf, Graph, Value } from '../../../ir/graph.js';
import { useCounts } from '../../../ir/graph.js';
import type { OpName } from '../../../ops/op.js';
import { literal, MAX_STORAGE_BINDINGS } from './common.js';
import { ELEMENTWISE_EXPRESSIONS, equationExpr, type ElementwiseOp } from './elementwise.js';

/** Whether an op evaluates as an elementwise expression (stop_gradient is excluded: it aliases its argument). */
export function isElementwise(op: OpName): op is ElementwiseOp {
  return op !== 'stop_gradient' && Object.prototype.hasOwnProperty.call(ELEMENTWISE_EXPRESSIONS, op);
}

function isFusible(eq: Equation): eq is Equation & EquationOf<ElementwiseOp | 'full'> {
  return isElementwise(eq.op) || eq.op === 'full';
}

/** The fusion decision: which values are inlined, and for each root the external operands it reads. */
export interface FusionGroups {
  /** Values computed inside their consumer's kernel (no buffer, no kernel of their own). */
  readonly inlined: ReadonlySet<number>;
  /** Per root equation (by result value): its group's equations, in graph order. */
  readonly members: ReadonlyMap<number, readonly Equation[]>;
}

/** Decides the groups; `shapeKey` gives a value's concrete shape as a comparable string. */
export function fusionGroups(graph: Graph, shapeKey: (v: Value) => string): FusionGroups {
  const uses = useCounts(graph);
  const defs = new Map<number, Equation>();
  const inlined = new Set<number>();
  const members = new Map<number, Equation[]>();
  /** External operands (value ids) of the group rooted at each fusible value. */
  const operands = new Map<number, Set<number>>();
  /** Uses of each `full` by elementwise consumers, which write it as a literal. */
  const literalUses = new Map<number, number>();
  for (const eq of graph.equations) {
    defs.set(eq.out.id, eq);
    if (!isFusible(eq)) continue;
    const group: Equation[] = [];
    const external = new Set<number>();
    for (const a of eq.args) {
      const d = defs.get(a.id);
      if (d?.op === 'full') {
        // A constant costs nothing to repeat: every elementwise consumer writes it as a literal.
        literalUses.set(a.id, (literalUses.get(a.id) ?? 0) + 1);
        if (!group.includes(d)) group.push(d);
      } else external.add(a.id);
    }
    // Candidates in argument order; each merge is checked against the binding budget. A value is inlined when this
    // equation is its only consumer (it may read it more than once, as in `mul(d, d)`).
    for (const a of eq.args) {
      const d = defs.get(a.id);
      const here = eq.args.filter((x) => x.id === a.id).length;
      if (!d || d.op === 'full' || !isFusible(d) || inlined.has(a.id) || (uses.get(a.id) ?? 0) !== here) continue;
      if (shapeKey(a) !== shapeKey(eq.out)) continue;
      const theirs = operands.get(a.id) ?? new Set<number>();
      const merged = new Set([...external, ...theirs]);
      merged.delete(a.id);
      if (merged.size + 1 > MAX_STORAGE_BINDINGS) continue;
      inlined.add(a.id);
      external.delete(a.id);
      for (const t of theirs) external.add(t);
      group.push(...(members.get(a.id) ?? []));
      members.delete(a.id);
    }
    group.push(eq);
    const unique = [...new Map(group.map((g) => [g.out.id, g])).values()];
    unique.sort((p, q) => p.out.id - q.out.id);
    members.set(eq.out.id, unique);
    operands.set(eq.out.id, external);
  }
  // A constant all of whose uses are literals needs no kernel of its own.
  for (const [id, n] of literalUses) if (uses.get(id) === n) inlined.add(id);
  return { inlined, members };
}

/**
 * The WGSL expression of a group's root over its external operands: `operand(v)` names the expression of an
 * external value (a load, already widened to its arithmetic type).
 */
export function groupExpression(
  root: Equation,
  inlined: ReadonlySet<number>,
  defs: ReadonlyMap<number, Equation>,
  operand: (v: Value) => string,
): string {
  const expr = (eq: Equation): string => {
    if (eq.op === 'full') return literal(eq.attrs.value, eq.attrs.dtype);
    if (!isElementwise(eq.op)) throw new RangeError(`${eq.op} is not elementwise`);
    const args = eq.args.map((a) => {
      const d = defs.get(a.id);
      if (!inlined.has(a.id) && d?.op !== 'full') return operand(a);
      if (!d) throw new RangeError(`%${a.id} has no definition`);
      const inner = expr(d);
      // An f16 intermediate is rounded as its store would have rounded it.
      return a.type.dtype === 'f16' ? `f32(f16(${inner}))` : inner;
    });
    return equationExpr(eq as EquationOf<ElementwiseOp>, args);
  };
  return expr(root);
}
