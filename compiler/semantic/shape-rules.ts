/**
 * Shape helpers for the builtin table: axis normalisation, broadcasting with coded failures, dimension sums.
 * Each returns either a result or a `RuleError` (a diagnostic code and message), never throws.
 */
import type { Code } from '../diagnostics/catalog.js';
import {
  broadcastShapes,
  concrete,
  dim,
  dimEquals,
  dimToString,
  type Dim,
  type DType,
  type Shape,
  shapeToString,
  type TensorType,
  typeToString,
} from '../types/shape.js';

/** A failed shape rule: which code, what message, and optionally which argument to point at. */
export interface RuleError {
  readonly ok: false;
  readonly code: Code;
  readonly message: string;
  readonly at?: string;
}

export function fail(code: Code, message: string, at?: string): RuleError {
  return at === undefined ? { ok: false, code, message } : { ok: false, code, message, at };
}

export function isError(x: unknown): x is RuleError {
  return typeof x === 'object' && x !== null && 'ok' in x && x.ok === false;
}

/** `axis` in [-rank, rank) as a non-negative axis. */
export function normAxis(axis: number, rank: number, at = 'axis'): number | RuleError {
  if (axis < -rank || axis >= rank)
    return fail('VT3005', `axis ${axis} is out of range for a tensor of rank ${rank}`, at);
  return axis < 0 ? axis + rank : axis;
}

/** Broadcast several shapes (NumPy rules), reporting the first disagreement. */
export function broadcastAll(types: readonly TensorType[], names: readonly string[]): Shape | RuleError {
  let out: Shape = [];
  for (let i = 0; i < types.length; i++) {
    const t = types[i] as TensorType;
    const r = broadcastShapes(out, t.shape);
    if (!r.ok) {
      const shown = types
        .slice(0, i + 1)
        .map((x) => shapeToString(x.shape))
        .join(' and ');
      return fail('VT3002', `shapes ${shown} do not broadcast (axis ${r.axis} differs)`, names[i]);
    }
    out = r.shape;
  }
  return out;
}

/** All the same dtype, or an error naming the first that differs. */
export function sameDtype(types: readonly TensorType[], names: readonly string[]): DType | RuleError {
  const first = types[0]?.dtype ?? 'f32';
  for (let i = 1; i < types.length; i++) {
    const t = types[i] as TensorType;
    if (t.dtype !== first) return fail('VT3007', `mixed dtypes ${first} and ${t.dtype} (use cast)`, names[i]);
  }
  return first;
}

export function requireFloat(t: TensorType, at: string): RuleError | undefined {
  return t.dtype === 'f32' || t.dtype === 'f16'
    ? undefined
    : fail('VT3007', `expected a float tensor, got ${typeToString(t)}`, at);
}

export function requireInt(t: TensorType, at: string): RuleError | undefined {
  return t.dtype === 'i32' || t.dtype === 'u32'
    ? undefined
    : fail('VT3007', `expected an integer tensor, got ${typeToString(t)}`, at);
}

/** a + b when expressible: both concrete, or the same product of symbols. */
export function addDims(a: Dim, b: Dim): Dim | undefined {
  if (a.syms.length === b.syms.length && a.syms.every((s, i) => s === b.syms[i]))
    return { coeff: a.coeff + b.coeff, syms: a.syms };
  return undefined;
}

export function sumDims(ds: readonly Dim[]): Dim | RuleError {
  let out = ds[0] ?? dim(0);
  for (const d of ds.slice(1)) {
    const s = addDims(out, d);
    if (s === undefined)
      return fail('VT3015', `the size ${dimToString(out)} + ${dimToString(d)} is not a dimension vitm can express`);
    out = s;
  }
  return out;
}

/** Shapes equal except on `axis`. */
export function sameExcept(a: Shape, b: Shape, axis: number): boolean {
  return a.length === b.length && a.every((d, i) => i === axis || dimEquals(d, b[i] as Dim));
}

export function isOne(d: Dim): boolean {
  return concrete(d) === 1;
}
