/**
 * softmax and its gradient along one axis: one invocation per line. A contiguous line of at most
 * `SOFTMAX_UNROLL_MAX` elements (attention's rows) is read once into registers, unrolled; other lines take passes
 * over storage. Both subtract the line's maximum before exponentiating (a line of -inf gives NaN, as the reference).
 */

import type { DType } from '../../../types/shape.js';
import type { BufferRef, WgslKernel } from '../../kernel.js';
import { assembleKernel, narrow, Params, sizeOf, widen, type DeviceCaps, type StorageVar } from './common.js';

interface Tensor {
  readonly buffer: BufferRef;
  readonly dtype: DType;
}

/** The longest softmax line read once into registers (unrolled); longer lines, or strided ones, take three passes. */
export const SOFTMAX_UNROLL_MAX = 64;

/**
 * softmax along `axis` of `shape`: one invocation per (outer, inner) line. A contiguous line of at most
 * `SOFTMAX_UNROLL_MAX` elements (attention's rows) is read once, unrolled: its values stay in registers for the
 * maximum, the exponentials (one each) and the stores, four elements per access where the line is a multiple of 4
 * long (`:x4`), two where it is even (`:x2`). Other lines take three passes over storage (max, sum, write). Both keep
 * the maximum subtraction; the unrolled form sums in four interleaved partial sums added pairwise, never deeper than
 * the serial sum.
 */
export function softmaxKernel(
  x: Tensor,
  shape: readonly number[],
  axis: number,
  out: Tensor,
  caps: DeviceCaps,
): WgslKernel {
  const params = new Params();
  const n = shape[axis] ?? 1;
  const inner = sizeOf(shape.slice(axis + 1));
  const lines = sizeOf(shape) / n;
  if (inner === 1 && n <= SOFTMAX_UNROLL_MAX) return unrolledSoftmax(x, n, lines, out, caps, params);
  const nAt = params.push(n);
  const innerAt = params.push(inner);
  const v = (i: string): string => widen(`x[base + ${i} * stride]`, x.dtype);
  const body = `  let n = prm(${nAt}u);
  let stride = prm(${innerAt}u);
  let base = (gi / stride) * n * stride + gi % stride;
  var m = -vinf();
  for (var i = 0u; i < n; i++) { m = vmaxf(m, ${v('i')}); }
  var s = 0.0;
  for (var i = 0u; i < n; i++) { s = s + exp(${v('i')} - m); }
  for (var i = 0u; i < n; i++) { out[base + i * stride] = ${narrow(`exp(${v('i')} - m) / s`, out.dtype)}; }`;
  const storage: StorageVar[] = [
    { name: 'x', dtype: x.dtype, buffer: x.buffer, access: 'read' },
    { name: 'out', dtype: out.dtype, buffer: out.buffer, access: 'read_write' },
  ];
  return assembleKernel({ name: `softmax[${x.dtype}]`, storage, body, threads: lines, params }, caps);
}

/**
 * Elements per access of an unrolled f32 line of `n`: 4 where n is a multiple of 4, 2 where it is even (attention's
 * 50 keys: on llvmpipe every access costs a loop over the SIMD lanes, so pairs halve the loops), else 1.
 */
function lineWidth(n: number, f32: boolean): 1 | 2 | 4 {
  if (!f32) return 1;
  return n % 4 === 0 ? 4 : n % 2 === 0 ? 2 : 1;
}

/** The storage declaration flags of a line read or written `w` elements per access. */
const widthFlags = (w: 1 | 2 | 4): { vec4?: true; vec2?: true } =>
  w === 4 ? { vec4: true } : w === 2 ? { vec2: true } : {};

/** The access suffix of a kernel name: `:x4`, `:x2` or nothing. */
const widthName = (w: 1 | 2 | 4): string => (w === 1 ? '' : `:x${w}`);

/** Loads of line `gi` of `name` (n elements, w per access) into `${prefix}_i`, one statement each. */
function loadLine(name: string, prefix: string, n: number, w: 1 | 2 | 4, dtype: DType): string[] {
  const idx = Array.from({ length: n }, (_, i) => i);
  if (w === 1) return idx.map((i) => `  let ${prefix}_${i} = ${widen(`${name}[gi * ${n}u + ${i}u]`, dtype)};`);
  return [
    ...Array.from({ length: n / w }, (_, q) => `  let ${prefix}v_${q} = ${name}[gi * ${n / w}u + ${q}u];`),
    ...idx.map((i) => `  let ${prefix}_${i} = ${prefix}v_${Math.floor(i / w)}[${i % w}];`),
  ];
}

/** Stores of line `gi` of `out`: `value(i)` for each element, w per access. */
function storeLine(n: number, w: 1 | 2 | 4, value: (i: number) => string): string[] {
  if (w === 1) return Array.from({ length: n }, (_, i) => `  out[gi * ${n}u + ${i}u] = ${value(i)};`);
  return Array.from({ length: n / w }, (_, q) => {
    const parts = Array.from({ length: w }, (_, c) => value(w * q + c));
    return `  out[gi * ${n / w}u + ${q}u] = vec${w}<f32>(${parts.join(', ')});`;
  });
}

/** A chain `op(...op(op(a0, a4), a8)...)` over every fourth term, four chains combined pairwise. */
function fourWay(terms: readonly string[], op: (a: string, b: string) => string): string {
  const chains = [0, 1, 2, 3]
    .map((r) => terms.filter((_, i) => i % 4 === r))
    .filter((c) => c.length > 0)
    .map((c) => c.slice(1).reduce(op, c[0] as string));
  while (chains.length > 1) {
    const pairs: string[] = [];
    for (let i = 0; i < chains.length; i += 2)
      pairs.push(i + 1 < chains.length ? op(chains[i] as string, chains[i + 1] as string) : (chains[i] as string));
    chains.splice(0, chains.length, ...pairs);
  }
  return chains[0] as string;
}

function unrolledSoftmax(
  x: Tensor,
  n: number,
  lines: number,
  out: Tensor,
  caps: DeviceCaps,
  params: Params,
): WgslKernel {
  const w = lineWidth(n, x.dtype === 'f32' && out.dtype === 'f32');
  const idx = Array.from({ length: n }, (_, i) => i);
  const body: string[] = loadLine('x', 'x', n, w, x.dtype);
  body.push(
    `  let m = ${fourWay(
      idx.map((i) => `x_${i}`),
      (a, b) => `vmaxf(${a}, ${b})`,
    )};`,
  );
  for (const i of idx) body.push(`  let e_${i} = exp(x_${i} - m);`);
  body.push(
    `  let s = ${fourWay(
      idx.map((i) => `e_${i}`),
      (a, b) => `(${a} + ${b})`,
    )};`,
  );
  body.push(...storeLine(n, w, (i) => narrow(`e_${i} / s`, out.dtype)));
  const storage: StorageVar[] = [
    { name: 'x', dtype: x.dtype, buffer: x.buffer, access: 'read', ...widthFlags(w) },
    { name: 'out', dtype: out.dtype, buffer: out.buffer, access: 'read_write', ...widthFlags(w) },
  ];
  const name = `softmax[${x.dtype}:r${n}${widthName(w)}]`;
  return assembleKernel({ name, storage, body: body.join('\n'), threads: lines, params }, caps);
}

/**
 * An elementwise group applied to softmax_grad's result before it is stored (the scores' scale, say): `expr` over
 * the operands' values, operand `product` being the gradient itself; every other operand is a single value (read
 * once) or of the result's shape (read at the element's index).
 */
export interface SoftmaxGradEpilogue {
  readonly operands: readonly (Tensor & { readonly elements: number })[];
  readonly product: number;
  readonly expr: (operandExprs: readonly string[]) => string;
}

/**
 * softmax_grad(y, g) along `axis` of `shape`: `y (g - sum(g y))`, one invocation per line, as softmax. A contiguous
 * line of at most `SOFTMAX_UNROLL_MAX` elements is read once, unrolled (vec4 where its length is a multiple of 4 and
 * everything is f32, vec2 where it is even), its sum in four interleaved partial sums; other lines take two passes (the sum, then the
 * result). An epilogue (`SoftmaxGradEpilogue`) is applied before the store.
 */
export function softmaxGradKernel(
  y: Tensor,
  g: Tensor,
  shape: readonly number[],
  axis: number,
  out: Tensor,
  caps: DeviceCaps,
  epilogue?: SoftmaxGradEpilogue,
): WgslKernel {
  const params = new Params();
  const n = shape[axis] ?? 1;
  const inner = sizeOf(shape.slice(axis + 1));
  const lines = sizeOf(shape) / n;
  const total = sizeOf(shape);
  const extra = (epilogue?.operands ?? []).flatMap((o, k) => (k === epilogue?.product ? [] : [{ o, k }]));
  for (const { o } of extra)
    if (o.elements !== 1 && o.elements !== total)
      throw new RangeError('softmax_grad epilogue operands are single values or of the result shape');
  const f32 = [y, g, out, ...extra.map((e) => e.o)].every((t) => t.dtype === 'f32');
  const unrolled = inner === 1 && n <= SOFTMAX_UNROLL_MAX;
  const w = unrolled ? lineWidth(n, f32) : 1;
  // The stored value of element `at` (a WGSL index expression) whose gradient is `value`.
  const stored = (value: string, at: string): string => {
    if (!epilogue) return narrow(value, out.dtype);
    const loads = epilogue.operands.map((o, k) => {
      if (k === epilogue.product) return `(${value})`;
      return widen(o.elements === 1 ? `in${k}[0]` : `in${k}[${at}]`, o.dtype);
    });
    return narrow(epilogue.expr(loads), out.dtype);
  };
  const body: string[] = [];
  if (unrolled) {
    const idx = Array.from({ length: n }, (_, i) => i);
    body.push(...loadLine('y', 'y', n, w, y.dtype), ...loadLine('g', 'g', n, w, g.dtype));
    body.push(
      `  let s = ${fourWay(
        idx.map((i) => `y_${i} * g_${i}`),
        (a, b) => `(${a} + ${b})`,
      )};`,
    );
    body.push(...storeLine(n, w, (i) => stored(`y_${i} * (g_${i} - s)`, `gi * ${n}u + ${i}u`)));
  } else {
    const at = (i: string): string => `base + ${i} * ${inner}u`;
    const yv = (i: string): string => widen(`y[${at(i)}]`, y.dtype);
    const gv = (i: string): string => widen(`g[${at(i)}]`, g.dtype);
    body.push(
      `  let base = (gi / ${inner}u) * ${n * inner}u + gi % ${inner}u;`,
      `  var s = 0.0;`,
      `  for (var i = 0u; i < ${n}u; i++) { s = s + ${yv('i')} * ${gv('i')}; }`,
      `  for (var i = 0u; i < ${n}u; i++) { out[${at('i')}] = ${stored(`${yv('i')} * (${gv('i')} - s)`, at('i'))}; }`,
    );
  }
  const storage: StorageVar[] = [
    { name: 'y', dtype: y.dtype, buffer: y.buffer, access: 'read', ...widthFlags(w) },
    { name: 'g', dtype: g.dtype, buffer: g.buffer, access: 'read', ...widthFlags(w) },
    ...extra.map(({ o, k }): StorageVar => ({ name: `in${k}`, dtype: o.dtype, buffer: o.buffer, access: 'read' })),
    { name: 'out', dtype: out.dtype, buffer: out.buffer, access: 'read_write', ...widthFlags(w) },
  ];
  const name =
    `softmax_grad[${y.dtype}${unrolled ? `:r${n}` : ''}${widthName(w)}` + `${epilogue ? `:fused${extra.length}` : ''}]`;
  return assembleKernel({ name, storage, body: body.join('\n'), threads: lines, params }, caps);
}
