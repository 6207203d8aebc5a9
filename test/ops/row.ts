/** The op-table row type and the fast-check arbitraries the rows draw shapes and values from. */

import fc from 'fast-check';
import type { GraphBuilder } from '../../compiler/ir/builder.js';
import type { Value } from '../../compiler/ir/graph.js';
import type { DType } from '../../compiler/types/shape.js';
import { sizeOf, type Nd } from './numpy.js';

export interface Input {
  readonly name: string;
  readonly dtype: DType;
  readonly shape: readonly number[];
  readonly data: readonly number[];
  /** Float parameters are trainable and gradient-checked; data inputs are not. */
  readonly role: 'param' | 'data';
}

/** One drawn case: its inputs, how to build the op on them, and the expected result computed independently. */
export interface Instance {
  readonly inputs: readonly Input[];
  readonly build: (b: GraphBuilder, values: readonly Value[]) => Value;
  readonly expected: () => Nd;
}

export interface Row {
  /** The op (a registry op name, or `composite:<builder method>`). */
  readonly name: string;
  /** Whether its float inputs get a finite-difference gradient check. */
  readonly gradient: boolean;
  readonly cases: fc.Arbitrary<Instance>;
  /** Absolute tolerance of the forward comparison besides the relative 1e-9 (default 1e-12). */
  readonly atol?: number;
}

export function param(name: string, shape: readonly number[], data: readonly number[]): Input {
  return { name, dtype: 'f32', shape, data, role: 'param' };
}

export function dataInput(
  name: string,
  shape: readonly number[],
  data: readonly number[],
  dtype: DType = 'f32',
): Input {
  return { name, dtype, shape, data, role: 'data' };
}

export const nd = (i: Input): Nd => ({ shape: i.shape, data: i.data });

export function arbShape(minRank = 0, maxRank = 3, maxDim = 4): fc.Arbitrary<number[]> {
  return fc.array(fc.integer({ min: 1, max: maxDim }), { minLength: minRank, maxLength: maxRank });
}

export function arbValues(n: number, lo = -2, hi = 2): fc.Arbitrary<number[]> {
  return fc.array(fc.double({ min: lo, max: hi, noNaN: true, noDefaultInfinity: true }), {
    minLength: n,
    maxLength: n,
  });
}

/** Values at least `gap` from zero (to keep finite differences off kinks at 0). */
export function arbAwayFromZero(n: number, gap = 0.1, hi = 2): fc.Arbitrary<number[]> {
  return fc
    .array(fc.tuple(fc.double({ min: gap, max: hi, noNaN: true }), fc.boolean()), { minLength: n, maxLength: n })
    .map((xs) => xs.map(([x, neg]) => (neg ? -x : x)));
}

/** Distinct values with gaps of at least 0.04 (no ties for max, argmax, top-k). */
export function arbDistinct(n: number): fc.Arbitrary<number[]> {
  return fc
    .uniqueArray(fc.integer({ min: -60, max: 60 }), { minLength: n, maxLength: n })
    .chain((ints) => arbValues(n, 0, 0.01).map((noise) => ints.map((k, i) => k * 0.05 + (noise[i] as number))));
}

export function arbIndices(n: number, bound: number): fc.Arbitrary<number[]> {
  return fc.array(fc.integer({ min: 0, max: bound - 1 }), { minLength: n, maxLength: n });
}

/** An output shape and two operand shapes that broadcast to it (leading axes dropped, some axes set to 1). */
export function arbBroadcastShapes(count: number): fc.Arbitrary<number[][]> {
  return arbShape(0, 3).chain((out) =>
    fc
      .array(
        fc.tuple(
          fc.integer({ min: 0, max: out.length }),
          fc.array(fc.boolean(), { minLength: out.length, maxLength: out.length }),
        ),
        { minLength: count, maxLength: count },
      )
      .map((ops) => ops.map(([drop, ones]) => out.slice(drop).map((d, i) => (ones[i + drop] === true ? 1 : d)))),
  );
}

export function arbTensorOf(shape: readonly number[], lo = -2, hi = 2): fc.Arbitrary<number[]> {
  return arbValues(sizeOf(shape), lo, hi);
}

/** A sorted non-empty subset of the axes of a rank. */
export function arbAxes(rank: number): fc.Arbitrary<number[]> {
  return fc
    .subarray([...Array(rank).keys()], { minLength: rank === 0 ? 0 : 1 })
    .map((a) => [...a].sort((p, q) => p - q));
}
