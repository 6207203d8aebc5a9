/**
 * Long reductions, which run in two stages (partial results per run of `SPLIT_CHUNK` elements, then per group), and
 * short ones, in one: sums, means and maxima over leading, trailing and several axes, f32 and i32, against the
 * reference. Tolerance for the float sums: the rounding bound of the staged sum, |err| <= (chunk + chunks) u
 * sum|x| + u |ref| (each partial sum is at most `chunk` terms deep, and the second stage adds `chunks` of them);
 * maxima and integer sums exactly.
 */

import { afterAll, describe, expect, it, type TestContext } from 'vitest';
import { GraphBuilder } from '../../compiler/ir/builder.js';
import { planGraph } from '../../compiler/codegen/wgsl/ops/plan.js';
import { SPLIT_CHUNK } from '../../compiler/codegen/wgsl/ops/reduce.js';
import { evaluate } from '../../runtime/reference/interpret.js';
import { makeTensor, type RefTensor } from '../../runtime/reference/tensor.js';
import { normalFromBits, randomWords } from '../../runtime/reference/philox.js';
import type { GpuDevice } from '../../runtime/webgpu/device.js';
import { deviceCaps, runGraphOnGpu } from '../../runtime/webgpu/executor.js';
import { openTestDevice } from '../support/gpu.js';

let devicePromise: Promise<GpuDevice> | undefined;
afterAll(async () => {
  if (devicePromise) (await devicePromise.catch(() => undefined))?.dispose();
});

const U = 2 ** -24;

// `x4`: a sum runs four elements per invocation, as column sums (four neighbouring groups along a kept last axis
// that is a multiple of 4) or row sums (a reduced run that is a multiple of 4, read as vec4: here also the second
// stage of a split sum, over 20 partial results).
const CASES: { shape: number[]; axes: number[]; x4: boolean }[] = [
  { shape: [3, 5000], axes: [1], x4: true },
  { shape: [4101, 3], axes: [0], x4: false },
  { shape: [40, 3, 70], axes: [0, 2], x4: false },
  { shape: [6, 7], axes: [0, 1], x4: false },
  { shape: [4100, 8], axes: [0], x4: true },
  { shape: [5, 7, 12], axes: [0, 1], x4: true },
  { shape: [3, 40, 4], axes: [1], x4: true },
  { shape: [33, 3, 12], axes: [1, 2], x4: true },
  { shape: [8, 3], axes: [0, 1], x4: true },
];

describe.each(CASES)('reductions of $shape over $axes on the GPU', ({ shape, axes, x4 }) => {
  it('sum, mean and max equal the reference', { timeout: 120_000 }, async (ctx: TestContext) => {
    devicePromise ??= openTestDevice(ctx);
    const gpu = await devicePromise;
    const n = shape.reduce((a, b) => a * b, 1);
    const b = new GraphBuilder();
    const x = b.data('x', shape);
    const k = b.data('k', shape, 'i32');
    // Per-row and per-column factors: a fused prologue whose operands are read per element, once for four groups
    // (stride 0 along the last axis) and as vec4 rows (stride 1).
    const last = shape.length - 1;
    const wShape = shape.map((d, i) => (i === last ? 1 : d));
    const w = b.data('w', wShape);
    const cShape = [shape[last] ?? 1];
    const col = b.data('col', cShape);
    const weighted = b.mul(b.mul(x, w), col);
    const graph = b.build({
      wsum: b.sum(weighted, axes),
      wabs: b.sum(b.abs(weighted), axes),
      sum: b.sum(x, axes),
      mean: b.mean(x, axes),
      max: b.max(x, axes),
      isum: b.sum(k, axes),
      imax: b.max(k, axes),
      abs: b.sum(b.abs(x), axes),
    });
    const count = axes.reduce((a, ax) => a * (shape[ax] ?? 1), 1);
    const steps = planGraph(graph, { caps: deviceCaps(gpu) }).steps;
    const staged = steps.filter((s) => s.name.includes(':partial'));
    expect(staged.length > 0).toBe(count >= 2048);
    expect(steps.some((s) => s.name.startsWith('reduce_sum') && s.name.endsWith(':x4]'))).toBe(x4);
    const data = Array.from({ length: n }, (_, i) => {
      const [w0, w1] = randomWords(7, 1, i);
      return Math.fround(normalFromBits(w0, w1) + 0.5);
    });
    const ints = Array.from({ length: n }, (_, i) => (randomWords(7, 2, i)[0] % 2001) - 1000);
    const factors = (m: number, stream: number): number[] =>
      Array.from({ length: m }, (_, i) => Math.fround(1 + (randomWords(7, stream, i)[0] % 17) / 16));
    const inputs: Record<string, RefTensor> = {
      x: makeTensor('f32', shape, data),
      k: makeTensor('i32', shape, ints),
      w: makeTensor('f32', wShape, factors(n / (shape[last] ?? 1), 3)),
      col: makeTensor('f32', cShape, factors(shape[last] ?? 1, 4)),
    };
    const want = evaluate(graph, inputs);
    const got = await runGraphOnGpu(gpu, graph, inputs);
    const chunks = count >= 2048 ? Math.ceil(count / SPLIT_CHUNK) : 1;
    const depth = count >= 2048 ? SPLIT_CHUNK + chunks : count;
    const absSum = (want.abs as RefTensor).data;
    for (const name of ['sum', 'mean'] as const) {
      const w = (want[name] as RefTensor).data;
      (got[name]?.data ?? []).forEach((v, i) => {
        const scale = name === 'mean' ? 1 / count : 1;
        const tol = depth * U * (absSum[i] as number) * scale + 2 * U * Math.abs(w[i] as number);
        expect(Math.abs(v - (w[i] as number)), `${name}[${i}]`).toBeLessThanOrEqual(tol);
      });
    }
    const wAbs = (want.wabs as RefTensor).data;
    const wWant = (want.wsum as RefTensor).data;
    (got.wsum?.data ?? []).forEach((v, i) => {
      // The product is rounded once per factor before the sum, as in the reference.
      const tol = (depth + 2) * U * (wAbs[i] as number) + 2 * U * Math.abs(wWant[i] as number);
      expect(Math.abs(v - (wWant[i] as number)), `wsum[${i}]`).toBeLessThanOrEqual(tol);
    });
    for (const name of ['max', 'isum', 'imax'] as const)
      expect(Array.from(got[name]?.data ?? []), name).toEqual(Array.from((want[name] as RefTensor).data));
  });
});
