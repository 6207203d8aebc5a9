/**
 * The kinds of rules an op has, and the helpers type rules share. Each family file (`elementwise.ts`, `reduce.ts`,
 * ...) exports one table per rule kind for its ops; `registry.ts` joins them into tables typed over the whole op union.
 */

import type { GraphBuilder } from '../ir/builder.js';
import type { EquationOf, Value } from '../ir/graph.js';
import { IrTypeError } from '../ir/errors.js';
import {
  broadcastShapes,
  concrete,
  isFloat,
  shapeToString,
  typeToString,
  type DType,
  type Dim,
  type Shape,
  type TensorType,
} from '../types/shape.js';
import type { OpAttrs, OpName } from './op.js';

/** Computes an equation's result type from its argument types and attributes, or throws `IrTypeError`. */
export type TypeRule<P extends OpName> = (args: readonly TensorType[], attrs: OpAttrs[P]) => TensorType;

/**
 * The vector-Jacobian product of an op, written with ordinary forward ops through the builder: given the equation
 * and the cotangent `ct` of its result, returns the cotangent of each argument (undefined where `wants[i]` is false or
 * the argument receives none). A rule must emit nothing for an argument that is not wanted.
 */
export type VjpRule<P extends OpName> = (
  b: GraphBuilder,
  eq: EquationOf<P>,
  ct: Value,
  wants: readonly boolean[],
) => readonly (Value | undefined)[];

/** Marks an op through which no gradient flows (integer results, comparisons, random draws, stop_gradient). */
export const NO_GRADIENT = 'no-gradient' as const;
export type GradientRule<P extends OpName> = VjpRule<P> | typeof NO_GRADIENT;

export function fail(message: string): never {
  throw new IrTypeError(message);
}

export function expectArity(op: string, args: readonly TensorType[], n: number): void {
  if (args.length !== n) fail(`${op} takes ${n} argument${n === 1 ? '' : 's'}, got ${args.length}`);
}

export function arg(args: readonly TensorType[], i: number): TensorType {
  const t = args[i];
  if (t === undefined) fail(`missing argument ${i}`);
  return t;
}

export function expectFloat(op: string, t: TensorType): void {
  if (!isFloat(t.dtype)) fail(`${op} needs a float argument, got ${typeToString(t)}`);
}

export function expectIndex(op: string, t: TensorType): void {
  if (t.dtype !== 'i32' && t.dtype !== 'u32') fail(`${op} needs i32 or u32 indices, got ${typeToString(t)}`);
}

export function expectSameDtype(op: string, a: TensorType, b: TensorType): void {
  if (a.dtype !== b.dtype) fail(`${op}: dtypes differ: ${typeToString(a)} and ${typeToString(b)}`);
}

export function expectAxis(op: string, axis: number, rank: number): void {
  if (!Number.isInteger(axis) || axis < 0 || axis >= rank) fail(`${op}: axis ${axis} out of range for rank ${rank}`);
}

export function broadcastOrFail(op: string, a: Shape, b: Shape): Shape {
  const r = broadcastShapes(a, b);
  if (!r.ok) fail(`${op}: shapes ${shapeToString(a)} and ${shapeToString(b)} do not broadcast (axis ${r.axis})`);
  return r.shape;
}

/** The integer value of a dimension that must be concrete for `what`. */
export function concreteOrFail(op: string, d: Dim, what: string): number {
  const n = concrete(d);
  if (n === undefined) fail(`${op}: ${what} must be a concrete dimension`);
  return n;
}

export function tensor(dtype: DType, shape: Shape): TensorType {
  return { dtype, shape };
}
