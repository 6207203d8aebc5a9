/**
 * Reductions and normalisations: reduce_sum / reduce_mean / reduce_max / logsumexp over any set of axes, layer_norm
 * (and its gradient) over the last axis, and the per-example cross-entropy; softmax and its gradient are in
 * softmax.ts.
 *
 * One invocation owns one output group (a row, a column of a softmax, one example) and walks its elements serially,
 * accumulating in f32 (i32 / u32 for integer sums, which wrap like the reference's). This is the simple, exactly
 * specified form: the rounding error of a serial f32 sum of n terms is at most about n 2^-24 sum|x_i|. A long
 * reduction over few groups runs in two stages (`reduceSteps`) so the device has enough invocations. Cooperative
 * (workgroup-memory tree) reductions are later work and must keep these numerics.
 *
 * f32 sums and means read four elements per storage access where the layout allows (kernel names end in `:x4`):
 * column sums (the kept last axis a multiple of 4) give one invocation four neighbouring groups, each summed in the
 * same serial order as above; row sums (one contiguous reduced run, a multiple of 4 long) keep four serial partial
 * sums of every fourth element and add them pairwise at the end, at most n/4 + 2 terms deep, inside the serial bound.
 *
 * Stable forms: logsumexp, softmax and cross-entropy subtract the group maximum before exponentiating (a group of
 * -inf gives -inf); layer_norm uses the two-pass variance mean((x - mean)^2), never E[x^2] - E[x]^2.
 */

import type { DType } from '../../../types/shape.js';
import type { BufferRef, WgslKernel } from '../../kernel.js';
import {
  arithType,
  assembleKernel,
  broadcastStrides,
  f32Bits,
  narrow,
  offsetsCode,
  Params,
  sizeOf,
  widen,
  type DeviceCaps,
  type StorageVar,
} from './common.js';

export type ReduceKind = 'sum' | 'mean' | 'max' | 'logsumexp';

interface Tensor {
  readonly buffer: BufferRef;
  readonly dtype: DType;
}

/**
 * What a reduction reads: a tensor of `shape` and `dtype`, either stored (`buffer`) or computed per element by an
 * elementwise prologue, `expr` over operands broadcast to `shape` (a fused group whose result is never stored).
 */
export type ReduceInput = (Tensor | ReducePrologue) & { readonly shape: readonly number[] };

export interface ReducePrologue {
  readonly dtype: DType;
  readonly operands: readonly (Tensor & { readonly shape: readonly number[] })[];
  /** The element's value (in the arithmetic type of `dtype`) over the operands' loaded values. */
  readonly expr: (operandExprs: readonly string[]) => string;
}

function operandsOf(x: ReduceInput): ReducePrologue {
  return 'operands' in x ? x : { dtype: x.dtype, operands: [x], expr: (xs) => xs[0] ?? '' };
}

/** Splitting a long reduction: `chunks` invocations per group each reduce a contiguous run of the reduced elements. */
export interface ReduceSplit {
  /** Invocations per group (1: one invocation reduces the whole group). */
  readonly chunks?: number;
  /** What a mean divides by (default: the reduced count of this kernel). */
  readonly divisor?: number;
}

/**
 * A reduction of `x` (of `shape`) over `axes` into `out` (the kept axes in order; keepdims does not change data).
 * With `split.chunks > 1` the result is `[groups, chunks]` partial results (sums for sum and mean, maxima for max),
 * which a second reduction over the last axis finishes (see `reduceSteps`).
 */
export function reduceKernel(
  kind: ReduceKind,
  x: ReduceInput,
  axes: readonly number[],
  out: Tensor,
  caps: DeviceCaps,
  split: ReduceSplit = {},
): WgslKernel {
  const params = new Params();
  const prologue = operandsOf(x);
  const operandStrides = prologue.operands.map((o) => broadcastStrides(o.shape, x.shape));
  const kept = x.shape.map((_, a) => a).filter((a) => !axes.includes(a));
  const keptDims = params.pushAll(kept.map((a) => x.shape[a] as number));
  const keptStrides = operandStrides.map((strides) => params.pushAll(kept.map((a) => strides[a] as number)));
  const reduced = mergeReducedAxes(
    axes.map((a) => x.shape[a] as number),
    operandStrides.map((strides) => axes.map((a) => strides[a] as number)),
  );
  const redDims = params.pushAll(reduced.dims);
  const redStrides = reduced.strides.map((strides) => params.pushAll(strides));
  const count = sizeOf(axes.map((a) => x.shape[a] as number));
  const chunks = split.chunks ?? 1;
  if (chunks > 1 && kind === 'logsumexp') throw new RangeError('logsumexp cannot be split');
  const chunk = Math.ceil(count / chunks);
  const countAt = params.push(count);
  const chunksAt = params.push(chunks);
  const chunkAt = params.push(chunk);
  const divisorAt = params.push(split.divisor ?? count);
  const groups = sizeOf(kept.map((a) => x.shape[a] as number));
  const t = arithType(x.dtype);
  const zero = t === 'f32' ? '0.0' : t === 'i32' ? '0' : '0u';
  const loads = prologue.operands.map((o, k) => widen(`x${k}[base${k} + off${k}]`, o.dtype));
  const value = 'operands' in x ? widen(narrow(prologue.expr(loads), x.dtype), x.dtype) : (loads[0] ?? '');
  const offs = prologue.operands.map((_, k) => `off${k}`);
  const bases = prologue.operands.map((_, k) => `base${k}`);
  const partial = chunks > 1 ? ':partial' : '';
  const fused = 'operands' in x ? `:fused${prologue.operands.length}` : '';
  const name = `reduce_${kind}[r${x.shape.length}:a${axes.join('_')}:${x.dtype}${fused}${partial}]`;
  const reducedOffsets = offsetsCode('r', reduced.dims.length, redDims, offs, redStrides, '    ');
  const summing = kind === 'sum' || kind === 'mean';
  const rowVector = summing && chunks === 1 ? rowPlan(x, prologue, out, operandStrides, kept, reduced) : undefined;
  if (rowVector) {
    // A row read four elements at a time into four serial partial sums, added pairwise at the end.
    const loadLines = prologue.operands.map((_, k) =>
      rowVector[k] === 'vec4' ? `    let l${k} = x${k}[(base${k} >> 2u) + r];` : `    let l${k} = x${k}[base${k}];`,
    );
    const total = '((acc.x + acc.y) + (acc.z + acc.w))';
    const result = kind === 'mean' ? `${total} / f32(prm(${divisorAt}u))` : total;
    const rbody = `${offsetsCode('gi', kept.length, keptDims, bases, keptStrides)}
  var acc = vec4<f32>(0.0);
  for (var r = 0u; r < prm(${countAt}u) / 4u; r++) {
${loadLines.join('\n')}
    acc = acc + ${vec4Value(x, prologue, rowVector)};
  }
  out[gi] = ${result};`;
    return assembleKernel(
      {
        name: `${name.slice(0, -1)}:x4]`,
        storage: vectorStorage(prologue, rowVector, out, false),
        body: rbody,
        threads: groups,
        params,
      },
      caps,
    );
  }
  const vector = summing ? columnPlan(x, prologue, axes, out, operandStrides) : undefined;
  if (vector) {
    // Four neighbouring groups along the kept last axis per invocation, each summed serially as in the scalar form.
    const loadLines = prologue.operands.map((_, k) =>
      vector[k] === 'vec4'
        ? `    let l${k} = x${k}[(base${k} + off${k}) >> 2u];`
        : `    let l${k} = x${k}[base${k} + off${k}];`,
    );
    const v4 = vec4Value(x, prologue, vector);
    const result = kind === 'mean' && chunks === 1 ? `acc / f32(prm(${divisorAt}u))` : 'acc';
    const store =
      chunks === 1
        ? `  out[gi] = ${result};`
        : [0, 1, 2, 3].map((c) => `  out[(g + ${c}u) * prm(${chunksAt}u) + ch] = acc[${c}];`).join('\n');
    const vbody = `  let g = (gi / prm(${chunksAt}u)) * 4u;
  let ch = gi % prm(${chunksAt}u);
  let lo = ch * prm(${chunkAt}u);
  let hi = min(prm(${countAt}u), lo + prm(${chunkAt}u));
${offsetsCode('g', kept.length, keptDims, bases, keptStrides)}
  var acc = vec4<f32>(0.0);
  for (var r = lo; r < hi; r++) {
${reducedOffsets}
${loadLines.join('\n')}
    acc = acc + ${v4};
  }
${store}`;
    return assembleKernel(
      {
        name: `${name.slice(0, -1)}:x4]`,
        storage: vectorStorage(prologue, vector, out, chunks === 1),
        body: vbody,
        threads: (groups / 4) * chunks,
        params,
      },
      caps,
    );
  }
  const loop = (inner: string): string =>
    `  for (var r = lo; r < hi; r++) {\n${reducedOffsets}\n    let v = ${value};\n${inner}\n  }`;
  let body = `  let g = gi / prm(${chunksAt}u);
  let lo = (gi % prm(${chunksAt}u)) * prm(${chunkAt}u);
  let hi = min(prm(${countAt}u), lo + prm(${chunkAt}u));
${offsetsCode('g', kept.length, keptDims, bases, keptStrides)}
`;
  switch (kind) {
    case 'sum':
    case 'mean': {
      body += `  var acc = ${zero};\n${loop('    acc = acc + v;')}\n`;
      const result = kind === 'mean' && chunks === 1 ? `acc / f32(prm(${divisorAt}u))` : 'acc';
      body += `  out[gi] = ${narrow(result, out.dtype)};`;
      break;
    }
    case 'max': {
      const combine = t === 'f32' ? 'vmaxf(acc, v)' : 'max(acc, v)';
      body += `  var acc = ${zero};\n  var first = true;\n${loop(`    if (first) { acc = v; first = false; } else { acc = ${combine}; }`)}\n  out[gi] = ${narrow('acc', out.dtype)};`;
      break;
    }
    case 'logsumexp': {
      body += `  var m = -vinf();\n${loop('    m = vmaxf(m, v);')}\n`;
      body += `  var s = 0.0;\n${loop('    s = s + exp(v - m);')}\n`;
      body += `  out[gi] = ${narrow('select(log(s) + m, m, m == -vinf())', out.dtype)};`;
      break;
    }
  }
  const storage: StorageVar[] = [
    ...prologue.operands.map((o, k): StorageVar => ({
      name: `x${k}`,
      dtype: o.dtype,
      buffer: o.buffer,
      access: 'read',
    })),
    { name: 'out', dtype: out.dtype, buffer: out.buffer, access: 'read_write' },
  ];
  return assembleKernel({ name, storage, body, threads: groups * chunks, params }, caps);
}

/**
 * Neighbouring reduced axes merged where every operand steps through them as through one (`stride[i] = stride[i + 1]
 * * dim[i + 1]`), so the reduction loop divides by fewer sizes; the visiting order is unchanged.
 */
function mergeReducedAxes(
  dims: readonly number[],
  strides: readonly (readonly number[])[],
): { dims: number[]; strides: number[][] } {
  const outDims: number[] = [];
  const outStrides: number[][] = strides.map(() => []);
  dims.forEach((d, i) => {
    const last = outDims.length - 1;
    if (last >= 0 && strides.every((st, k) => outStrides[k]?.[last] === (st[i] as number) * d)) {
      outDims[last] = (outDims[last] as number) * d;
      strides.forEach((st, k) => ((outStrides[k] as number[])[last] = st[i] as number));
    } else {
      outDims.push(d);
      strides.forEach((st, k) => (outStrides[k] as number[]).push(st[i] as number));
    }
  });
  return { dims: outDims, strides: outStrides };
}

/**
 * How each operand is read when one invocation sums four neighbouring groups (`vec4`: one vec4, `splat`: one value
 * for all four), or undefined: needs f32 throughout, the last axis kept with a length that is a multiple of 4, and
 * each operand stepping along it by 1 (with every other stride a multiple of 4) or 0. Column sums (bias and norm
 * gradients over a batch of rows) have this form.
 */
function columnPlan(
  x: ReduceInput,
  prologue: ReducePrologue,
  axes: readonly number[],
  out: Tensor,
  operandStrides: readonly (readonly number[])[],
): ('vec4' | 'splat')[] | undefined {
  const rank = x.shape.length;
  const last = rank - 1;
  if (rank === 0 || axes.includes(last) || (x.shape[last] as number) % 4 !== 0) return undefined;
  if (x.dtype !== 'f32' || out.dtype !== 'f32' || prologue.operands.some((o) => o.dtype !== 'f32')) return undefined;
  const plan: ('vec4' | 'splat')[] = [];
  for (const strides of operandStrides) {
    const step = strides[last];
    if (step === 0) plan.push('splat');
    else if (step === 1 && strides.every((st, a) => a === last || st % 4 === 0)) plan.push('vec4');
    else return undefined;
  }
  return plan;
}

/**
 * How each operand is read when one invocation sums a row four elements at a time, or undefined: needs f32
 * throughout and one reduced axis (after merging) of a multiple of 4 elements, along which each operand steps by 1
 * (a vec4, its row starting 4-aligned: every kept stride a multiple of 4) or 0 (one value for the whole row).
 */
function rowPlan(
  x: ReduceInput,
  prologue: ReducePrologue,
  out: Tensor,
  operandStrides: readonly (readonly number[])[],
  kept: readonly number[],
  reduced: { readonly dims: readonly number[]; readonly strides: readonly (readonly number[])[] },
): ('vec4' | 'splat')[] | undefined {
  if (reduced.dims.length !== 1 || (reduced.dims[0] as number) % 4 !== 0) return undefined;
  if (x.dtype !== 'f32' || out.dtype !== 'f32' || prologue.operands.some((o) => o.dtype !== 'f32')) return undefined;
  const plan: ('vec4' | 'splat')[] = [];
  for (const [k, strides] of operandStrides.entries()) {
    const step = reduced.strides[k]?.[0];
    if (step === 0) plan.push('splat');
    else if (step === 1 && kept.every((a) => (strides[a] as number) % 4 === 0)) plan.push('vec4');
    else return undefined;
  }
  return plan;
}

/** The four values an x4 reduction adds per step: the loaded vec4, or the prologue applied lane by lane. */
function vec4Value(x: ReduceInput, prologue: ReducePrologue, plan: readonly ('vec4' | 'splat')[]): string {
  const lane = (c: number): string[] => prologue.operands.map((_, k) => (plan[k] === 'vec4' ? `l${k}[${c}]` : `l${k}`));
  if ('operands' in x) return `vec4<f32>(${[0, 1, 2, 3].map((c) => prologue.expr(lane(c))).join(', ')})`;
  return plan[0] === 'vec4' ? 'l0' : 'vec4<f32>(l0)';
}

/** The bindings of an x4 reduction: vec4 operands as arrays of vec4, and the output too where it is written so. */
function vectorStorage(
  prologue: ReducePrologue,
  plan: readonly ('vec4' | 'splat')[],
  out: Tensor,
  vec4Out: boolean,
): StorageVar[] {
  return [
    ...prologue.operands.map((o, k): StorageVar => ({
      name: `x${k}`,
      dtype: o.dtype,
      buffer: o.buffer,
      access: 'read',
      ...(plan[k] === 'vec4' ? { vec4: true } : {}),
    })),
    { name: 'out', dtype: out.dtype, buffer: out.buffer, access: 'read_write', ...(vec4Out ? { vec4: true } : {}) },
  ];
}

/** Reductions at least this long, over fewer groups than `SPLIT_MAX_GROUPS`, run in two stages. */
export const SPLIT_MIN_COUNT = 2048;
export const SPLIT_MAX_GROUPS = 4096;
/** Elements per invocation in the first stage of a split reduction. */
export const SPLIT_CHUNK = 256;

/**
 * The kernels of a reduction. A long reduction over few groups (a bias gradient summing a whole batch, say) would
 * leave most of a device idle with one invocation per group, so it runs in two stages: `chunks` invocations per
 * group reduce contiguous runs of `SPLIT_CHUNK` elements into partial results (f32 for floats), and a second kernel
 * reduces the partials of each group. The partial sums also tighten the rounding bound (chunk + chunks terms deep
 * instead of n). logsumexp always runs in one stage.
 */
export function reduceSteps(
  kind: ReduceKind,
  x: ReduceInput,
  axes: readonly number[],
  out: Tensor,
  caps: DeviceCaps,
  temp: (dtype: DType, elements: number) => BufferRef,
): WgslKernel[] {
  const count = sizeOf(axes.map((a) => x.shape[a] as number));
  const groups = sizeOf(x.shape) / Math.max(1, count);
  if (kind === 'logsumexp' || count < SPLIT_MIN_COUNT || groups > SPLIT_MAX_GROUPS)
    return [reduceKernel(kind, x, axes, out, caps)];
  const chunks = Math.ceil(count / SPLIT_CHUNK);
  const partialType: DType = arithType(x.dtype) === 'f32' ? 'f32' : x.dtype;
  const partial = { buffer: temp(partialType, groups * chunks), dtype: partialType };
  const first = reduceKernel(kind === 'max' ? 'max' : 'sum', x, axes, partial, caps, { chunks });
  const second = reduceKernel(kind, { ...partial, shape: [groups, chunks] }, [1], out, caps, { divisor: count });
  return [first, second];
}

/**
 * An elementwise group applied to a normalisation's result before it is stored (layer norm's affine): `expr` over
 * the operands' loaded values, operand `product` being the normalised value itself; the others (of the stored
 * tensor's `shape` or broadcast to it) are read at the element's index.
 */
export interface NormEpilogue {
  readonly operands: readonly (Tensor & { readonly shape: readonly number[] })[];
  readonly product: number;
  readonly shape: readonly number[];
  readonly expr: (operandExprs: readonly string[]) => string;
}

/**
 * The cotangent layer_norm_grad reads: one tensor of x's layout, or the elementwise group computing it (the affine's
 * `dy * gamma`), evaluated as it is read; each operand is of x's layout (`row`) or a vector along the last axis
 * (`column`).
 */
export interface NormGradSource {
  readonly operands: readonly (Tensor & { readonly kind: 'row' | 'column' })[];
  readonly expr: (operandExprs: readonly string[]) => string;
  /** The group had more than the tensor itself (named in the kernel). */
  readonly fused: boolean;
}

/** The cotangent read `g[base + i]` of `layer_norm_grad(x, g)`. */
export const plainGrad = (g: Tensor): NormGradSource => ({
  operands: [{ ...g, kind: 'row' }],
  expr: (xs) => xs[0] ?? '',
  fused: false,
});

/** `fn vitm_g(b, i)`: the cotangent at row offset b, element (or vec4) i; the storage variables `gp<k>`. */
function gradFunction(grad: NormGradSource, vector: boolean): { functions: string; storage: StorageVar[] } {
  const at = (k: number): string => (grad.operands[k]?.kind === 'row' ? 'b + i' : 'i');
  const storage = grad.operands.map((o, k): StorageVar => ({
    name: `gp${k}`,
    dtype: o.dtype,
    buffer: o.buffer,
    access: 'read',
    ...(vector ? { vec4: true } : {}),
  }));
  if (!vector) {
    const loads = grad.operands.map((o, k) => widen(`gp${k}[${at(k)}]`, o.dtype));
    return { functions: `fn vitm_g(b: u32, i: u32) -> f32 { return ${grad.expr(loads)}; }`, storage };
  }
  if (!grad.fused) return { functions: `fn vitm_g(b: u32, i: u32) -> vec4<f32> { return gp0[b + i]; }`, storage };
  const lets = grad.operands.map((_, k) => `  let l${k} = gp${k}[${at(k)}];`).join('\n');
  const lanes = [0, 1, 2, 3].map((c) => grad.expr(grad.operands.map((_, k) => `l${k}[${c}]`)));
  return {
    functions: `fn vitm_g(b: u32, i: u32) -> vec4<f32> {\n${lets}\n  return vec4<f32>(${lanes.join(', ')});\n}`,
    storage,
  };
}

/** What a layer_norm kernel does besides normalising (`layerNormKernel`). */
export interface NormKernelOptions {
  /** An elementwise group applied before the store (the affine). */
  readonly epilogue?: NormEpilogue;
  /** The cotangent: the kernel computes layer_norm_grad. */
  readonly grad?: NormGradSource;
  /** With an epilogue: where the normalised value itself is stored too (read elsewhere, by a backward pass). */
  readonly keep?: Tensor;
}

/**
 * layer_norm over the last axis (`d` elements per row): two-pass mean and biased variance. With `grad` (the cotangent
 * g of the normalised result), layer_norm_grad instead: `rstd (g - mean(g) - xh m)`, `xh = (x - mean) rstd`,
 * `m = mean(g xh)`, where the first pass also sums g and the second the centred products `g (x - mean)`.
 */
export function layerNormKernel(
  x: Tensor,
  rows: number,
  d: number,
  eps: number,
  out: Tensor,
  caps: DeviceCaps,
  { epilogue, grad, keep }: NormKernelOptions = {},
): WgslKernel {
  const vector = layerNormVector(x, d, out, epilogue, grad, keep);
  if (vector) return vector(rows, eps, caps);
  const params = new Params();
  const dAt = params.push(d);
  const epsAt = params.push(f32Bits(eps));
  const v = (i: string): string => widen(`x[base + ${i}]`, x.dtype);
  const gv = (i: string): string => `vitm_g(base, ${i})`;
  const extra = (epilogue?.operands ?? []).flatMap((o, k) => (k === epilogue?.product ? [] : [{ o, k }]));
  const normalised = grad ? `rstd * (${gv('i')} - gmean - (${v('i')} - mean) * rstd * m)` : `(${v('i')} - mean) * rstd`;
  let store = narrow(normalised, out.dtype);
  let offsets = '';
  if (epilogue) {
    const rank = epilogue.shape.length;
    const lead = epilogue.shape.slice(0, rank - 1);
    const leadAt = params.pushAll(lead);
    const names = extra.map(({ k }) => `e${k}`);
    const strides = extra.map(({ o }) => broadcastStrides(o.shape, epilogue.shape));
    const leadStrides = strides.map((st) => params.pushAll(st.slice(0, rank - 1)));
    offsets = offsetsCode(
      'gi',
      rank - 1,
      leadAt,
      names.map((n) => `${n}_row`),
      leadStrides,
    );
    const loads = epilogue.operands.map((o, k) => {
      if (k === epilogue.product) return 'value';
      const last = strides[extra.findIndex((e) => e.k === k)]?.[rank - 1] ?? 0;
      return widen(`in${k}[e${k}_row + i * ${last}u]`, o.dtype);
    });
    store = narrow(epilogue.expr(loads), out.dtype);
  }
  const value = epilogue || keep ? `\n    let value = ${normalised};` : '';
  const body = `  let d = prm(${dAt}u);
  let base = gi * d;
  var mean = 0.0;${grad ? '\n  var gs = 0.0;' : ''}
  for (var i = 0u; i < d; i++) { mean = mean + ${v('i')};${grad ? ` gs = gs + ${gv('i')};` : ''} }
  mean = mean / f32(d);
  var variance = 0.0;${grad ? '\n  var gc = 0.0;' : ''}
  for (var i = 0u; i < d; i++) { let c = ${v('i')} - mean; variance = variance + c * c;${grad ? ` gc = gc + ${gv('i')} * c;` : ''} }
  variance = variance / f32(d);
  let rstd = 1.0 / sqrt(variance + prmf(${epsAt}u));${grad ? '\n  let gmean = gs / f32(d);\n  let m = gc * rstd / f32(d);' : ''}
${offsets}
  for (var i = 0u; i < d; i++) {${value}${keep ? `\n    keep[base + i] = ${narrow('value', keep.dtype)};` : ''}
    out[base + i] = ${store};
  }`;
  const g = grad && gradFunction(grad, false);
  const storage: StorageVar[] = [
    { name: 'x', dtype: x.dtype, buffer: x.buffer, access: 'read' },
    ...(g?.storage ?? []),
    ...extra.map(({ o, k }): StorageVar => ({ name: `in${k}`, dtype: o.dtype, buffer: o.buffer, access: 'read' })),
    { name: 'out', dtype: out.dtype, buffer: out.buffer, access: 'read_write' },
    ...(keep ? [{ name: 'keep', dtype: keep.dtype, buffer: keep.buffer, access: 'read_write' } as const] : []),
  ];
  const fused =
    (grad?.fused ? `:pro${grad.operands.length}` : '') +
    (epilogue ? `:fused${extra.length}` : '') +
    (keep ? ':keep' : '');
  const name = `${grad ? 'layer_norm_grad' : 'layer_norm'}[${x.dtype}${fused}]`;
  const functions = g ? { functions: g.functions } : {};
  return assembleKernel({ name, storage, body, threads: rows, params, ...functions }, caps);
}

/**
 * layer_norm reading and writing four elements per storage access (f32, `d` a multiple of 4, and every epilogue
 * operand a vec4 along the row or one value for it), or undefined. The mean and the variance keep four serial partial
 * sums of every fourth element, added pairwise (at most d/4 + 2 terms deep).
 */
function layerNormVector(
  x: Tensor,
  d: number,
  out: Tensor,
  epilogue: NormEpilogue | undefined,
  grad: NormGradSource | undefined,
  keep: Tensor | undefined,
): ((rows: number, eps: number, caps: DeviceCaps) => WgslKernel) | undefined {
  if (d % 4 !== 0 || x.dtype !== 'f32' || out.dtype !== 'f32' || (keep && keep.dtype !== 'f32')) return undefined;
  if (grad && !grad.operands.every((o) => o.dtype === 'f32')) return undefined;
  const rank = epilogue?.shape.length ?? 0;
  const extra = (epilogue?.operands ?? []).flatMap((o, k) => {
    if (k === epilogue?.product) return [];
    const strides = broadcastStrides(o.shape, epilogue?.shape ?? []);
    const last = strides[rank - 1] ?? 0;
    return [{ o, k, strides, plan: last === 0 ? ('splat' as const) : last === 1 ? ('vec4' as const) : undefined }];
  });
  const fits = (e: (typeof extra)[number]): boolean =>
    e.o.dtype === 'f32' && e.plan !== undefined && e.strides.slice(0, rank - 1).every((st) => st % 4 === 0);
  if (!extra.every(fits)) return undefined;
  return (rows, eps, caps) => {
    const params = new Params();
    const dAt = params.push(d);
    const epsAt = params.push(f32Bits(eps));
    let offsets = '';
    let loads = '';
    let store = 'value';
    if (epilogue) {
      const leadAt = params.pushAll(epilogue.shape.slice(0, rank - 1));
      const leadStrides = extra.map((e) => params.pushAll(e.strides.slice(0, rank - 1)));
      offsets = offsetsCode(
        'gi',
        rank - 1,
        leadAt,
        extra.map(({ k }) => `e${k}_row`),
        leadStrides,
      );
      loads = extra
        .map(({ k, plan }) =>
          plan === 'vec4' ? `\n    let l${k} = in${k}[(e${k}_row >> 2u) + i];` : `\n    let l${k} = in${k}[e${k}_row];`,
        )
        .join('');
      const lane = (c: number): string[] =>
        epilogue.operands.map((_, k) => {
          if (k === epilogue.product) return `value[${c}]`;
          return extra.find((e) => e.k === k)?.plan === 'vec4' ? `l${k}[${c}]` : `l${k}`;
        });
      store = `vec4<f32>(${[0, 1, 2, 3].map((c) => epilogue.expr(lane(c))).join(', ')})`;
    }
    const body = `  let d = prm(${dAt}u);
  let d4 = d / 4u;
  let base = gi * d4;
  var s = vec4<f32>(0.0);${grad ? '\n  var gs = vec4<f32>(0.0);' : ''}
  for (var i = 0u; i < d4; i++) { s = s + x[base + i];${grad ? ' gs = gs + vitm_g(base, i);' : ''} }
  let mean = ((s.x + s.y) + (s.z + s.w)) / f32(d);
  var q = vec4<f32>(0.0);${grad ? '\n  var gc = vec4<f32>(0.0);' : ''}
  for (var i = 0u; i < d4; i++) { let c = x[base + i] - mean; q = q + c * c;${grad ? ' gc = gc + vitm_g(base, i) * c;' : ''} }
  let variance = ((q.x + q.y) + (q.z + q.w)) / f32(d);
  let rstd = 1.0 / sqrt(variance + prmf(${epsAt}u));${
    grad
      ? `
  let gmean = ((gs.x + gs.y) + (gs.z + gs.w)) / f32(d);
  let m = ((gc.x + gc.y) + (gc.z + gc.w)) * rstd / f32(d);`
      : ''
  }
${offsets}
  for (var i = 0u; i < d4; i++) {
    let value = ${grad ? 'rstd * (vitm_g(base, i) - gmean - (x[base + i] - mean) * rstd * m)' : '(x[base + i] - mean) * rstd'};${loads}${keep ? '\n    keep[base + i] = value;' : ''}
    out[base + i] = ${store};
  }`;
    const g = grad && gradFunction(grad, true);
    const storage: StorageVar[] = [
      { name: 'x', dtype: x.dtype, buffer: x.buffer, access: 'read', vec4: true },
      ...(g?.storage ?? []),
      ...extra.map(({ o, k, plan }): StorageVar => ({
        name: `in${k}`,
        dtype: o.dtype,
        buffer: o.buffer,
        access: 'read',
        ...(plan === 'vec4' ? { vec4: true } : {}),
      })),
      { name: 'out', dtype: out.dtype, buffer: out.buffer, access: 'read_write', vec4: true },
      ...(keep
        ? [{ name: 'keep', dtype: keep.dtype, buffer: keep.buffer, access: 'read_write', vec4: true } as const]
        : []),
    ];
    const fused =
      (grad?.fused ? `:pro${grad.operands.length}` : '') +
      (epilogue ? `:fused${extra.length}` : '') +
      (keep ? ':keep' : '');
    const name = `${grad ? 'layer_norm_grad' : 'layer_norm'}[f32${fused}:x4]`;
    const functions = g ? { functions: g.functions } : {};
    return assembleKernel({ name, storage, body, threads: rows, params, ...functions }, caps);
  };
}

/**
 * Per-example cross-entropy `logsumexp(z) - ((1 - eps) z[label] + eps/K sum z)`: one invocation per example. A label
 * outside [0, K) gives NaN (the reference reports an error; a kernel cannot throw).
 */
export function crossEntropyKernel(
  logits: Tensor,
  labels: Tensor,
  rows: number,
  k: number,
  labelSmoothing: number,
  out: Tensor,
  caps: DeviceCaps,
): WgslKernel {
  const params = new Params();
  const kAt = params.push(k);
  const epsAt = params.push(f32Bits(labelSmoothing));
  const z = (i: string): string => widen(`z[base + ${i}]`, logits.dtype);
  const label = labels.dtype === 'i32' ? 'u32(max(labels[gi], -1))' : 'labels[gi]';
  const body = `  let k = prm(${kAt}u);
  let eps = prmf(${epsAt}u);
  let base = gi * k;
  let label = ${labels.dtype === 'i32' ? `select(${label}, k, labels[gi] < 0)` : label};
  if (label >= k) { out[gi] = ${narrow('vnan()', out.dtype)}; return; }
  var m = -vinf();
  for (var i = 0u; i < k; i++) { m = vmaxf(m, ${z('i')}); }
  var s = 0.0;
  var total = 0.0;
  for (var i = 0u; i < k; i++) { let v = ${z('i')}; s = s + exp(v - m); total = total + v; }
  let lse = log(s) + m;
  out[gi] = ${narrow(`lse - ((1.0 - eps) * ${z('label')} + (eps / f32(k)) * total)`, out.dtype)};`;
  const storage: StorageVar[] = [
    { name: 'z', dtype: logits.dtype, buffer: logits.buffer, access: 'read' },
    { name: 'labels', dtype: labels.dtype, buffer: labels.buffer, access: 'read' },
    { name: 'out', dtype: out.dtype, buffer: out.buffer, access: 'read_write' },
  ];
  return assembleKernel(
    { name: `cross_entropy[${logits.dtype},${labels.dtype}]`, storage, body, threads: rows, params },
    caps,
  );
}
