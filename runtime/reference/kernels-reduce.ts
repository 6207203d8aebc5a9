/**
 * Reference kernels of reductions, normalisations, the cross-entropy loss and matmul. Sums accumulate in float64 in
 * element order; softmax, logsumexp and cross-entropy subtract the maximum first; layer_norm uses the two-pass
 * variance `mean((x - mean(x))^2)`.
 */

import type { ReduceOp } from '../../compiler/ops/op.js';
import { argAt, checkIndex, type Kernel } from './kernel.js';
import { broadcastMap, reduceMap, size } from './tensor.js';

type ReduceFamilyOp =
  ReduceOp | 'softmax' | 'softmax_grad' | 'layer_norm' | 'layer_norm_grad' | 'cross_entropy' | 'matmul';

/** Per-group maxima; a group holding a NaN gives NaN (a comparison with NaN is false, so NaN is never replaced). */
function groupMax(data: Float64Array, map: Int32Array, groups: number): Float64Array {
  const m = new Float64Array(groups).fill(-Infinity);
  for (let i = 0; i < data.length; i++) {
    const g = map[i] as number;
    const x = data[i] as number;
    if (Number.isNaN(x) || x > (m[g] as number)) m[g] = x;
  }
  return m;
}

function groupSum(data: ArrayLike<number>, map: Int32Array, groups: number): Float64Array {
  const s = new Float64Array(groups);
  for (let i = 0; i < data.length; i++) s[map[i] as number] = (s[map[i] as number] as number) + (data[i] as number);
  return s;
}

/** `log(sum(exp(x - m))) + m` per group; a group of -inf gives -inf. */
function groupLogSumExp(data: Float64Array, map: Int32Array, groups: number): Float64Array {
  const m = groupMax(data, map, groups);
  const shifted = data.map((x, i) => {
    const mi = m[map[i] as number] as number;
    return mi === -Infinity ? 0 : Math.exp(x - mi);
  });
  const s = groupSum(shifted, map, groups);
  return m.map((mi, g) => (mi === -Infinity ? -Infinity : Math.log(s[g] as number) + mi));
}

export const reduceKernels: { readonly [P in ReduceFamilyOp]: Kernel<P> } = {
  reduce_sum: (args, { axes }) => {
    const x = argAt(args, 0);
    const { map, groups } = reduceMap(x.shape, axes);
    return groupSum(x.data, map, groups);
  },
  reduce_mean: (args, { axes }) => {
    const x = argAt(args, 0);
    const { map, groups } = reduceMap(x.shape, axes);
    const count = size(axes.map((a) => x.shape[a] ?? 1));
    return groupSum(x.data, map, groups).map((s) => s / count);
  },
  reduce_max: (args, { axes }) => {
    const x = argAt(args, 0);
    const { map, groups } = reduceMap(x.shape, axes);
    return groupMax(x.data, map, groups);
  },
  logsumexp: (args, { axes }) => {
    const x = argAt(args, 0);
    const { map, groups } = reduceMap(x.shape, axes);
    return groupLogSumExp(x.data, map, groups);
  },
  softmax: (args, { axis }) => {
    const x = argAt(args, 0);
    const { map, groups } = reduceMap(x.shape, [axis]);
    const m = groupMax(x.data, map, groups);
    const e = x.data.map((v, i) => Math.exp(v - (m[map[i] as number] as number)));
    const s = groupSum(e, map, groups);
    return e.map((v, i) => v / (s[map[i] as number] as number));
  },
  softmax_grad: (args, { axis }) => {
    // y (g - sum(g y)) along the axis.
    const y = argAt(args, 0);
    const g = argAt(args, 1);
    const { map, groups } = reduceMap(y.shape, [axis]);
    const s = groupSum(
      y.data.map((v, i) => v * (g.data[i] as number)),
      map,
      groups,
    );
    return y.data.map((v, i) => v * ((g.data[i] as number) - (s[map[i] as number] as number)));
  },
  layer_norm: (args, { eps }) => {
    const x = argAt(args, 0);
    const d = x.shape[x.shape.length - 1] ?? 1;
    const out = new Float64Array(x.data.length);
    for (let r = 0; r < x.data.length; r += d) {
      let mean = 0;
      for (let i = 0; i < d; i++) mean += x.data[r + i] as number;
      mean /= d;
      let variance = 0;
      for (let i = 0; i < d; i++) variance += ((x.data[r + i] as number) - mean) ** 2;
      variance /= d;
      const rstd = 1 / Math.sqrt(variance + eps);
      for (let i = 0; i < d; i++) out[r + i] = ((x.data[r + i] as number) - mean) * rstd;
    }
    return out;
  },
  layer_norm_grad: (args, { eps }) => {
    // dx = rstd (g - mean(g) - xh mean(g xh)), xh = (x - mean(x)) rstd, per row of the last axis.
    const x = argAt(args, 0);
    const g = argAt(args, 1);
    const d = x.shape[x.shape.length - 1] ?? 1;
    const out = new Float64Array(x.data.length);
    for (let r = 0; r < x.data.length; r += d) {
      let mean = 0;
      let gMean = 0;
      for (let i = 0; i < d; i++) {
        mean += x.data[r + i] as number;
        gMean += g.data[r + i] as number;
      }
      mean /= d;
      gMean /= d;
      let variance = 0;
      let gc = 0;
      for (let i = 0; i < d; i++) {
        const c = (x.data[r + i] as number) - mean;
        variance += c * c;
        gc += (g.data[r + i] as number) * c;
      }
      const rstd = 1 / Math.sqrt(variance / d + eps);
      const m = (gc * rstd) / d;
      for (let i = 0; i < d; i++) {
        const xh = ((x.data[r + i] as number) - mean) * rstd;
        out[r + i] = rstd * ((g.data[r + i] as number) - gMean - xh * m);
      }
    }
    return out;
  },
  cross_entropy: (args, { labelSmoothing: eps }) => {
    const z = argAt(args, 0);
    const labels = argAt(args, 1);
    const k = z.shape[z.shape.length - 1] ?? 1;
    const out = new Float64Array(labels.data.length);
    for (let r = 0; r < out.length; r++) {
      const label = checkIndex(labels.data[r] as number, k, 'cross_entropy');
      let m = -Infinity;
      for (let i = 0; i < k; i++) m = Math.max(m, z.data[r * k + i] as number);
      let s = 0;
      let mean = 0;
      for (let i = 0; i < k; i++) {
        const v = z.data[r * k + i] as number;
        s += Math.exp(v - m);
        mean += v;
      }
      const lse = Math.log(s) + m;
      const picked = z.data[r * k + label] as number;
      out[r] = lse - ((1 - eps) * picked + (eps / k) * mean);
    }
    return out;
  },
  matmul: (args, { transposeA, transposeB }, out) => {
    const a = argAt(args, 0);
    const b = argAt(args, 1);
    const rank = out.shape.length;
    const m = out.shape[rank - 2] ?? 1;
    const n = out.shape[rank - 1] ?? 1;
    const ar = a.shape.length;
    const k = (transposeA ? a.shape[ar - 2] : a.shape[ar - 1]) ?? 1;
    const batch = out.shape.slice(0, -2);
    const aBatch = broadcastMap(a.shape.slice(0, -2), batch);
    const bBatch = broadcastMap(b.shape.slice(0, -2), batch);
    const [aRowStride, aColStride] = transposeA ? [1, m] : [k, 1];
    const [bRowStride, bColStride] = transposeB ? [1, k] : [n, 1];
    const result = new Float64Array(size(out.shape));
    for (let t = 0; t < size(batch); t++) {
      const aBase = (aBatch[t] as number) * m * k;
      const bBase = (bBatch[t] as number) * k * n;
      for (let i = 0; i < m; i++) {
        for (let j = 0; j < n; j++) {
          let s = 0;
          for (let p = 0; p < k; p++)
            s +=
              (a.data[aBase + i * aRowStride + p * aColStride] as number) *
              (b.data[bBase + p * bRowStride + j * bColStride] as number);
          result[t * m * n + i * n + j] = s;
        }
      }
    }
    return result;
  },
};
