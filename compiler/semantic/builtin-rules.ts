/**
 * The building blocks of the builtin table: argument specifications, the checked-argument accessors, and the shape
 * rules shared by families of builtins (elementwise, reductions, matmul, reshape, ...).
 */
import {
  dim,
  dimEquals,
  type DType,
  divDim,
  type Dim,
  numel,
  type Shape,
  shapeToString,
  type TensorType,
  typeToString,
} from '../types/shape.js';
import type { Attr, ExprType } from './elaborated.js';
import {
  broadcastAll,
  fail,
  isError,
  normAxis,
  requireFloat,
  requireInt,
  type RuleError,
  sameDtype,
} from './shape-rules.js';

/** What an argument must be: tensors, or a compile-time attribute of some kind. */
export type ArgKind = 'tensor' | 'tensors' | 'int' | 'ints' | 'float' | 'bool' | 'string' | 'shape' | 'dtype';

export interface ArgSpec {
  readonly name: string;
  readonly kind: ArgKind;
  /** The default for an optional attribute. Tensors have none. */
  readonly default?: Attr;
  /** `tensors` only: the remaining positional arguments (`mean_of(a, b, c)`). */
  readonly variadic?: boolean;
}

/** The checked arguments of one call, by parameter name. */
export interface CallArgs {
  readonly tensors: ReadonlyMap<string, TensorType>;
  readonly lists: ReadonlyMap<string, readonly TensorType[]>;
  readonly attrs: Readonly<Record<string, Attr>>;
}

export type InferResult = { readonly ok: true; readonly type: ExprType } | RuleError;

export interface BuiltinSpec {
  readonly params: readonly ArgSpec[];
  readonly doc: string;
  readonly infer: (args: CallArgs) => InferResult;
}

// ---- argument accessors ---------------------------------------------------------------------------------------------

export function t(a: CallArgs, name: string): TensorType {
  return a.tensors.get(name) ?? { dtype: 'f32', shape: [] };
}
export function int(a: CallArgs, name: string): number {
  const v = a.attrs[name];
  return v?.kind === 'int' ? v.value : 0;
}
export function num(a: CallArgs, name: string): number {
  const v = a.attrs[name];
  return v?.kind === 'int' || v?.kind === 'float' ? v.value : 0;
}
export function ints(a: CallArgs, name: string): number[] | undefined {
  const v = a.attrs[name];
  if (v?.kind === 'int') return [v.value];
  if (v?.kind !== 'list') return undefined;
  return v.items.map((i) => (i.kind === 'int' ? i.value : 0));
}
export function shapeAttr(a: CallArgs, name: string): Shape {
  const v = a.attrs[name];
  return v?.kind === 'shape' ? v.shape : [];
}
export function ok(type: ExprType): InferResult {
  return { ok: true, type };
}

export const X: ArgSpec = { name: 'x', kind: 'tensor' };
export const A: ArgSpec = { name: 'a', kind: 'tensor' };
export const B: ArgSpec = { name: 'b', kind: 'tensor' };
export const I = (value: number): Attr => ({ kind: 'int', value });
export const F = (value: number): Attr => ({ kind: 'float', value });
export const BOOL = (value: boolean): Attr => ({ kind: 'bool', value });

// ---- rule families --------------------------------------------------------------------------------------------------

export function elementwise(resultBool: boolean): BuiltinSpec {
  return {
    params: [A, B],
    doc: resultBool ? 'elementwise comparison with broadcasting; bool result' : 'elementwise with broadcasting',
    infer: (a) => {
      const types = [t(a, 'a'), t(a, 'b')];
      const dtype = sameDtype(types, ['a', 'b']);
      if (isError(dtype)) return dtype;
      const shape = broadcastAll(types, ['a', 'b']);
      if (isError(shape)) return shape;
      return ok({ dtype: resultBool ? 'bool' : dtype, shape });
    },
  };
}

export function unary(float: boolean, doc: string, extra: readonly ArgSpec[] = []): BuiltinSpec {
  return {
    params: [X, ...extra],
    doc,
    infer: (a) => {
      const x = t(a, 'x');
      const err = float ? requireFloat(x, 'x') : undefined;
      return err ?? ok(x);
    },
  };
}

export function reduced(x: TensorType, axes: readonly number[] | undefined, keep: boolean, dtype: DType): InferResult {
  const rank = x.shape.length;
  const chosen = new Set<number>();
  for (const ax of axes ?? x.shape.map((_, i) => i)) {
    const n = normAxis(ax, rank);
    if (isError(n)) return n;
    chosen.add(n);
  }
  const shape = x.shape.flatMap((d, i) => (chosen.has(i) ? (keep ? [dim(1)] : []) : [d]));
  return ok({ dtype, shape });
}

export function reduction(doc: string, float: boolean): BuiltinSpec {
  return {
    params: [
      X,
      { name: 'axis', kind: 'ints', default: { kind: 'list', items: [] } },
      { name: 'keepdim', kind: 'bool', default: BOOL(false) },
    ],
    doc,
    infer: (a) => {
      const x = t(a, 'x');
      const err = float ? requireFloat(x, 'x') : undefined;
      if (err) return err;
      const axes = ints(a, 'axis');
      return reduced(
        x,
        axes === undefined || axes.length === 0 ? undefined : axes,
        a.attrs.keepdim?.kind === 'bool' && a.attrs.keepdim.value,
        x.dtype,
      );
    },
  };
}

export function variadicSame(doc: string): BuiltinSpec {
  return {
    params: [{ name: 'xs', kind: 'tensors', variadic: true }],
    doc,
    infer: (a) => {
      const xs = a.lists.get('xs') ?? [];
      const first = xs[0];
      if (first === undefined) return fail('VT2006', 'expected at least one tensor');
      for (const x of xs) {
        if (
          x.dtype !== first.dtype ||
          x.shape.length !== first.shape.length ||
          !x.shape.every((d, i) => dimEquals(d, first.shape[i] as Dim))
        ) {
          return fail(
            'VT3002',
            `all tensors must have the same type: ${typeToString(first)} and ${typeToString(x)}`,
            'xs',
          );
        }
      }
      return ok(first);
    },
  };
}

export function random(doc: string, p: readonly ArgSpec[]): BuiltinSpec {
  return {
    params: [{ name: 'shape', kind: 'shape' }, ...p, { name: 'seed', kind: 'int', default: I(0) }],
    doc,
    infer: (a) => ok({ dtype: 'f32', shape: shapeAttr(a, 'shape') }),
  };
}

export function matmul(a: TensorType, b: TensorType): InferResult {
  if (a.shape.length < 2 || b.shape.length < 2)
    return fail('VT3003', `matrix product needs rank >= 2 operands, got ${typeToString(a)} @ ${typeToString(b)}`);
  const dtype = sameDtype([a, b], ['a', 'b']);
  if (isError(dtype)) return dtype;
  const k1 = a.shape[a.shape.length - 1] as Dim;
  const k2 = b.shape[b.shape.length - 2] as Dim;
  if (!dimEquals(k1, k2))
    return fail('VT3003', `cannot multiply ${typeToString(a)} @ ${typeToString(b)}: inner sizes differ`);
  const batch = broadcastAll(
    [
      { dtype, shape: a.shape.slice(0, -2) },
      { dtype, shape: b.shape.slice(0, -2) },
    ],
    ['a', 'b'],
  );
  if (isError(batch))
    return fail('VT3003', `the batch axes of ${typeToString(a)} @ ${typeToString(b)} do not broadcast`);
  return ok({ dtype, shape: [...batch, a.shape[a.shape.length - 2] as Dim, b.shape[b.shape.length - 1] as Dim] });
}

export function reshape(x: TensorType, target: Shape, minusOne: number): InferResult {
  let shape = target;
  if (minusOne >= 0) {
    const rest = numel(target.filter((_, i) => i !== minusOne));
    const inferred = divDim(numel(x.shape), rest);
    if (inferred === undefined) return fail('VT3006', `cannot infer the -1 axis reshaping ${typeToString(x)}`, 'shape');
    shape = target.map((d, i) => (i === minusOne ? inferred : d));
  }
  if (!dimEquals(numel(x.shape), numel(shape))) {
    return fail(
      'VT3006',
      `cannot reshape ${typeToString(x)} to ${shapeToString(shape)}: element counts differ`,
      'shape',
    );
  }
  return ok({ dtype: x.dtype, shape });
}

export function transpose(x: TensorType, d0: number, d1: number): InferResult {
  const a0 = normAxis(d0, x.shape.length, 'dim0');
  if (isError(a0)) return a0;
  const a1 = normAxis(d1, x.shape.length, 'dim1');
  if (isError(a1)) return a1;
  const shape = [...x.shape];
  shape[a0] = x.shape[a1] as Dim;
  shape[a1] = x.shape[a0] as Dim;
  return ok({ dtype: x.dtype, shape });
}

export function gatherLike(x: TensorType, idx: TensorType, axis: number): InferResult {
  const err = requireInt(idx, 'indices');
  if (err) return err;
  const ax = normAxis(axis, x.shape.length);
  if (isError(ax)) return ax;
  return ok({ dtype: x.dtype, shape: [...x.shape.slice(0, ax), ...idx.shape, ...x.shape.slice(ax + 1)] });
}
