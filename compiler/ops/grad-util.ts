/** Helpers shared by VJP rules. */

import type { GraphBuilder } from '../ir/builder.js';
import type { Value } from '../ir/graph.js';
import { concrete, dim, shapeEquals, type Shape } from '../types/shape.js';

/**
 * Sums a cotangent of a broadcast result back to the shape of the operand that was broadcast: over the leading axes
 * the operand lacked and over the axes where it had size 1, then reshapes.
 */
export function unbroadcast(b: GraphBuilder, g: Value, target: Shape): Value {
  const gs = g.type.shape;
  if (shapeEquals(gs, target)) return g;
  const lead = gs.length - target.length;
  const axes: number[] = [];
  for (let i = 0; i < lead; i++) axes.push(i);
  target.forEach((d, j) => {
    if (concrete(d) === 1 && concrete(gs[lead + j] ?? dim(1)) !== 1) axes.push(lead + j);
  });
  const summed = axes.length === 0 ? g : b.sum(g, axes, true);
  return shapeEquals(summed.type.shape, target) ? summed : b.reshape(summed, target);
}

/** Calls `rules[i]()` for the wanted arguments only, so nothing is emitted for an argument without a gradient. */
export function wanted(
  wants: readonly boolean[],
  ...rules: readonly ((() => Value | undefined) | undefined)[]
): (Value | undefined)[] {
  return rules.map((rule, i) => (wants[i] === true && rule !== undefined ? rule() : undefined));
}

/**
 * The keepdims form of a reduced cotangent broadcast back to the operand's shape: reinserts the reduced axes as 1
 * (when the reduction dropped them) and broadcasts.
 */
export function expandReduced(
  b: GraphBuilder,
  g: Value,
  operand: Shape,
  axes: readonly number[],
  keepdims: boolean,
): Value {
  const kept = keepdims ? g : b.reshape(g, keptShape(operand, axes));
  return shapeEquals(kept.type.shape, operand) ? kept : b.broadcastTo(kept, operand);
}

/** `operand` with the reduced axes set to 1. */
export function keptShape(operand: Shape, axes: readonly number[]): Shape {
  return operand.map((d, i) => (axes.includes(i) ? dim(1) : d));
}

/** The arguments of an equation known (by its type rule) to have at least `n` of them. */
export function one(eq: { readonly args: readonly Value[] }): Value {
  return argAt(eq, 0);
}
export function two(eq: { readonly args: readonly Value[] }): [Value, Value] {
  return [argAt(eq, 0), argAt(eq, 1)];
}
export function three(eq: { readonly args: readonly Value[] }): [Value, Value, Value] {
  return [argAt(eq, 0), argAt(eq, 1), argAt(eq, 2)];
}
function argAt(eq: { readonly args: readonly Value[] }, i: number): Value {
  const v = eq.args[i];
  if (v === undefined) throw new RangeError(`equation has no argument ${i}`);
  return v;
}
