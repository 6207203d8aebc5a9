/**
 * Integer and bool semantics on the device, which the float-centred op table draws rarely: i32 / u32 arithmetic
 * (division truncating toward zero, division by zero giving 0 as the reference's conversion of +-inf does), casts
 * from float truncating and wrapping modulo 2^32 (non-finite to 0), bool results stored as 0/1, integer sums and
 * maxima. Every result must equal the reference exactly. Also: a launch beyond 65,535 workgroups on the device's
 * real limit.
 */

import fc from 'fast-check';
import { afterAll, describe, expect, it, type TestContext } from 'vitest';
import { GraphBuilder } from '../../compiler/ir/builder.js';
import { evaluate } from '../../runtime/reference/interpret.js';
import { makeTensor, type RefTensor } from '../../runtime/reference/tensor.js';
import type { GpuDevice } from '../../runtime/webgpu/device.js';
import { runGraphOnGpu } from '../../runtime/webgpu/executor.js';
import { planGraph } from '../../compiler/codegen/wgsl/ops/plan.js';
import { openTestDevice } from '../support/gpu.js';

let devicePromise: Promise<GpuDevice> | undefined;
afterAll(async () => {
  if (devicePromise) (await devicePromise.catch(() => undefined))?.dispose();
});

const arbInts = (n: number): fc.Arbitrary<number[]> =>
  fc.array(fc.integer({ min: -40, max: 40 }), { minLength: n, maxLength: n });

describe('integer and bool ops on the GPU', () => {
  it('equal the reference exactly for i32, u32 and bool', { timeout: 120_000 }, async (ctx: TestContext) => {
    devicePromise ??= openTestDevice(ctx);
    const gpu = await devicePromise;
    const n = 12;
    const b = new GraphBuilder();
    const x = b.data('x', [3, 4], 'i32');
    const y = b.data('y', [4], 'i32');
    const f = b.data('f', [3, 4], 'f32');
    const ux = b.cast(b.abs(x), 'u32');
    const uy = b.cast(b.abs(y), 'u32');
    const graph = b.build({
      add: b.add(x, y),
      sub: b.sub(x, y),
      mul: b.mul(x, y),
      div: b.div(x, y),
      neg: b.neg(x),
      abs: b.abs(x),
      max: b.maximum(x, y),
      min: b.minimum(x, y),
      relu: b.relu(x),
      udiv: b.div(ux, uy),
      usub: b.sub(ux, uy),
      less: b.less(x, y),
      eq: b.equal(x, y),
      sel: b.where(b.greaterEqual(x, y), x, y),
      toI: b.cast(f, 'i32'),
      toU: b.cast(f, 'u32'),
      toB: b.cast(f, 'bool'),
      fromB: b.cast(b.less(f, b.cast(x, 'f32')), 'f32'),
      sum: b.sum(x, 1),
      maxr: b.max(x, 0),
      argmax: b.argmax(f, 1),
    });
    const special = [3e9, -3e9, 1e20, -2.5, 2.99, -0.5, 7e9, 4294967296, NaN, Infinity, -Infinity, 0];
    const cases = fc.sample(fc.tuple(arbInts(n), arbInts(4), arbInts(n)), { numRuns: 4, seed: 42 });
    for (const [xs, ys, fs] of cases) {
      // Half the floats are drawn, half are the special values (wrapping, truncation, non-finite).
      const floats = fs.map((v, i) => (i % 2 === 0 ? v / 3 : (special[i] ?? 0)));
      const inputs: Record<string, RefTensor> = {
        x: makeTensor('i32', [3, 4], xs),
        y: makeTensor('i32', [4], ys),
        f: makeTensor('f32', [3, 4], floats.map(Math.fround)),
      };
      const want = evaluate(graph, inputs);
      const got = await runGraphOnGpu(gpu, graph, inputs);
      for (const o of graph.outputs) {
        expect(Array.from(got[o.name]?.data ?? []), o.name).toEqual(Array.from((want[o.name] as RefTensor).data));
      }
    }
  });

  it('runs a launch of more than 65,535 workgroups on the device limit', { timeout: 120_000 }, async (ctx) => {
    devicePromise ??= openTestDevice(ctx);
    const gpu = await devicePromise;
    const limit = gpu.limit('maxComputeWorkgroupsPerDimension');
    const n = (limit + 3) * 64;
    const b = new GraphBuilder();
    const x = b.data('x', [2]);
    const graph = b.build({ y: b.add(b.broadcastTo(b.reshape(x, [1, 2]), [n / 2, 2]), b.full(1, [n / 2, 2])) });
    const plan = planGraph(graph, { caps: { maxWorkgroupsPerDimension: limit, shaderF16: false } });
    expect(plan.steps.some((s) => s.kind === 'wgsl' && s.grid[1] > 1)).toBe(true);
    const got = (await runGraphOnGpu(gpu, graph, { x: { dtype: 'f32', shape: [2], data: [1.5, -2] } })).y?.data;
    expect(got?.length).toBe(n);
    let bad = 0;
    got?.forEach((v, i) => {
      if (v !== (i % 2 === 0 ? 2.5 : -1)) bad++;
    });
    expect(bad).toBe(0);
  });
});
