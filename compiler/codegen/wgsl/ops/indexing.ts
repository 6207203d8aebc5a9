/**
 * Indexing ops. Shapes are viewed around the indexed axis as [outer, n, inner] (see `aroundAxis`).
 *
 * - take / take_along_axis / one_hot: one invocation per output element, a gather.
 * - scatter_add / scatter_add_along_axis: one invocation per OUTPUT element, summing every update whose index names
 *   it, in update order. WebGPU has no float atomics, and this form is deterministic (the same sum order as the
 *   reference) at the cost of reading all indices per output: O(out x count). Fine for the gradients of small
 *   gathers; a sort-based segmented sum is later work.
 * - argmax: one invocation per (outer, inner) line; ties keep the lowest index (strict `>`, as the reference).
 * - top_k: one invocation per (row, element), which computes the element's rank among its row (larger first, ties
 *   by lower index) and writes its index at that rank when the rank is below k: O(n^2) per row, no sort, no barriers.
 *
 * Indices are i32 or u32; an index outside [0, n) (the reference reports an error; a kernel cannot) reads 0 and
 * scatters nowhere.
 */

import type { DType } from '../../../types/shape.js';
import type { BufferRef, WgslKernel } from '../../kernel.js';
import { arithType, assembleKernel, narrow, Params, widen, type DeviceCaps, type StorageVar } from './common.js';

interface Tensor {
  readonly buffer: BufferRef;
  readonly dtype: DType;
}

/** An index load as u32 (a negative i32 becomes a huge u32, i.e. out of range). */
function index(name: string, at: string, dtype: DType): string {
  return dtype === 'i32' ? `bitcast<u32>(${name}[${at}])` : `${name}[${at}]`;
}

function zeroOf(dtype: DType): string {
  const t = arithType(dtype);
  return t === 'f32' ? '0.0' : t === 'i32' ? '0' : '0u';
}

function io(x: Tensor, idx: Tensor, out: Tensor, xName = 'x'): StorageVar[] {
  return [
    { name: xName, dtype: x.dtype, buffer: x.buffer, access: 'read' },
    { name: 'idx', dtype: idx.dtype, buffer: idx.buffer, access: 'read' },
    { name: 'out', dtype: out.dtype, buffer: out.buffer, access: 'read_write' },
  ];
}

/** take along an axis: out [outer, count, inner] from x [outer, n, inner] with indices (count of them). */
export function takeKernel(
  x: Tensor,
  idx: Tensor,
  out: Tensor,
  dims: { outer: number; n: number; inner: number; count: number },
  caps: DeviceCaps,
): WgslKernel {
  const params = new Params();
  const nAt = params.push(dims.n);
  const innerAt = params.push(dims.inner);
  const countAt = params.push(dims.count);
  const body = `  let inner = prm(${innerAt}u);
  let q = gi % inner;
  let j = (gi / inner) % prm(${countAt}u);
  let o = gi / (inner * prm(${countAt}u));
  let src = ${index('idx', 'j', idx.dtype)};
  if (src >= prm(${nAt}u)) { out[gi] = ${narrow(zeroOf(out.dtype), out.dtype)}; return; }
  out[gi] = x[(o * prm(${nAt}u) + src) * inner + q];`;
  return assembleKernel(
    {
      name: `take[${x.dtype},${idx.dtype}]`,
      storage: io(x, idx, out),
      body,
      threads: dims.outer * dims.count * dims.inner,
      params,
    },
    caps,
  );
}

/** scatter_add: out [outer, n, inner] = sum over j with idx[j] == d of upd[outer, j, inner]. */
export function scatterAddKernel(
  idx: Tensor,
  upd: Tensor,
  out: Tensor,
  dims: { outer: number; n: number; inner: number; count: number },
  caps: DeviceCaps,
): WgslKernel {
  const params = new Params();
  const nAt = params.push(dims.n);
  const innerAt = params.push(dims.inner);
  const countAt = params.push(dims.count);
  const body = `  let inner = prm(${innerAt}u);
  let count = prm(${countAt}u);
  let q = gi % inner;
  let d = (gi / inner) % prm(${nAt}u);
  let o = gi / (inner * prm(${nAt}u));
  var acc = ${zeroOf(out.dtype)};
  for (var j = 0u; j < count; j++) {
    if (${index('idx', 'j', idx.dtype)} == d) { acc = acc + ${widen('upd[(o * count + j) * inner + q]', upd.dtype)}; }
  }
  out[gi] = ${narrow('acc', out.dtype)};`;
  return assembleKernel(
    {
      name: `scatter_add[${upd.dtype},${idx.dtype}]`,
      storage: io(upd, idx, out, 'upd'),
      body,
      threads: dims.outer * dims.n * dims.inner,
      params,
    },
    caps,
  );
}

/** take_along_axis: out [outer, m, inner] = x[outer, idx[outer, j, inner], inner]. */
export function takeAlongAxisKernel(
  x: Tensor,
  idx: Tensor,
  out: Tensor,
  dims: { outer: number; n: number; inner: number; m: number },
  caps: DeviceCaps,
): WgslKernel {
  const params = new Params();
  const nAt = params.push(dims.n);
  const innerAt = params.push(dims.inner);
  const mAt = params.push(dims.m);
  const body = `  let inner = prm(${innerAt}u);
  let q = gi % inner;
  let o = gi / (inner * prm(${mAt}u));
  let src = ${index('idx', 'gi', idx.dtype)};
  if (src >= prm(${nAt}u)) { out[gi] = ${narrow(zeroOf(out.dtype), out.dtype)}; return; }
  out[gi] = x[(o * prm(${nAt}u) + src) * inner + q];`;
  return assembleKernel(
    {
      name: `take_along_axis[${x.dtype},${idx.dtype}]`,
      storage: io(x, idx, out),
      body,
      threads: dims.outer * dims.m * dims.inner,
      params,
    },
    caps,
  );
}

/** scatter_add_along_axis: out [outer, n, inner] sums upd[outer, j, inner] over j with idx[outer, j, inner] == d. */
export function scatterAddAlongAxisKernel(
  idx: Tensor,
  upd: Tensor,
  out: Tensor,
  dims: { outer: number; n: number; inner: number; m: number },
  caps: DeviceCaps,
): WgslKernel {
  const params = new Params();
  const nAt = params.push(dims.n);
  const innerAt = params.push(dims.inner);
  const mAt = params.push(dims.m);
  const body = `  let inner = prm(${innerAt}u);
  let m = prm(${mAt}u);
  let q = gi % inner;
  let d = (gi / inner) % prm(${nAt}u);
  let o = gi / (inner * prm(${nAt}u));
  var acc = ${zeroOf(out.dtype)};
  for (var j = 0u; j < m; j++) {
    let src_at = (o * m + j) * inner + q;
    if (${index('idx', 'src_at', idx.dtype)} == d) { acc = acc + ${widen('upd[src_at]', upd.dtype)}; }
  }
  out[gi] = ${narrow('acc', out.dtype)};`;
  return assembleKernel(
    {
      name: `scatter_add_along_axis[${upd.dtype},${idx.dtype}]`,
      storage: io(upd, idx, out, 'upd'),
      body,
      threads: dims.outer * dims.n * dims.inner,
      params,
    },
    caps,
  );
}

/** one_hot: out [count, depth] = (idx[i] == j). */
export function oneHotKernel(idx: Tensor, out: Tensor, count: number, depth: number, caps: DeviceCaps): WgslKernel {
  const params = new Params();
  const depthAt = params.push(depth);
  const t = arithType(out.dtype);
  const one = t === 'f32' ? '1.0' : t === 'i32' ? '1' : '1u';
  const body = `  let depth = prm(${depthAt}u);
  let hit = ${index('idx', 'gi / depth', idx.dtype)} == gi % depth;
  out[gi] = ${narrow(`select(${zeroOf(out.dtype)}, ${one}, hit)`, out.dtype)};`;
  const storage: StorageVar[] = [
    { name: 'idx', dtype: idx.dtype, buffer: idx.buffer, access: 'read' },
    { name: 'out', dtype: out.dtype, buffer: out.buffer, access: 'read_write' },
  ];
  return assembleKernel(
    { name: `one_hot[${idx.dtype}->${out.dtype}]`, storage, body, threads: count * depth, params },
    caps,
  );
}

/** argmax along the axis of [outer, n, inner]: out [outer, inner] (i32). */
export function argmaxKernel(
  x: Tensor,
  out: Tensor,
  dims: { outer: number; n: number; inner: number },
  caps: DeviceCaps,
): WgslKernel {
  const params = new Params();
  const nAt = params.push(dims.n);
  const innerAt = params.push(dims.inner);
  const v = (j: string): string => widen(`x[base + ${j} * inner]`, x.dtype);
  const body = `  let inner = prm(${innerAt}u);
  let n = prm(${nAt}u);
  let base = (gi / inner) * n * inner + gi % inner;
  var best = 0u;
  var bestValue = ${v('0u')};
  for (var j = 1u; j < n; j++) {
    let value = ${v('j')};
    if (value > bestValue) { best = j; bestValue = value; }
  }
  out[gi] = i32(best);`;
  const storage: StorageVar[] = [
    { name: 'x', dtype: x.dtype, buffer: x.buffer, access: 'read' },
    { name: 'out', dtype: out.dtype, buffer: out.buffer, access: 'read_write' },
  ];
  return assembleKernel({ name: `argmax[${x.dtype}]`, storage, body, threads: dims.outer * dims.inner, params }, caps);
}

/** top_k over the last axis of [rows, n]: out [rows, k] (i32) by ranks. */
export function topKKernel(
  x: Tensor,
  out: Tensor,
  dims: { rows: number; n: number; k: number },
  caps: DeviceCaps,
): WgslKernel {
  const params = new Params();
  const nAt = params.push(dims.n);
  const kAt = params.push(dims.k);
  const v = (j: string): string => widen(`x[base + ${j}]`, x.dtype);
  const body = `  let n = prm(${nAt}u);
  let row = gi / n;
  let i = gi % n;
  let base = row * n;
  let mine = ${v('i')};
  var rank = 0u;
  for (var j = 0u; j < n; j++) {
    let other = ${v('j')};
    if (other > mine || (other == mine && j < i)) { rank++; }
  }
  if (rank < prm(${kAt}u)) { out[row * prm(${kAt}u) + rank] = i32(i); }`;
  const storage: StorageVar[] = [
    { name: 'x', dtype: x.dtype, buffer: x.buffer, access: 'read' },
    { name: 'out', dtype: out.dtype, buffer: out.buffer, access: 'read_write' },
  ];
  return assembleKernel({ name: `top_k[${x.dtype}]`, storage, body, threads: dims.rows * dims.n, params }, caps);
}
