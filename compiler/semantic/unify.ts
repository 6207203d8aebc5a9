/**
 * Matching an argument type against a forward's input type. Input types may contain dimension symbols (`B`, `N`)
 * bound by the first argument that fixes them, and a leading `...` (the symbol `...`) standing for any number of
 * leading dimensions. The result type is the forward's type with the bindings substituted.
 */
import { dimEquals, divDim, dim, type Dim, mulDim, type Shape, type TensorType } from '../types/shape.js';
import { type ExprType, isTupleType } from './elaborated.js';

/** The symbol that stands for the leading `...` dimensions. */
export const REST = '...';

export interface Bindings {
  readonly dims: Map<string, Dim>;
  rest?: readonly Dim[];
}

export function newBindings(): Bindings {
  return { dims: new Map() };
}

/** `d` with bound symbols replaced (`...` is left alone: see substituteShape). */
export function substituteDim(d: Dim, b: Bindings): Dim {
  let out: Dim = dim(d.coeff);
  for (const s of d.syms) out = mulDim(out, b.dims.get(s) ?? { coeff: 1, syms: [s] });
  return out;
}

export function substituteShape(s: Shape, b: Bindings): Dim[] {
  return s.flatMap((d) =>
    d.syms.length === 1 && d.syms[0] === REST && d.coeff === 1 && b.rest !== undefined
      ? [...b.rest]
      : [substituteDim(d, b)],
  );
}

export function substituteType(t: ExprType, b: Bindings): ExprType {
  if (isTupleType(t)) return { tuple: t.tuple.map((e) => ({ dtype: e.dtype, shape: substituteShape(e.shape, b) })) };
  return { dtype: t.dtype, shape: substituteShape(t.shape, b) };
}

function unifyDim(p: Dim, a: Dim, b: Bindings, symbols: ReadonlySet<string>): boolean {
  const sub = substituteDim(p, b);
  const free = sub.syms.filter((s) => symbols.has(s) && !b.dims.has(s));
  if (free.length === 0) return dimEquals(sub, a);
  if (free.length !== 1) return false;
  const name = free[0] as string;
  const known: Dim = { coeff: sub.coeff, syms: sub.syms.filter((s, i) => s !== name || sub.syms.indexOf(name) !== i) };
  const value = divDim(a, known);
  if (value === undefined || value.coeff === 0) return false;
  b.dims.set(name, value);
  return dimEquals(substituteDim(p, b), a);
}

/** Unifies `param` (with `symbols` free) against the concrete-or-caller-symbolic `arg`, extending `b`. */
export function unify(param: TensorType, arg: TensorType, b: Bindings, symbols: ReadonlySet<string>): boolean {
  if (param.dtype !== arg.dtype) return false;
  const first = param.shape[0];
  const hasRest = first?.syms.length === 1 && first.syms[0] === REST;
  const fixed = hasRest ? param.shape.slice(1) : param.shape;
  if (hasRest ? arg.shape.length < fixed.length : arg.shape.length !== fixed.length) return false;
  const lead = arg.shape.slice(0, arg.shape.length - fixed.length);
  if (hasRest) {
    if (
      b.rest !== undefined &&
      (b.rest.length !== lead.length || !b.rest.every((d, i) => dimEquals(d, lead[i] as Dim)))
    )
      return false;
    b.rest = lead;
  }
  const tail = arg.shape.slice(arg.shape.length - fixed.length);
  return fixed.every((p, i) => unifyDim(p, tail[i] as Dim, b, symbols));
}
