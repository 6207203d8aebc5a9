/**
 * Matmul operands read in place and results written in place, so the layout copies around attention are never made:
 *
 * - an operand that is a head of a fused projection (`slice(transpose(qkv))`, through reshapes of size-1 axes) or a
 *   transpose keeping the last axis (the output gradient split into heads) is read through its strides, straight from
 *   the tensor the copy would read (`MatmulLayout` of compiler/codegen/wgsl/matmul.ts);
 * - a product whose only use is a transpose keeping the last axis (the heads' merge) is written straight into the
 *   transpose's layout, and products that are all the arguments of a `transpose(concat(...))` (the gradients of q, k
 *   and v flowing back into their fused projection) each straight into their region of it.
 *
 * A copy is dropped only when every reader reads through it: each use is an operand of a matmul that takes the view
 * (the view's rows contiguous, its batch axes the product's, at most two of them), through reshapes that only drop or
 * insert axes of size 1, and neither the copy nor those reshapes is a graph output. Copies move bits, so the results
 * are exactly those of the copies followed by contiguous products.
 */

import type { Equation, EquationOf, Graph, Value } from '../../../ir/graph.js';
import { stridesOf } from './common.js';
import type { LayoutCompositions } from './compose.js';
import { transposeStrides } from './layout.js';
import { squeezeMap } from './attention.js';

/** `value`'s elements in `source`'s buffer: element i of `value` at `base + sum(index_i * strides_i)`. */
export interface StridedView {
  readonly source: Value;
  readonly base: number;
  readonly strides: readonly number[];
}

export interface MatmulViews {
  /** Matmul operands read in place, by the operand value's id. */
  readonly operands: ReadonlyMap<number, StridedView>;
  /**
   * Matmuls writing their product into a transpose's layout, by matmul result id: the transpose whose result they
   * write, and the first element and strides of the product there.
   */
  readonly results: ReadonlyMap<
    number,
    { readonly target: Equation; readonly base: number; readonly strides: readonly number[] }
  >;
  /** Equations not lowered: the copies and transposes read or written through. */
  readonly skipped: ReadonlySet<number>;
}

/** Whether `strides` of a matrix of `shape` fit the matmul layout: its rows contiguous, at most two batch axes. */
function fitsLayout(shape: readonly number[], strides: readonly number[]): boolean {
  return shape.length >= 2 && shape.length <= 4 && strides[shape.length - 1] === 1;
}

/**
 * The views of `graph`. `excluded` holds result ids already claimed by other fusions (attention, epilogues and
 * prologues read or compute these values themselves), which are left alone.
 */
export function findMatmulViews(
  graph: Graph,
  uses: ReadonlyMap<number, number>,
  layouts: LayoutCompositions,
  shapeOf: (v: Value) => number[],
  excluded: ReadonlySet<number>,
): MatmulViews {
  const defs = new Map<number, Equation>();
  const readers = new Map<number, { eq: Equation; arg: number }[]>();
  for (const eq of graph.equations) {
    defs.set(eq.out.id, eq);
    eq.args.forEach((a, arg) => {
      const list = readers.get(a.id);
      if (list) list.push({ eq, arg });
      else readers.set(a.id, [{ eq, arg }]);
    });
  }
  const batchOf = (v: Value): string => shapeOf(v).slice(0, -2).join(',');

  /** `v` as a strided view of a materialised tensor, through reshapes of size-1 axes; the copy it reads through. */
  const viewOf = (v: Value): { view: StridedView; copy: Equation } | undefined => {
    const def = defs.get(v.id);
    if (!def || excluded.has(def.out.id)) return undefined;
    if (def.op === 'reshape') {
      const src = def.args[0];
      const inner = src && viewOf(src);
      const kept = src && squeezeMap(shapeOf(src), shapeOf(v));
      if (!inner || !kept) return undefined;
      const strides = kept.map((i) => (i < 0 ? 0 : (inner.view.strides[i] as number)));
      return { view: { ...inner.view, strides }, copy: inner.copy };
    }
    if (def.op === 'slice') {
      const t = layouts.sliceOfTranspose.get(def.out.id);
      const x = t?.args[0];
      if (!t || !x) return undefined;
      const slice = def;
      const strides = transposeStrides(shapeOf(x), t.attrs.perm);
      return { view: { source: x, base: slice.attrs.start * (strides[slice.attrs.axis] ?? 0), strides }, copy: def };
    }
    if (def.op === 'transpose') {
      const t = def;
      const x = t.args[0];
      const last = t.attrs.perm.length - 1;
      if (!x || layouts.skipped.has(t.out.id) || layouts.transposeOfConcat.has(t.out.id)) return undefined;
      if (t.attrs.perm[last] !== last) return undefined;
      return { view: { source: x, base: 0, strides: transposeStrides(shapeOf(x), t.attrs.perm) }, copy: def };
    }
    return undefined;
  };

  /** Every non-alias reader of `v` with the reshapes passed through, or undefined where some use cannot be seen. */
  const finalReaders = (v: Value, through: Equation[]): { eq: Equation; arg: number; value: Value }[] | undefined => {
    const list = readers.get(v.id) ?? [];
    if (list.length !== (uses.get(v.id) ?? 0)) return undefined; // a graph output
    const out: { eq: Equation; arg: number; value: Value }[] = [];
    for (const r of list) {
      if (r.eq.op === 'reshape') {
        const more = finalReaders(r.eq.out, through);
        if (!more) return undefined;
        through.push(r.eq);
        out.push(...more);
      } else out.push({ ...r, value: v });
    }
    return out;
  };

  const operands = new Map<number, StridedView>();
  const results = new Map<number, { target: Equation; base: number; strides: readonly number[] }>();
  const skipped = new Set<number>();
  const copies = new Set<Equation>();
  for (const eq of graph.equations) if (eq.op === 'slice' || eq.op === 'transpose') copies.add(eq);
  for (const copy of copies) {
    if (excluded.has(copy.out.id) || copy.out.type.dtype !== 'f32') continue;
    const through: Equation[] = [];
    const all = finalReaders(copy.out, through);
    if (!all || all.length === 0) continue;
    const accepted = all.every(({ eq, arg, value }) => {
      if (eq.op !== 'matmul' || arg > 1 || excluded.has(eq.out.id)) return false;
      const view = viewOf(value);
      if (view?.copy !== copy) return false;
      const shape = shapeOf(value);
      return fitsLayout(shape, view.view.strides) && batchOf(value) === batchOf(eq.out);
    });
    if (!accepted) continue;
    for (const { value } of all) operands.set(value.id, (viewOf(value) as { view: StridedView }).view);
    skipped.add(copy.out.id);
    for (const r of through) skipped.add(r.out.id);
  }

  // Products whose only reader is a transpose keeping the last axis: written in its layout.
  for (const eq of graph.equations) {
    if (eq.op !== 'matmul' || excluded.has(eq.out.id) || eq.out.type.dtype !== 'f32') continue;
    const list = readers.get(eq.out.id) ?? [];
    const t = list[0]?.eq;
    if (list.length !== 1 || uses.get(eq.out.id) !== 1 || t?.op !== 'transpose') continue;
    if (excluded.has(t.out.id) || skipped.has(t.out.id) || layouts.skipped.has(t.out.id)) continue;
    if (layouts.transposeOfConcat.has(t.out.id)) continue;
    const perm = t.attrs.perm;
    const last = perm.length - 1;
    if (perm[last] !== last) continue;
    const tStrides = stridesOf(shapeOf(t.out));
    const strides = perm.map((_, i) => tStrides[perm.indexOf(i)] as number);
    if (!fitsLayout(shapeOf(eq.out), strides)) continue;
    results.set(eq.out.id, { target: t, base: 0, strides });
    skipped.add(t.out.id);
  }

  // transpose(concat(a, b, ...)) whose every argument is, through reshapes of size-1 axes, a product read nowhere
  // else: each product is written into its region of the transpose's result (lowerTransposeOfConcat's strides).
  for (const [tId, concat] of layouts.transposeOfConcat) {
    const t = defs.get(tId) as EquationOf<'transpose'> | undefined;
    if (!t || excluded.has(tId) || t.out.type.dtype !== 'f32') continue;
    const perm = t.attrs.perm;
    const outStrides = stridesOf(shapeOf(t.out));
    const region = perm.map((_, i) => outStrides[perm.indexOf(i)] as number);
    const axis = concat.attrs.axis;
    const writes: { product: Equation; base: number; strides: number[]; through: Equation[] }[] = [];
    let offset = 0;
    for (const a of concat.args) {
      const base = offset * (region[axis] ?? 0);
      offset += shapeOf(a)[axis] ?? 1;
      let v = a;
      const through: Equation[] = [];
      let def = defs.get(v.id);
      while (def?.op === 'reshape' && uses.get(v.id) === 1 && def.args[0]) {
        through.push(def);
        v = def.args[0];
        def = defs.get(v.id);
      }
      if (def?.op !== 'matmul' || uses.get(v.id) !== 1 || excluded.has(def.out.id) || v.type.dtype !== 'f32') break;
      if (results.has(def.out.id)) break;
      const kept = squeezeMap(shapeOf(a), shapeOf(v));
      if (!kept || uses.get(a.id) !== 1) break;
      const strides = kept.map((i) => (i < 0 ? 0 : (region[i] as number)));
      if (!fitsLayout(shapeOf(v), strides)) break;
      writes.push({ product: def, base, strides, through });
    }
    if (writes.length !== concat.args.length) continue;
    for (const w of writes) {
      results.set(w.product.out.id, { target: t, base: w.base, strides: w.strides });
      for (const r of w.through) skipped.add(r.out.id);
    }
    skipped.add(t.out.id);
  }
  return { operands, results, skipped };
}
