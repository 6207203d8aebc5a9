/**
 * Layout ops as strided copies. One kernel family covers them all: over an iteration shape, element `c` (a multi-index)
 * is copied from `src[srcBase + c . srcStrides]` to `dst[dstBase + c . dstStrides]`, either side contiguous when its
 * strides are row-major (then the linear index is used directly).
 *
 * - transpose: iterate the output; source strides are the input's strides permuted.
 * - broadcast_to: iterate the output; source strides 0 along broadcast axes.
 * - slice: iterate the output; source base `start * inner`.
 * - concat: one copy per argument, iterating the argument, into the output at its offset along the axis (so any
 *   number of arguments fits the binding limit).
 * - pad: a zero fill, then one copy of the input into the interior.
 * - reshape and stop_gradient copy nothing: the result aliases its argument's buffer (see `lower.ts`).
 */

import type { DType } from '../../../types/shape.js';
import type { BufferRef, WgslKernel } from '../../kernel.js';
import { assembleKernel, offsetsCode, Params, sizeOf, stridesOf, type DeviceCaps, type StorageVar } from './common.js';

export interface StridedSide {
  readonly buffer: BufferRef;
  /** Element strides per iteration axis, or 'contiguous' (row-major over the iteration shape). */
  readonly strides: readonly number[] | 'contiguous';
  readonly base: number;
}

/**
 * The same copy over fewer axes: axes of size 1 dropped, and neighbouring axes merged where both sides step through
 * them as through one (`stride[i] = stride[i + 1] * shape[i + 1]`), so the kernel divides by fewer sizes.
 */
export function collapseCopy(
  shape: readonly number[],
  src: StridedSide,
  dst: StridedSide,
): { shape: number[]; src: StridedSide; dst: StridedSide } {
  const contiguous = stridesOf(shape);
  const stridesOfSide = (s: StridedSide): readonly number[] => (s.strides === 'contiguous' ? contiguous : s.strides);
  const sides = [stridesOfSide(src), stridesOfSide(dst)];
  const dims: number[] = [];
  const merged: number[][] = [[], []];
  shape.forEach((d, i) => {
    if (d === 1) return;
    const last = dims.length - 1;
    const mergeable = last >= 0 && sides.every((s, k) => merged[k]?.[last] === (s[i] as number) * d);
    if (mergeable) {
      dims[last] = (dims[last] as number) * d;
      sides.forEach((s, k) => {
        (merged[k] as number[])[last] = s[i] as number;
      });
    } else {
      dims.push(d);
      sides.forEach((s, k) => (merged[k] as number[]).push(s[i] as number));
    }
  });
  const side = (s: StridedSide, k: number): StridedSide =>
    s.strides === 'contiguous' ? s : { ...s, strides: merged[k] as number[] };
  return { shape: dims, src: side(src, 0), dst: side(dst, 1) };
}

/** Copies over `shape` from `src` to `dst` (both of `dtype`; storage is copied bit for bit). */
export function stridedCopyKernel(
  name: string,
  dtype: DType,
  fullShape: readonly number[],
  fullSrc: StridedSide,
  fullDst: StridedSide,
  caps: DeviceCaps,
): WgslKernel {
  const collapsed = collapseCopy(fullShape, fullSrc, fullDst);
  const vector = dtype === 'f32' ? vectorCopy(collapsed.shape, collapsed.src, collapsed.dst) : undefined;
  const { shape, src, dst } = vector ?? collapsed;
  const params = new Params();
  const rank = shape.length;
  const dimsAt = params.pushAll(shape);
  const names: string[] = [];
  const stridesAt: number[] = [];
  const contiguous = stridesOf(shape);
  const isContiguous = (s: StridedSide): boolean =>
    s.strides === 'contiguous' || s.strides.every((x, i) => x === contiguous[i] || shape[i] === 1);
  const side = (s: StridedSide, label: string): string => {
    const baseAt = params.push(s.base);
    if (isContiguous(s)) return `prm(${baseAt}u) + gi`;
    names.push(label);
    stridesAt.push(params.pushAll(s.strides as readonly number[]));
    return `prm(${baseAt}u) + ${label}`;
  };
  const from = side(src, 'sof');
  const to = side(dst, 'dof');
  const offsets = names.length > 0 ? offsetsCode('gi', rank, dimsAt, names, stridesAt) + '\n' : '';
  const storage: StorageVar[] = [
    { name: 'src', dtype, buffer: src.buffer, access: 'read', ...(vector ? { vec4: true } : {}) },
    { name: 'dst', dtype, buffer: dst.buffer, access: 'read_write', ...(vector ? { vec4: true } : {}) },
  ];
  const flags = `${names.includes('sof') ? 's' : 'c'}${names.includes('dof') ? 's' : 'c'}`;
  return assembleKernel(
    {
      name: `${name}[r${rank}:${flags}:${dtype}${vector ? ':x4' : ''}]`,
      storage,
      body: `${offsets}  dst[${to}] = src[${from}];`,
      threads: sizeOf(shape),
      params,
    },
    caps,
  );
}

/**
 * The same copy in units of four elements (vec4), when every run of four consecutive elements along the last axis is
 * four consecutive, 4-aligned elements on both sides: the last axis a multiple of 4 with stride 1 on both sides, every
 * other stride and both bases multiples of 4. llvmpipe pays for a storage access per SIMD lane and access, whatever
 * its width, so a vec4 moves four elements for about the price of one.
 */
export function vectorCopy(
  shape: readonly number[],
  src: StridedSide,
  dst: StridedSide,
): { shape: number[]; src: StridedSide; dst: StridedSide } | undefined {
  const rank = shape.length;
  const last = shape[rank - 1];
  if (last === undefined || last % 4 !== 0) return undefined;
  const fits = (s: StridedSide): boolean =>
    s.base % 4 === 0 &&
    (s.strides === 'contiguous' || s.strides.every((x, i) => (i === rank - 1 ? x === 1 : x % 4 === 0)));
  if (!fits(src) || !fits(dst)) return undefined;
  const quarter = (s: StridedSide): StridedSide => ({
    ...s,
    base: s.base / 4,
    strides: s.strides === 'contiguous' ? 'contiguous' : s.strides.map((x, i) => (i === rank - 1 ? 1 : x / 4)),
  });
  return { shape: [...shape.slice(0, -1), last / 4], src: quarter(src), dst: quarter(dst) };
}

/** The source strides of a transpose by `perm` of an input of `inShape`, per output axis. */
export function transposeStrides(inShape: readonly number[], perm: readonly number[]): number[] {
  const s = stridesOf(inShape);
  return perm.map((p) => s[p] as number);
}

/** Output strides of the region of `outShape` an argument occupies (the argument's own shape iterates it). */
export function regionStrides(outShape: readonly number[]): number[] {
  return stridesOf(outShape);
}
