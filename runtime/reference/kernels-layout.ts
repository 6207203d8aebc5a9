/** Reference kernels of the layout and indexing ops. */

import { argAt, checkIndex, type Kernel } from './kernel.js';
import { aroundAxis, broadcastMap, size, strides } from './tensor.js';

type LayoutOp =
  | 'reshape'
  | 'transpose'
  | 'broadcast_to'
  | 'concat'
  | 'slice'
  | 'pad'
  | 'take'
  | 'scatter_add'
  | 'take_along_axis'
  | 'scatter_add_along_axis'
  | 'one_hot'
  | 'argmax'
  | 'top_k';

export const layoutKernels: { readonly [P in LayoutOp]: Kernel<P> } = {
  reshape: (args) => Float64Array.from(argAt(args, 0).data),
  transpose: (args, { perm }, out) => {
    const x = argAt(args, 0);
    const xs = strides(x.shape);
    const permuted = perm.map((p) => xs[p] as number);
    const n = size(out.shape);
    const result = new Float64Array(n);
    const idx = new Array<number>(out.shape.length).fill(0);
    let offset = 0;
    for (let i = 0; i < n; i++) {
      result[i] = x.data[offset] as number;
      for (let a = out.shape.length - 1; a >= 0; a--) {
        idx[a] = (idx[a] as number) + 1;
        offset += permuted[a] as number;
        if ((idx[a] as number) < (out.shape[a] as number)) break;
        offset -= (permuted[a] as number) * (out.shape[a] as number);
        idx[a] = 0;
      }
    }
    return result;
  },
  broadcast_to: (args, _attrs, out) => {
    const x = argAt(args, 0);
    return Float64Array.from(broadcastMap(x.shape, out.shape), (j) => x.data[j] as number);
  },
  concat: (args, { axis }, out) => {
    const [outer, total, inner] = aroundAxis(out.shape, axis);
    const result = new Float64Array(size(out.shape));
    let offset = 0;
    for (const x of args) {
      const n = x.shape[axis] ?? 1;
      for (let o = 0; o < outer; o++)
        for (let j = 0; j < n; j++)
          for (let q = 0; q < inner; q++)
            result[(o * total + offset + j) * inner + q] = x.data[(o * n + j) * inner + q] as number;
      offset += n;
    }
    return result;
  },
  slice: (args, { axis, start }, out) => {
    const x = argAt(args, 0);
    const [outer, n, inner] = aroundAxis(x.shape, axis);
    const m = out.shape[axis] ?? 1;
    const result = new Float64Array(size(out.shape));
    for (let o = 0; o < outer; o++)
      for (let j = 0; j < m; j++)
        for (let q = 0; q < inner; q++)
          result[(o * m + j) * inner + q] = x.data[(o * n + start + j) * inner + q] as number;
    return result;
  },
  pad: (args, { axis, before }, out) => {
    const x = argAt(args, 0);
    const [outer, n, inner] = aroundAxis(x.shape, axis);
    const m = out.shape[axis] ?? 1;
    const result = new Float64Array(size(out.shape));
    for (let o = 0; o < outer; o++)
      for (let j = 0; j < n; j++)
        for (let q = 0; q < inner; q++)
          result[(o * m + before + j) * inner + q] = x.data[(o * n + j) * inner + q] as number;
    return result;
  },
  take: (args, { axis }, out) => {
    const x = argAt(args, 0);
    const idx = argAt(args, 1);
    const [outer, n, inner] = aroundAxis(x.shape, axis);
    const count = idx.data.length;
    const result = new Float64Array(size(out.shape));
    for (let o = 0; o < outer; o++)
      for (let j = 0; j < count; j++) {
        const src = checkIndex(idx.data[j] as number, n, 'take');
        for (let q = 0; q < inner; q++)
          result[(o * count + j) * inner + q] = x.data[(o * n + src) * inner + q] as number;
      }
    return result;
  },
  scatter_add: (args, { axis }, out) => {
    const idx = argAt(args, 0);
    const upd = argAt(args, 1);
    const [outer, n, inner] = aroundAxis(out.shape, axis);
    const count = idx.data.length;
    const result = new Float64Array(size(out.shape));
    for (let o = 0; o < outer; o++)
      for (let j = 0; j < count; j++) {
        const dst = checkIndex(idx.data[j] as number, n, 'scatter_add');
        for (let q = 0; q < inner; q++) {
          const at = (o * n + dst) * inner + q;
          result[at] = (result[at] as number) + (upd.data[(o * count + j) * inner + q] as number);
        }
      }
    return result;
  },
  take_along_axis: (args, { axis }, out) => {
    const x = argAt(args, 0);
    const idx = argAt(args, 1);
    const [outer, n, inner] = aroundAxis(x.shape, axis);
    const m = out.shape[axis] ?? 1;
    const result = new Float64Array(size(out.shape));
    for (let o = 0; o < outer; o++)
      for (let j = 0; j < m; j++)
        for (let q = 0; q < inner; q++) {
          const at = (o * m + j) * inner + q;
          const src = checkIndex(idx.data[at] as number, n, 'take_along_axis');
          result[at] = x.data[(o * n + src) * inner + q] as number;
        }
    return result;
  },
  scatter_add_along_axis: (args, { axis }, out) => {
    const idx = argAt(args, 0);
    const upd = argAt(args, 1);
    const [outer, n, inner] = aroundAxis(out.shape, axis);
    const m = upd.shape[axis] ?? 1;
    const result = new Float64Array(size(out.shape));
    for (let o = 0; o < outer; o++)
      for (let j = 0; j < m; j++)
        for (let q = 0; q < inner; q++) {
          const from = (o * m + j) * inner + q;
          const dst = (o * n + checkIndex(idx.data[from] as number, n, 'scatter_add_along_axis')) * inner + q;
          result[dst] = (result[dst] as number) + (upd.data[from] as number);
        }
    return result;
  },
  one_hot: (args, { depth }, out) => {
    const idx = argAt(args, 0);
    const result = new Float64Array(size(out.shape));
    idx.data.forEach((v, i) => {
      result[i * depth + checkIndex(v, depth, 'one_hot')] = 1;
    });
    return result;
  },
  argmax: (args, { axis }, out) => {
    const x = argAt(args, 0);
    const [outer, n, inner] = aroundAxis(x.shape, axis);
    const result = new Float64Array(size(out.shape));
    for (let o = 0; o < outer; o++)
      for (let q = 0; q < inner; q++) {
        let best = 0;
        for (let j = 1; j < n; j++)
          if ((x.data[(o * n + j) * inner + q] as number) > (x.data[(o * n + best) * inner + q] as number)) best = j;
        result[o * inner + q] = best;
      }
    return result;
  },
  top_k: (args, { k }, out) => {
    const x = argAt(args, 0);
    const n = x.shape[x.shape.length - 1] ?? 1;
    const result = new Float64Array(size(out.shape));
    for (let r = 0; r * n < x.data.length; r++) {
      const order = Array.from({ length: n }, (_, j) => j);
      const row = (j: number): number => x.data[r * n + j] as number;
      order.sort((p, q) => row(q) - row(p) || p - q);
      for (let j = 0; j < k; j++) result[r * k + j] = order[j] as number;
    }
    return result;
  },
};
