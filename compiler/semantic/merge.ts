/**
 * Weight-space expressions over whole models: linear combinations `sum_k c_k * model_k` (average, weighted sum,
 * task arithmetic `base + l * (ft - base)`, interpolation `lerp(a, b, t)`). Every pair of models combined must have
 * the same parameters (same paths, shapes and dtypes); this is checked here, before any weights exist (VT4003).
 */
import type { Span } from '../source/source.js';
import { shapeEquals, typeToString } from '../types/shape.js';
import { type ComboTerm, type Ctx, describeValue, type Value } from './context.js';
import type { ElaboratedModel } from './elaborated.js';

type Combo = Extract<Value, { kind: 'combo' }>;

/** A model or combination as a combination; undefined (reported) for anything else. */
export function toCombo(ctx: Ctx, v: Value, span: Span): Combo | undefined {
  if (v.kind === 'combo') return v;
  if (v.kind === 'model') return { kind: 'combo', terms: [{ name: v.name, coefficient: 1, model: v.model }] };
  ctx.diags.error('VT4005', span, `a weight-space expression combines models, not ${describeValue(v)}`, [
    { message: 'declare it as a model first: model M = ...' },
  ]);
  return undefined;
}

export function scaleCombo(c: Combo, k: number): Combo {
  return { kind: 'combo', terms: c.terms.map((t) => ({ ...t, coefficient: t.coefficient * k })) };
}

/** Why two models cannot be combined, or undefined when they can. */
export function incompatibility(a: ElaboratedModel, b: ElaboratedModel): string | undefined {
  const pa = new Map(a.parameters.map((e) => [e.parameter.path, e.parameter]));
  const pb = new Map(b.parameters.map((e) => [e.parameter.path, e.parameter]));
  for (const [path, p] of pa) {
    const q = pb.get(path);
    if (q === undefined) return `${a.name} has the parameter '${path}' but ${b.name} does not`;
    if (p.type.dtype !== q.type.dtype || !shapeEquals(p.type.shape, q.type.shape)) {
      return `'${path}' is ${typeToString(p.type)} in ${a.name} but ${typeToString(q.type)} in ${b.name}`;
    }
  }
  for (const path of pb.keys())
    if (!pa.has(path)) return `${b.name} has the parameter '${path}' but ${a.name} does not`;
  return undefined;
}

/** a + sign * b, merging terms of the same model, after checking compatibility. */
export function combine(ctx: Ctx, a: Value, b: Value, sign: number, span: Span): Combo | undefined {
  if (a.kind !== 'combo' || b.kind !== 'combo') return undefined;
  const first = a.terms[0] ?? b.terms[0];
  for (const t of [...a.terms, ...b.terms]) {
    const why = first === undefined ? undefined : incompatibility(first.model, t.model);
    if (why !== undefined) {
      ctx.diags.error('VT4003', span, `the models ${first?.name ?? ''} and ${t.name} cannot be combined: ${why}`, [
        { message: 'weight-space arithmetic needs models with the same parameter names, shapes and dtypes' },
      ]);
      return undefined;
    }
  }
  const terms: ComboTerm[] = a.terms.map((t) => ({ ...t }));
  for (const t of b.terms) {
    const i = terms.findIndex((u) => u.name === t.name);
    const existing = terms[i];
    if (existing !== undefined) terms[i] = { ...existing, coefficient: existing.coefficient + sign * t.coefficient };
    else terms.push({ ...t, coefficient: sign * t.coefficient });
  }
  return { kind: 'combo', terms };
}
