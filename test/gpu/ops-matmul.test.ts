/**
 * matmul through the graph executor in the layouts the lowering must arrange: batch axes that broadcast partly
 * (copied to the full batch first), a shared rank-2 operand against a batched one, and every transpose combination,
 * against the reference. Tolerance: the rounding bound of an f32 dot product of k terms,
 * |err| <= k u sum_k |a_ik b_kj| + u |ref|, with sum |a b| from the reference run on |a| and |b|.
 */

import { afterAll, describe, expect, it, type TestContext } from 'vitest';
import { GraphBuilder } from '../../compiler/ir/builder.js';
import { evaluate } from '../../runtime/reference/interpret.js';
import { makeTensor, type RefTensor } from '../../runtime/reference/tensor.js';
import { normalFromBits, randomWords } from '../../runtime/reference/philox.js';
import type { GpuDevice } from '../../runtime/webgpu/device.js';
import { runGraphOnGpu } from '../../runtime/webgpu/executor.js';
import { openTestDevice } from '../support/gpu.js';

let devicePromise: Promise<GpuDevice> | undefined;
afterAll(async () => {
  if (devicePromise) (await devicePromise.catch(() => undefined))?.dispose();
});

const U = 2 ** -24;

interface Case {
  readonly a: number[];
  readonly b: number[];
  readonly transposeA: boolean;
  readonly transposeB: boolean;
}

const CASES: Case[] = [
  { a: [2, 1, 3, 4], b: [1, 3, 4, 5], transposeA: false, transposeB: false },
  { a: [3, 4], b: [2, 4, 5], transposeA: false, transposeB: false },
  { a: [2, 3, 7, 4], b: [5, 4], transposeA: false, transposeB: true },
  { a: [2, 6, 3], b: [2, 6, 5], transposeA: true, transposeB: false },
  { a: [3, 2, 9, 6], b: [1, 2, 5, 9], transposeA: true, transposeB: true },
];

function values(n: number, salt: number): number[] {
  return Array.from({ length: n }, (_, i) => {
    const [w0, w1] = randomWords(3, salt, i);
    return Math.fround(normalFromBits(w0, w1));
  });
}

describe.each(CASES)('matmul $a x $b (transposeA $transposeA, transposeB $transposeB) on the GPU', (c) => {
  it('equals the reference within the dot-product bound', { timeout: 120_000 }, async (ctx: TestContext) => {
    devicePromise ??= openTestDevice(ctx);
    const gpu = await devicePromise;
    const b = new GraphBuilder();
    const a = b.data('a', c.a);
    const w = b.data('b', c.b);
    const graph = b.build({ y: b.matmul(a, w, { transposeA: c.transposeA, transposeB: c.transposeB }) });
    const size = (s: number[]): number => s.reduce((p, q) => p * q, 1);
    const av = values(size(c.a), 1);
    const bv = values(size(c.b), 2);
    const inputs = { a: makeTensor('f32', c.a, av), b: makeTensor('f32', c.b, bv) };
    const abs = { a: makeTensor('f32', c.a, av.map(Math.abs)), b: makeTensor('f32', c.b, bv.map(Math.abs)) };
    const want = evaluate(graph, inputs).y as RefTensor;
    const bound = evaluate(graph, abs).y as RefTensor;
    const k = c.transposeA ? (c.a[c.a.length - 2] ?? 1) : (c.a[c.a.length - 1] ?? 1);
    const got = (await runGraphOnGpu(gpu, graph, inputs)).y;
    expect(got?.shape).toEqual(want.shape);
    (got?.data ?? []).forEach((v, i) => {
      const tol = k * U * (bound.data[i] as number) + U * Math.abs(want.data[i] as number);
      expect(Math.abs(v - (want.data[i] as number)), `y[${i}]`).toBeLessThanOrEqual(tol);
    });
  });
});
