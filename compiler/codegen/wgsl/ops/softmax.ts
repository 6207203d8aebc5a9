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
 * long (`:x4`). Other lines take three passes over storage (max, sum, write). Both keep the maximum subtraction; the
 * unrolled form sums in four interleaved partial sums added pairwise, never deeper than the serial sum.
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
  const vec = n % 4 === 0 && x.dtype === 'f32' && out.dtype === 'f32';
  const idx = Array.from({ length: n }, (_, i) => i);
  const body: string[] = [];
  if (vec) {
    for (let q = 0; q < n / 4; q++) body.push(`  let xv_${q} = x[gi * ${n / 4}u + ${q}u];`);
    for (const i of idx) body.push(`  let x_${i} = xv_${i >> 2}[${i & 3}];`);
  } else {
    for (const i of idx) body.push(`  let x_${i} = ${widen(`x[gi * ${n}u + ${i}u]`, x.dtype)};`);
  }
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
  if (vec) {
    for (let q = 0; q < n / 4; q++)
      body.push(
        `  out[gi * ${n / 4}u + ${q}u] = vec4<f32>(${[0, 1, 2, 3].map((c) => `e_${4 * q + c} / s`).join(', ')});`,
      );
  } else {
    for (const i of idx) body.push(`  out[gi * ${n}u + ${i}u] = ${narrow(`e_${i} / s`, out.dtype)};`);
  }
  const storage: StorageVar[] = [
    { name: 'x', dtype: x.dtype, buffer: x.buffer, access: 'read', ...(vec ? { vec4: true } : {}) },
    { name: 'out', dtype: out.dtype, buffer: out.buffer, access: 'read_write', ...(vec ? { vec4: true } : {}) },
  ];
  const name = `softmax[${x.dtype}:r${n}${vec ? ':x4' : ''}]`;
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
 * everything is f32), its sum in four interleaved partial sums; other lines take two passes (the sum, then the
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
  const vec = unrolled && n % 4 === 0 && f32;
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
    if (vec) {
      for (let q = 0; q < n / 4; q++)
        body.push(`  let yv_${q} = y[gi * ${n / 4}u + ${q}u];`, `  let gv_${q} = g[gi * ${n / 4}u + ${q}u];`);
      for (const i of idx)
        body.push(`  let y_${i} = yv_${i >> 2}[${i & 3}];`, `  let g_${i} = gv_${i >> 2}[${i & 3}];`);
    } else {
      for (const i of idx)
        body.push(
          `  let y_${i} = ${widen(`y[gi * ${n}u + ${i}u]`, y.dtype)};`,
          `  let g_${i} = ${widen(`g[gi * ${n}u + ${i}u]`, g.dtype)};`,
        );
    }
    body.push(
      `  let s = ${fourWay(
        idx.map((i) => `y_${i} * g_${i}`),
        (a, b) => `(${a} + ${b})`,
      )};`,
    );
    if (vec) {
      for (let q = 0; q < n / 4; q++) {
        const parts = [0, 1, 2, 3].map((c) =>
          stored(`y_${4 * q + c} * (g_${4 * q + c} - s)`, `gi * ${n}u + ${4 * q + c}u`),
        );
        body.push(`  out[gi * ${n / 4}u + ${q}u] = vec4<f32>(${parts.join(', ')});`);
      }
    } else {
      for (const i of idx)
        body.push(`  out[gi * ${n}u + ${i}u] = ${stored(`y_${i} * (g_${i} - s)`, `gi * ${n}u + ${i}u`)};`);
    }
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
    { name: 'y', dtype: y.dtype, buffer: y.buffer, access: 'read', ...(vec ? { vec4: true } : {}) },
    { name: 'g', dtype: g.dtype, buffer: g.buffer, access: 'read', ...(vec ? { vec4: true } : {}) },
    ...extra.map(({ o, k }): StorageVar => ({ name: `in${k}`, dtype: o.dtype, buffer: o.buffer, access: 'read' })),
    { name: 'out', dtype: out.dtype, buffer: out.buffer, access: 'read_write', ...(vec ? { vec4: true } : {}) },
  ];
  const name =
    `softmax_grad[${y.dtype}${unrolled ? `:r${n}` : ''}${vec ? ':x4' : ''}` +
    `${epilogue ? `:fused${extra.length}` : ''}]`;
  return assembleKernel({ name, storage, body: body.join('\n'), threads: lines, params }, caps);
}
