/**
 * Lowering a whole graph: every equation through its rule in `WGSL_RULES`, with the graph's shape symbols bound to
 * numbers, into a `KernelPlan` (one buffer per value, aliases for reshape and stop_gradient, scratch buffers, and
 * the steps in equation order, each tagged with its equation(s) and source span). Elementwise chains are fused into
 * one kernel each (`fuse.ts`): their inner values get no buffer. A fused group may instead run inside the kernel of
 * its neighbour: as the epilogue of the matmul or layer norm whose result it consumes, or as the prologue of the
 * reduction that consumes it; and layout copies compose (`compose.ts`). Such a step lists every equation it computes.
 * A pure function: no device. Which buffers share memory is decided afterwards by the memory plan
 * (`../../plan-memory.ts`, `planGraphMemory` below).
 */

import type { Equation, EquationOf, Graph, Value } from '../../../ir/graph.js';
import { useCounts } from '../../../ir/graph.js';
import type { OpName } from '../../../ops/op.js';
import { evalShape, type DType, type SymbolValues } from '../../../types/shape.js';
import type { BufferRef, BufferSpec, KernelPlan, MatmulStepEpilogue, PlannedStep } from '../../kernel.js';
import { graphRoles, planMemory, type MemoryOptions, type MemoryPlan } from '../../plan-memory.js';
import { MAX_STORAGE_BINDINGS, sizeOf, type DeviceCaps } from './common.js';
import { elementwiseKernel, type Operand } from './elementwise.js';
import { fusionGroups, groupExpression, type FusionGroups } from './fuse.js';
import { attentionKernel, attentionRowsPerLane, findAttentions, type AttentionMatch } from './attention.js';
import { layoutCompositions, lowerSliceOfTranspose, lowerTransposeOfConcat } from './compose.js';
import { lowerMatmul, matmulEpilogue } from './linalg.js';
import { findMatmulViews, type MatmulViews } from './views.js';
import { layerNormKernel, plainGrad, reduceSteps, type NormGradSource } from './reduce.js';
import { softmaxGradKernel } from './softmax.js';
import { foldedRowSums } from './sums.js';
import { WGSL_RULES, type LowerContext, type Lowered, type WgslRule } from './rules.js';

export interface PlanOptions {
  readonly symbols?: SymbolValues;
  readonly caps: DeviceCaps;
  /** Fuse elementwise chains into one kernel each (default true; see `fuse.ts`). */
  readonly fuse?: boolean;
  /**
   * Compute `softmax(Q K^T * scale) V` as one kernel where the graph allows it (default true; needs fusion and
   * `caps.subgroupSize`; see `attention.ts`).
   */
  readonly attention?: boolean;
  /**
   * Read matmul operands and write products in place through strides instead of copying heads apart and together
   * (default true; needs fusion; see `views.ts`).
   */
  readonly views?: boolean;
}

/** Thrown when an equation cannot be lowered; names the equation and its span. */
export class LoweringError extends Error {
  constructor(
    message: string,
    readonly equation: Equation,
  ) {
    super(message);
    this.name = 'LoweringError';
  }
}

function spanText(eq: Equation): string {
  return eq.span ? ` @${eq.span.file}:${eq.span.start}-${eq.span.end}` : '';
}

/** Lowers `graph` at one binding of its symbols. */
export function planGraph(graph: Graph, options: PlanOptions): KernelPlan {
  const symbols = options.symbols ?? {};
  const values = new Map<number, BufferSpec>();
  const aliases = new Map<number, number>();
  const temps: BufferSpec[] = [];
  const steps: PlannedStep[] = [];
  const shapes = new Map<number, number[]>();
  const shapeOf = (v: Value): number[] => {
    let s = shapes.get(v.id);
    if (!s) {
      s = evalShape(v.type.shape, symbols);
      shapes.set(v.id, s);
    }
    return s;
  };
  const own = (v: Value, label: string): void => {
    values.set(v.id, { dtype: v.type.dtype, elements: sizeOf(shapeOf(v)), label });
  };
  for (const input of graph.inputs) own(input.value, input.name);
  const ctx: { -readonly [K in keyof LowerContext]: LowerContext[K] } = {
    caps: options.caps,
    symbols,
    shape: shapeOf,
    buffer: (v): BufferRef => ({ kind: 'value', id: aliases.get(v.id) ?? v.id }),
    temp: (dtype, elements, label) => {
      temps.push({ dtype, elements, label });
      return { kind: 'temp', index: temps.length - 1 };
    },
  };
  const shapeKey = (v: Value): string => shapeOf(v).join(',');
  const fusion = options.fuse === false ? undefined : fusionGroups(graph, shapeKey);
  const defs = new Map<number, Equation>();
  for (const eq of graph.equations) defs.set(eq.out.id, eq);
  const epilogues = fusion ? matmulEpilogues(graph, fusion, defs, shapeKey) : new Map<number, EquationOf<'matmul'>>();
  const norms = fusion ? normEpilogues(graph, fusion, defs, shapeKey, epilogues, shapeOf) : new Map<number, Equation>();
  const deferred = new Set([...epilogues.values(), ...norms.values()].map((e) => e.out.id));
  const layouts = layoutCompositions(graph);
  const uses = useCounts(graph);
  const seconds = fusion
    ? secondResults(fusion, defs, shapeKey, epilogues, new Set(norms.keys()))
    : new Map<number, Equation>();
  const secondRoots = new Set([...seconds.values()].map((e) => e.out.id));
  const taken = new Set([...epilogues.keys(), ...norms.keys(), ...secondRoots]);
  const prologues = fusion
    ? new Map([...reducePrologues(graph, fusion, taken), ...normGradPrologues(graph, fusion, taken, norms, shapeOf)])
    : new Map<number, Equation>();
  const absorbed = new Set([...prologues.values()].map((root) => root.out.id));
  const lanes = options.caps.subgroupSize;
  const attentions =
    fusion && lanes !== undefined && options.attention !== false
      ? findAttentions(graph, uses, layouts, shapeOf, (id) => fusion.members.get(id))
      : new Map<number, AttentionMatch>();
  for (const id of [...attentions.keys()]) if (deferred.has(id) || absorbed.has(id)) attentions.delete(id);
  const inAttention = new Set<number>();
  for (const match of attentions.values())
    for (const e of match.covered) if (e !== match.anchor) inAttention.add(e.out.id);
  const attended = new Set([...inAttention, ...attentions.keys()]);
  const views: MatmulViews =
    fusion && options.views !== false
      ? findMatmulViews(graph, uses, layouts, shapeOf, attended)
      : { operands: new Map(), results: new Map(), skipped: new Set() };
  ctx.operandView = (v) => {
    const w = views.operands.get(v.id);
    return w && { buffer: ctx.buffer(w.source), base: w.base, strides: w.strides };
  };
  // Bias gradients computed by the weight gradients' matmuls (sums.ts); a reduction fused with its input's group
  // keeps its own kernel.
  const sums = fusion
    ? foldedRowSums(
        graph,
        shapeOf,
        (mm) => !attended.has(mm.out.id) && !views.operands.has(mm.args[0]?.id ?? -1) && !views.skipped.has(mm.out.id),
      )
    : new Map<number, EquationOf<'reduce_sum'>>();
  for (const [id, r] of [...sums]) if (prologues.has(r.out.id)) sums.delete(id);
  const folded = new Map([...sums.values()].map((r) => [r.out.id, r]));
  ctx.matmulRowSums = (mm) => {
    const r = sums.get(mm.out.id);
    if (!r) return undefined;
    own(r.out, `%${r.out.id}:${r.op}`);
    return ctx.buffer(r.out);
  };
  /** The operands and expression of the fused group rooted at `root`, over its external operands' loads. */
  const groupOperands = (
    root: Equation,
  ): { operands: Operand[]; index: Map<number, number>; expr: (names: readonly string[]) => string } => {
    const operands: Operand[] = [];
    const index = new Map<number, number>();
    groupExpression(root, fusion?.inlined ?? new Set(), defs, (v) => {
      if (!index.has(v.id)) {
        index.set(v.id, operands.length);
        operands.push({ buffer: ctx.buffer(v), dtype: v.type.dtype, shape: shapeOf(v) });
      }
      return '';
    });
    const expr = (names: readonly string[]): string =>
      groupExpression(root, fusion?.inlined ?? new Set(), defs, (v) => names[index.get(v.id) ?? -1] ?? '');
    return { operands, index, expr };
  };
  /** What `layer_norm_grad` reads as its cotangent: the tensor, or the group computing it (`normGradPrologues`). */
  const gradSource = (eq: Equation): NormGradSource => {
    const g = eq.args[1];
    if (!g) throw new LoweringError(`${eq.op} %${eq.out.id} has no cotangent`, eq);
    const root = prologues.get(eq.out.id);
    if (!root) return plainGrad({ buffer: ctx.buffer(g), dtype: g.type.dtype });
    const { operands, expr } = groupOperands(root);
    const rowShape = shapeOf(g).join(',');
    const kinds = operands.map((o) => ({
      ...o,
      kind: o.shape.join(',') === rowShape ? ('row' as const) : ('column' as const),
    }));
    return { operands: kinds, expr, fused: true };
  };
  for (const eq of graph.equations) {
    if (inAttention.has(eq.out.id)) continue;
    const attention = attentions.get(eq.out.id);
    if (attention && lanes !== undefined) {
      own(eq.out, `%${eq.out.id}:attention`);
      const bound = (w: AttentionMatch['q']) => ({ ...w, buffer: ctx.buffer(w.source) });
      const kernel = attentionKernel(
        {
          ...attention,
          q: bound(attention.q),
          k: bound(attention.k),
          v: bound(attention.v),
          out: { ...attention.out, base: 0, buffer: ctx.buffer(eq.out) },
          lanes,
          rowsPerLane: attentionRowsPerLane(attention.n, lanes),
        },
        options.caps,
      );
      const all = attention.covered;
      const span = all.find((g) => g.op === 'softmax')?.span ?? all.find((g) => g.span !== undefined)?.span;
      steps.push({
        ...kernel,
        origin: { values: all.map((g) => g.out.id), ops: all.map((g) => g.op), ...(span ? { span } : {}) },
      });
      continue;
    }
    if (views.skipped.has(eq.out.id) || folded.has(eq.out.id)) continue;
    const into = views.results.get(eq.out.id);
    if (into && eq.op === 'matmul') {
      // The product goes straight into the transpose's layout: the transpose's result is this step's (the first
      // one's, when several products write their regions of it).
      if (!values.has(into.target.out.id)) own(into.target.out, `%${into.target.out.id}:${into.target.op}`);
      let lowered: Lowered;
      try {
        lowered = lowerMatmul(eq, ctx, undefined, {
          buffer: ctx.buffer(into.target.out),
          base: into.base,
          strides: into.strides,
        });
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        throw new LoweringError(`cannot lower matmul %${eq.out.id}${spanText(eq)}: ${message}`, eq);
      }
      const all = [eq, into.target];
      const span = eq.span ?? into.target.span;
      const origin = { values: all.map((g) => g.out.id), ops: all.map((g) => g.op), ...(span ? { span } : {}) };
      if (lowered !== 'alias') for (const step of lowered) steps.push({ ...step, origin });
      continue;
    }
    if (fusion?.inlined.has(eq.out.id) || deferred.has(eq.out.id) || layouts.skipped.has(eq.out.id)) continue;
    if (absorbed.has(eq.out.id) || secondRoots.has(eq.out.id)) continue;
    const prologue = prologues.get(eq.out.id);
    if (prologue && (eq.op === 'reduce_sum' || eq.op === 'reduce_mean' || eq.op === 'reduce_max')) {
      own(eq.out, `%${eq.out.id}:${eq.op}`);
      const { operands, expr } = groupOperands(prologue);
      const input = { dtype: prologue.out.type.dtype, shape: shapeOf(prologue.out), operands, expr };
      const kind = eq.op === 'reduce_sum' ? 'sum' : eq.op === 'reduce_mean' ? 'mean' : 'max';
      const out = { buffer: ctx.buffer(eq.out), dtype: eq.out.type.dtype };
      const lowered = reduceSteps(
        kind,
        input,
        (eq as EquationOf<typeof eq.op>).attrs.axes,
        out,
        options.caps,
        (dtype, n) => ctx.temp(dtype, n, `${eq.op}:partial`),
      );
      const group = [...(fusion?.members.get(prologue.out.id) ?? [prologue]), eq];
      const span = eq.span ?? group.find((g) => g.span !== undefined)?.span;
      const origin = { values: group.map((g) => g.out.id), ops: group.map((g) => g.op), ...(span ? { span } : {}) };
      for (const step of lowered) steps.push({ ...step, origin });
      continue;
    }
    if (eq.op === 'layer_norm_grad' && prologue) {
      own(eq.out, `%${eq.out.id}:${eq.op}`);
      const [x] = eq.args;
      if (!x) throw new LoweringError(`${eq.op} %${eq.out.id} has no argument`, eq);
      const shape = shapeOf(eq.out);
      const d = shape[shape.length - 1] ?? 1;
      const out = { buffer: ctx.buffer(eq.out), dtype: eq.out.type.dtype };
      const input = { buffer: ctx.buffer(x), dtype: x.type.dtype };
      const kernel = layerNormKernel(input, sizeOf(shape) / d, d, eq.attrs.eps, out, options.caps, {
        grad: gradSource(eq),
      });
      const group = [...(fusion?.members.get(prologue.out.id) ?? [prologue]), eq];
      const span = eq.span ?? group.find((g) => g.span !== undefined)?.span;
      steps.push({
        ...kernel,
        origin: { values: group.map((g) => g.out.id), ops: group.map((g) => g.op), ...(span ? { span } : {}) },
      });
      continue;
    }
    const transposed = layouts.sliceOfTranspose.get(eq.out.id);
    const concatenated = layouts.transposeOfConcat.get(eq.out.id);
    if ((transposed && eq.op === 'slice') || (concatenated && eq.op === 'transpose')) {
      own(eq.out, `%${eq.out.id}:${eq.op}`);
      const inner = (transposed ?? concatenated) as Equation;
      const lowered = transposed
        ? lowerSliceOfTranspose(eq as EquationOf<'slice'>, transposed, ctx)
        : lowerTransposeOfConcat(eq as EquationOf<'transpose'>, concatenated as EquationOf<'concat'>, ctx);
      const span = eq.span ?? inner.span;
      const origin = { values: [inner.out.id, eq.out.id], ops: [inner.op, eq.op], ...(span ? { span } : {}) };
      for (const step of lowered) steps.push({ ...step, origin });
      continue;
    }
    const group = fusion?.members.get(eq.out.id);
    const product = epilogues.get(eq.out.id);
    const norm = norms.get(eq.out.id);
    if (fusion && group && norm?.op === 'softmax_grad') {
      own(eq.out, `%${eq.out.id}:fused`);
      const { operands, index, expr } = groupOperands(eq);
      const [y, g] = norm.args;
      if (!y || !g) throw new LoweringError(`${norm.op} %${norm.out.id} has no arguments`, norm);
      const kernel = softmaxGradKernel(
        { buffer: ctx.buffer(y), dtype: y.type.dtype },
        { buffer: ctx.buffer(g), dtype: g.type.dtype },
        shapeOf(norm.out),
        norm.attrs.axis,
        { buffer: ctx.buffer(eq.out), dtype: eq.out.type.dtype },
        options.caps,
        {
          operands: operands.map((o) => ({ ...o, elements: sizeOf(o.shape) })),
          product: index.get(norm.out.id) ?? -1,
          expr,
        },
      );
      const all = [norm, ...group];
      const span = norm.span ?? all.find((x) => x.span !== undefined)?.span;
      steps.push({
        ...kernel,
        origin: { values: all.map((x) => x.out.id), ops: all.map((x) => x.op), ...(span ? { span } : {}) },
      });
      continue;
    }
    if (fusion && group && (norm?.op === 'layer_norm' || norm?.op === 'layer_norm_grad')) {
      own(eq.out, `%${eq.out.id}:fused`);
      const { operands, index, expr } = groupOperands(eq);
      const source = norm.args[0];
      if (!source) throw new LoweringError(`${norm.op} %${norm.out.id} has no argument`, norm);
      const shape = shapeOf(norm.out);
      const d = shape[shape.length - 1] ?? 1;
      const epilogue = { operands, product: index.get(norm.out.id) ?? -1, shape, expr };
      // Read elsewhere too (the backward pass's gamma gradient): the kernel stores the normalised value as well.
      let keep: { buffer: BufferRef; dtype: DType } | undefined;
      if (uses.get(norm.out.id) !== 1) {
        own(norm.out, `%${norm.out.id}:${norm.op}`);
        keep = { buffer: ctx.buffer(norm.out), dtype: norm.out.type.dtype };
      }
      const kernel = layerNormKernel(
        { buffer: ctx.buffer(source), dtype: source.type.dtype },
        sizeOf(shape) / d,
        d,
        norm.attrs.eps,
        { buffer: ctx.buffer(eq.out), dtype: eq.out.type.dtype },
        options.caps,
        {
          epilogue,
          ...(norm.op === 'layer_norm_grad' ? { grad: gradSource(norm) } : {}),
          ...(keep ? { keep } : {}),
        },
      );
      const pro = prologues.get(norm.out.id);
      const all = [...(pro ? (fusion.members.get(pro.out.id) ?? [pro]) : []), norm, ...group];
      const span = norm.span ?? all.find((g) => g.span !== undefined)?.span;
      steps.push({
        ...kernel,
        origin: { values: all.map((g) => g.out.id), ops: all.map((g) => g.op), ...(span ? { span } : {}) },
      });
      continue;
    }
    if (fusion && group && (group.length > 1 || product)) {
      own(eq.out, `%${eq.out.id}:fused`);
      const operands: Operand[] = [];
      const index = new Map<number, number>();
      const expr = (names: readonly string[]): string =>
        groupExpression(eq, fusion.inlined, defs, (v) => names[index.get(v.id) ?? -1] ?? '');
      // Collect the external operands first (the expression is built again over their load names).
      groupExpression(eq, fusion.inlined, defs, (v) => {
        if (!index.has(v.id)) {
          index.set(v.id, operands.length);
          operands.push({ buffer: ctx.buffer(v), dtype: v.type.dtype, shape: shapeOf(v) });
        }
        return '';
      });
      if (product) {
        const at = index.get(product.out.id) ?? -1;
        const epilogue = (foldRows: boolean): MatmulStepEpilogue =>
          matmulEpilogue(operands, at, shapeOf(eq.out), expr, foldRows);
        // A group reading only this result (the activation beside a pre-activation the backward pass keeps) is
        // stored by the same kernel.
        const root2 = seconds.get(eq.out.id);
        let second: { wgsl: string; out: BufferRef } | undefined;
        if (root2) {
          own(root2.out, `%${root2.out.id}:fused`);
          const g2 = groupOperands(root2);
          second = {
            wgsl: `fn epilogue2(value: f32) -> f32 {\n  return ${g2.expr(['value'])};\n}\n`,
            out: ctx.buffer(root2.out),
          };
        }
        let lowered: Lowered;
        try {
          lowered = lowerMatmul(product, ctx, { out: ctx.buffer(eq.out), epilogue, ...(second ? { second } : {}) });
        } catch (error) {
          const message = error instanceof Error ? error.message : String(error);
          throw new LoweringError(`cannot lower matmul %${product.out.id}${spanText(product)}: ${message}`, product);
        }
        const all = [product, ...group, ...(root2 ? (fusion.members.get(root2.out.id) ?? [root2]) : [])];
        const span = product.span ?? all.find((g) => g.span !== undefined)?.span;
        const origin = { values: all.map((g) => g.out.id), ops: all.map((g) => g.op), ...(span ? { span } : {}) };
        if (lowered !== 'alias') for (const step of lowered) steps.push({ ...step, origin });
        continue;
      }
      const name = `fused_${group.map((g) => g.op).join('_')}`;
      const step = elementwiseKernel(
        name.length > 80 ? `${name.slice(0, 72)}_${group.length}ops` : name,
        operands,
        { buffer: ctx.buffer(eq.out), dtype: eq.out.type.dtype },
        shapeOf(eq.out),
        expr,
        options.caps,
      );
      const span = eq.span ?? group.find((g) => g.span !== undefined)?.span;
      const origin = { values: group.map((g) => g.out.id), ops: group.map((g) => g.op), ...(span ? { span } : {}) };
      steps.push({ ...step, origin });
      continue;
    }
    const rule = WGSL_RULES[eq.op] as WgslRule<OpName>;
    let lowered;
    try {
      lowered = rule(eq, ctx);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      throw new LoweringError(`cannot lower ${eq.op} %${eq.out.id}${spanText(eq)}: ${message}`, eq);
    }
    if (lowered === 'alias') {
      const source = eq.args[0];
      if (source === undefined) throw new LoweringError(`${eq.op} %${eq.out.id} has no argument to alias`, eq);
      aliases.set(eq.out.id, aliases.get(source.id) ?? source.id);
      continue;
    }
    own(eq.out, `%${eq.out.id}:${eq.op}`);
    const origin = { values: [eq.out.id], ops: [eq.op], ...(eq.span ? { span: eq.span } : {}) };
    for (const step of lowered) steps.push({ ...step, origin });
  }
  // A matmul storing row sums computes their reduction too.
  const withSums = steps.map((step): PlannedStep => {
    const r = step.kind === 'matmul' && step.rowSums?.kind === 'value' ? folded.get(step.rowSums.id) : undefined;
    return r
      ? {
          ...step,
          origin: { ...step.origin, values: [...step.origin.values, r.out.id], ops: [...step.origin.ops, r.op] },
        }
      : step;
  });
  return { values, aliases, temps, steps: withSums };
}

/** The most operands an epilogue reads besides the product (A, B and C take 3 of a kernel's 8 storage buffers). */
const MAX_EPILOGUE_INPUTS = MAX_STORAGE_BINDINGS - 3;

/**
 * Matmuls fused into their consumer as an epilogue, by the consumer group's root: a matmul whose f32 product has a
 * single use, inside an elementwise group of the product's shape whose operands and result are all f32, is computed
 * by the group's kernel (the matmul family with the group's expression applied before the store), so the product is
 * never stored. The group's other operands must fit the epilogue's bindings.
 */
function matmulEpilogues(
  graph: Graph,
  fusion: FusionGroups,
  defs: ReadonlyMap<number, Equation>,
  shapeKey: (v: Value) => string,
): Map<number, EquationOf<'matmul'>> {
  const uses = useCounts(graph);
  const result = new Map<number, EquationOf<'matmul'>>();
  for (const [rootId, group] of fusion.members) {
    const root = defs.get(rootId);
    if (root?.out.type.dtype !== 'f32') continue;
    const inside = new Set(group.map((g) => g.out.id));
    const external = new Map<number, Value>();
    for (const member of group) for (const a of member.args) if (!inside.has(a.id)) external.set(a.id, a);
    if (external.size - 1 > MAX_EPILOGUE_INPUTS) continue;
    if ([...external.values()].some((v) => v.type.dtype !== 'f32')) continue;
    for (const v of external.values()) {
      const def = defs.get(v.id);
      if (def?.op !== 'matmul' || uses.get(v.id) !== 1 || shapeKey(v) !== shapeKey(root.out)) continue;
      result.set(rootId, def);
      break;
    }
  }
  return result;
}

/**
 * Elementwise groups stored by a matmul's kernel as a second result, by the matmul epilogue group's root: a group of
 * f32 values of that result's shape that reads nothing but the result (an activation of a pre-activation the
 * backward pass keeps: `gelu(h)` beside `h`), when the kernel has a binding left for it.
 */
function secondResults(
  fusion: FusionGroups,
  defs: ReadonlyMap<number, Equation>,
  shapeKey: (v: Value) => string,
  epilogues: ReadonlyMap<number, EquationOf<'matmul'>>,
  excluded: ReadonlySet<number>,
): Map<number, Equation> {
  const externals = (group: readonly Equation[]): Map<number, Value> => {
    const inside = new Set(group.map((g) => g.out.id));
    const external = new Map<number, Value>();
    for (const member of group) for (const a of member.args) if (!inside.has(a.id)) external.set(a.id, a);
    return external;
  };
  const result = new Map<number, Equation>();
  const claimed = new Set<number>();
  for (const [rootId] of epilogues) {
    const h = defs.get(rootId)?.out;
    const group = fusion.members.get(rootId);
    if (!h || !group || h.type.dtype !== 'f32') continue;
    // The product's group already binds its other operands; the second result takes one more binding.
    if (externals(group).size - 1 + 1 > MAX_EPILOGUE_INPUTS) continue;
    for (const [root2Id, group2] of fusion.members) {
      const root2 = defs.get(root2Id);
      if (!root2 || root2Id === rootId || epilogues.has(root2Id) || excluded.has(root2Id) || claimed.has(root2Id))
        continue;
      const ext = externals(group2);
      if (ext.size !== 1 || !ext.has(h.id) || root2.out.type.dtype !== 'f32' || shapeKey(root2.out) !== shapeKey(h))
        continue;
      result.set(rootId, root2);
      claimed.add(root2Id);
      break;
    }
  }
  return result;
}

/**
 * Layer norms fused with the elementwise group consuming their result (the affine `y * gamma + beta`), by the group's
 * root: when the norm's result is used by a group of its shape whose other operands fit the bindings beside the
 * norm's inputs, the norm's kernel applies the group's expression before it stores. Where the result is read elsewhere
 * too (training keeps it for the gamma gradient), the kernel stores it as well, if every other reader comes after the
 * group's root (where the kernel runs).
 */
function normEpilogues(
  graph: Graph,
  fusion: FusionGroups,
  defs: ReadonlyMap<number, Equation>,
  shapeKey: (v: Value) => string,
  taken: ReadonlyMap<number, unknown>,
  shapeOf: (v: Value) => number[],
): Map<number, Equation> {
  const uses = useCounts(graph);
  const position = new Map(graph.equations.map((eq, i) => [eq.out.id, i]));
  const readers = new Map<number, Equation[]>();
  for (const eq of graph.equations)
    for (const a of eq.args) {
      const list = readers.get(a.id);
      if (list) list.push(eq);
      else readers.set(a.id, [eq]);
    }
  const result = new Map<number, Equation>();
  const claimed = new Set<number>();
  for (const [rootId, group] of fusion.members) {
    const root = defs.get(rootId);
    if (!root || taken.has(rootId)) continue;
    const inside = new Set(group.map((g) => g.out.id));
    const external = new Map<number, Value>();
    for (const member of group) for (const a of member.args) if (!inside.has(a.id)) external.set(a.id, a);
    for (const v of external.values()) {
      const def = defs.get(v.id);
      if (def?.op !== 'layer_norm' && def?.op !== 'layer_norm_grad' && def?.op !== 'softmax_grad') continue;
      if (v.type.dtype !== 'f32' || claimed.has(v.id)) continue;
      // softmax_grad's kernel stores nothing else and reads single values or tensors of the result's shape.
      if (
        def.op === 'softmax_grad' &&
        (uses.get(v.id) !== 1 ||
          [...external.values()].some((o) => o !== v && shapeKey(o) !== shapeKey(v) && sizeOf(shapeOf(o)) !== 1))
      )
        continue;
      // The norm's inputs and the result take bindings, and the norm's own value one where it is read elsewhere too.
      const kept = uses.get(v.id) === 1 ? 0 : 1;
      if (external.size - 1 + def.args.length + 1 + kept > MAX_STORAGE_BINDINGS) continue;
      const at = position.get(rootId) ?? -1;
      const early = (readers.get(v.id) ?? []).some((r) => !inside.has(r.out.id) && (position.get(r.out.id) ?? -1) < at);
      if (early) continue;
      if (shapeKey(v) !== shapeKey(root.out)) continue;
      result.set(rootId, def);
      claimed.add(v.id);
      break;
    }
  }
  return result;
}

/**
 * layer_norm_grad reading its cotangent through the elementwise group computing it (the affine's `dy * gamma`), by
 * layer_norm_grad id: when the group's result has that single use, is not another kernel's epilogue, and its operands
 * are f32 tensors of the cotangent's shape or vectors along its last axis that fit the bindings beside x, the
 * result and the norm's own epilogue operands.
 */
function normGradPrologues(
  graph: Graph,
  fusion: FusionGroups,
  taken: ReadonlySet<number>,
  norms: ReadonlyMap<number, Equation>,
  shapeOf: (v: Value) => number[],
): Map<number, Equation> {
  const uses = useCounts(graph);
  const defs = new Map<number, Equation>();
  for (const eq of graph.equations) defs.set(eq.out.id, eq);
  const epilogueOperands = new Map<number, number>();
  for (const [rootId, norm] of norms) {
    const group = fusion.members.get(rootId) ?? [];
    const inside = new Set(group.map((g) => g.out.id));
    const external = new Set(group.flatMap((g) => g.args.map((a) => a.id)).filter((id) => !inside.has(id)));
    epilogueOperands.set(norm.out.id, external.size - 1);
  }
  const result = new Map<number, Equation>();
  for (const eq of graph.equations) {
    if (eq.op !== 'layer_norm_grad') continue;
    const g = eq.args[1];
    const root = g && defs.get(g.id);
    const group = g && fusion.members.get(g.id);
    if (!g || !root || !group || root.op === 'full' || fusion.inlined.has(root.out.id)) continue;
    if (uses.get(g.id) !== 1 || taken.has(root.out.id)) continue;
    const inside = new Set(group.map((m) => m.out.id));
    const external = new Map<number, Value>();
    for (const m of group) for (const a of m.args) if (!inside.has(a.id)) external.set(a.id, a);
    const shape = shapeOf(g);
    const d = shape[shape.length - 1];
    const fits = (v: Value): boolean => {
      const s = shapeOf(v);
      return v.type.dtype === 'f32' && (s.join(',') === shape.join(',') || (s.length === 1 && s[0] === d));
    };
    if (![...external.values()].every(fits)) continue;
    if (1 + external.size + (epilogueOperands.get(eq.out.id) ?? 0) + 1 > MAX_STORAGE_BINDINGS) continue;
    result.set(eq.out.id, root);
  }
  return result;
}

/**
 * Reductions fused with the elementwise group computing their input, by reduction result id: when a sum, mean or
 * maximum is the only use of a group's result (not a matmul's epilogue), the reduction evaluates the group's
 * expression per element as it reads, and the group's result is never stored. The group's operands and the
 * reduction's output must fit the storage bindings.
 */
function reducePrologues(graph: Graph, fusion: FusionGroups, epilogues: ReadonlySet<number>): Map<number, Equation> {
  const uses = useCounts(graph);
  const defs = new Map<number, Equation>();
  for (const eq of graph.equations) defs.set(eq.out.id, eq);
  const result = new Map<number, Equation>();
  for (const eq of graph.equations) {
    if (eq.op !== 'reduce_sum' && eq.op !== 'reduce_mean' && eq.op !== 'reduce_max') continue;
    const x = eq.args[0];
    const root = x && defs.get(x.id);
    const group = x && fusion.members.get(x.id);
    if (!root || !group || root.op === 'full' || fusion.inlined.has(root.out.id)) continue;
    if (uses.get(root.out.id) !== 1 || epilogues.has(root.out.id)) continue;
    const inside = new Set(group.map((g) => g.out.id));
    const external = new Set(group.flatMap((g) => g.args.map((a) => a.id)).filter((id) => !inside.has(id)));
    if (external.size + 1 > MAX_STORAGE_BINDINGS) continue;
    result.set(eq.out.id, root);
  }
  return result;
}

/**
 * Lowers `graph` and plans its memory: the kernel plan with its slots and memory report (peak bytes, bytes without
 * reuse, lower bound), e.g. for `vitm compile` to print. Slots are checked against `maxBindingBytes` when given.
 */
export function planGraphMemory(
  graph: Graph,
  options: PlanOptions & MemoryOptions,
): { readonly plan: KernelPlan; readonly memory: MemoryPlan } {
  const plan = planGraph(graph, options);
  return { plan, memory: planMemory(plan, graphRoles(graph), options) };
}
