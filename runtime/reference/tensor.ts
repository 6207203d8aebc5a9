/**
 * Tensors of the reference interpreter: a dtype, a concrete shape and the elements in row-major order as float64
 * numbers (integers and booleans too: a bool is 0 or 1). Simple on purpose: this code defines what ops mean.
 */

import type { DType } from '../../compiler/types/shape.js';

export interface RefTensor {
  readonly dtype: DType;
  readonly shape: readonly number[];
  readonly data: Float64Array;
}

export function size(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** Row-major strides. */
export function strides(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length).fill(1);
  for (let i = shape.length - 2; i >= 0; i--) s[i] = (s[i + 1] as number) * (shape[i + 1] as number);
  return s;
}

export function makeTensor(dtype: DType, shape: readonly number[], data?: ArrayLike<number>): RefTensor {
  const n = size(shape);
  const d = data === undefined ? new Float64Array(n) : Float64Array.from(data);
  if (d.length !== n) throw new RangeError(`${d.length} values for shape [${shape.join(', ')}]`);
  return { dtype, shape: [...shape], data: d };
}

export function scalarTensor(dtype: DType, value: number): RefTensor {
  return makeTensor(dtype, [], [value]);
}

/**
 * For each element of `out` (row-major), the flat index of the element of a tensor of shape `arg` that NumPy
 * broadcasting reads there.
 */
export function broadcastMap(arg: readonly number[], out: readonly number[]): Int32Array {
  const n = size(out);
  const map = new Int32Array(n);
  const lead = out.length - arg.length;
  const argStrides = strides(arg);
  const eff = out.map((_, i) => {
    const j = i - lead;
    return j < 0 || arg[j] === 1 ? 0 : (argStrides[j] as number);
  });
  const idx = new Array<number>(out.length).fill(0);
  let offset = 0;
  for (let i = 0; i < n; i++) {
    map[i] = offset;
    for (let a = out.length - 1; a >= 0; a--) {
      idx[a] = (idx[a] as number) + 1;
      offset += eff[a] as number;
      if ((idx[a] as number) < (out[a] as number)) break;
      offset -= (eff[a] as number) * (out[a] as number);
      idx[a] = 0;
    }
  }
  return map;
}

/** For each element of a tensor of shape `shape`, the flat index of its group when `axes` are reduced. */
export function reduceMap(shape: readonly number[], axes: readonly number[]): { map: Int32Array; groups: number } {
  const kept = shape.map((d, i) => (axes.includes(i) ? 1 : d));
  const groups = size(kept);
  // Reading the reduced-shape tensor at each input position is a broadcast from `kept` to `shape`.
  return { map: broadcastMap(kept, shape), groups };
}

/** `shape` split around `axis` as [outer, size, inner]. */
export function aroundAxis(shape: readonly number[], axis: number): [number, number, number] {
  return [size(shape.slice(0, axis)), shape[axis] ?? 1, size(shape.slice(axis + 1))];
}
