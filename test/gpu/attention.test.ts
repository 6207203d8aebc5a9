/**
 * Fused attention on the GPU: `softmax(Q K^T * scale) V` as one kernel (compiler/codegen/wgsl/ops/attention.ts),
 * equal to the float64 reference on random shapes, layouts (Q, K and V as separate tensors or as the heads of one
 * projection; the result as is or merged back across heads) and scales, and the ViT forward built on it.
 *
 * Tolerance, per element: |gpu - ref| <= 2^-14 max|V|. The result is a weighted mean of V's rows, so an error e in the
 * weights moves it by at most e max|V|. The weights come from scores of at most d = 16 products of values below 1/2
 * (|s| <= 4 scale), each rounded to f32 (relative 2^-24 per operation, d + 2 operations deep), then `exp2` (a few ulps)
 * and a sum of at most 19 weights: a relative weight error below (16 + 2 + 4 + 19) 2^-24 (1 + 4 ln 2), under 2^-17,
 * so 2^-14 leaves a factor 8 for the built-in `exp2`'s accuracy on the software driver. An indexing or masking
 * error moves results by a sizeable fraction of max|V|.
 */

import fc from 'fast-check';
import { afterAll, describe, expect, it, type TestContext } from 'vitest';
import { GraphBuilder } from '../../compiler/ir/builder.js';
import type { Value } from '../../compiler/ir/graph.js';
import { attentionRowsPerLane, MAX_ATTENTION_ROWS_PER_LANE } from '../../compiler/codegen/wgsl/ops/attention.js';
import { planGraph } from '../../compiler/codegen/wgsl/ops/plan.js';
import { evaluate } from '../../runtime/reference/interpret.js';
import { makeTensor, type RefTensor } from '../../runtime/reference/tensor.js';
import type { GpuDevice } from '../../runtime/webgpu/device.js';
import { deviceCaps, runGraphOnGpu } from '../../runtime/webgpu/executor.js';
import { TINY_VIT, vitGraph, vitInputs } from '../ir/fixtures/vit.js';
import { openTestDevice, requireOrSkip } from '../support/gpu.js';

let devicePromise: Promise<GpuDevice> | undefined;
afterAll(async () => {
  if (devicePromise) (await devicePromise.catch(() => undefined))?.dispose();
});

/** The device, with subgroups of one size (llvmpipe has them: 8 lanes); a device without them skips or fails on CI. */
async function subgroupDevice(ctx: TestContext): Promise<GpuDevice> {
  devicePromise ??= openTestDevice(ctx);
  const gpu = await devicePromise;
  if (deviceCaps(gpu).subgroupSize === undefined)
    requireOrSkip(ctx, 'the adapter has no subgroups of a single size, which the fused attention kernel needs');
  return gpu;
}

const arbCase = fc.record({
  batch: fc.array(fc.integer({ min: 1, max: 3 }), { minLength: 1, maxLength: 2 }),
  // Up to 19 query rows (one block of up to 3 rows per lane), or over 128 (two blocks of 9 rows per lane).
  n: fc.oneof(fc.integer({ min: 1, max: 19 }), fc.integer({ min: 129, max: 140 })),
  m: fc.integer({ min: 1, max: 19 }),
  d: fc.constantFrom(4, 8, 16),
  dv: fc.constantFrom(4, 8, 16),
  scale: fc.option(fc.double({ min: 0.05, max: 2, noNaN: true }), { nil: undefined }),
  heads: fc.boolean(),
  merge: fc.boolean(),
  seed: fc.nat(),
});

const count = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

function values(seed: number, n: number): number[] {
  let state = seed >>> 0;
  return Array.from({ length: n }, () => {
    state = (state * 1103515245 + 12345) >>> 0;
    return Math.fround(state / 2 ** 32 - 0.5);
  });
}

describe('rows per lane of the fused attention kernel', () => {
  it('takes the fewest blocks of at most 16 rows per lane and spreads the rows evenly over them', () => {
    expect(attentionRowsPerLane(50, 8)).toBe(7); // one block of 56 rows
    expect(attentionRowsPerLane(197, 8)).toBe(13); // two blocks of 104 rows
    expect(attentionRowsPerLane(128, 8)).toBe(16);
    expect(attentionRowsPerLane(129, 8)).toBe(9);
    expect(attentionRowsPerLane(1, 8)).toBe(1);
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 20_000 }), fc.constantFrom(1, 4, 8, 16, 32, 64), (n, lanes) => {
        const rows = attentionRowsPerLane(n, lanes);
        const blocks = Math.ceil(n / (lanes * rows));
        expect(rows).toBeGreaterThanOrEqual(1);
        expect(rows).toBeLessThanOrEqual(MAX_ATTENTION_ROWS_PER_LANE);
        // As few blocks as the cap allows, and no taller than those blocks need.
        expect(blocks).toBe(Math.ceil(n / (lanes * MAX_ATTENTION_ROWS_PER_LANE)));
        if (rows > 1) expect(Math.ceil(n / (lanes * (rows - 1)))).toBeGreaterThan(blocks);
      }),
    );
  });
});

describe('fused attention on the GPU', () => {
  it(
    'equals softmax(Q K^T * scale) V of the reference on random shapes and layouts',
    { timeout: 300_000 },
    async (ctx) => {
      const gpu = await subgroupDevice(ctx);
      let fused = 0;
      let tall = 0;
      for (const c of fc.sample(arbCase, { numRuns: 24, seed: 0xa77 })) {
        const b = new GraphBuilder();
        const inputs: Record<string, RefTensor> = {};
        const input = (name: string, shape: number[], seed: number): Value => {
          inputs[name] = makeTensor('f32', shape, values(seed, count(shape)));
          return b.data(name, shape);
        };
        let q: Value, k: Value, v: Value;
        const [b0 = 1, b1] = c.batch;
        if (c.heads) {
          // One projection [b0, n, 3, h, d] split into heads as the stdlib does: permute, slice, drop the axis.
          const h = b1 ?? 1;
          const x = input('qkv', [b0, c.n, 3, h, c.d], c.seed);
          const split = b.transpose(x, [2, 0, 3, 1, 4]);
          [q, k, v] = [0, 1, 2].map((i) => b.reshape(b.slice(split, 0, i, i + 1), [b0, h, c.n, c.d])) as [
            Value,
            Value,
            Value,
          ];
        } else {
          q = input('q', [...c.batch, c.n, c.d], c.seed);
          k = input('k', [...c.batch, c.m, c.d], c.seed + 1);
          v = input('v', [...c.batch, c.m, c.dv], c.seed + 2);
        }
        const scores = b.matmul(q, k, { transposeB: true });
        const o = b.matmul(b.softmax(c.scale === undefined ? scores : b.mul(scores, c.scale), -1), v);
        const rank = o.type.shape.length;
        const perm = [...Array(rank).keys()];
        if (rank === 4) [perm[1], perm[2]] = [2, 1];
        const out = c.merge ? b.transpose(o, perm) : o;
        const graph = b.build({ out });
        const plan = planGraph(graph, { caps: deviceCaps(gpu) });
        const names = plan.steps.map((s) => s.name);
        expect(
          names.filter((s) => s.startsWith('attention[')),
          names.join(', '),
        ).toHaveLength(1);
        expect(
          names.some((s) => s.startsWith('softmax') || s.startsWith('slice_transpose')),
          names.join(', '),
        ).toBe(false);
        fused++;
        if (names.some((s) => /^attention\[f32:sg\d+:r\d+:/.test(s))) tall++;
        const want = (evaluate(graph, inputs).out as RefTensor).data;
        const got = (await runGraphOnGpu(gpu, graph, inputs)).out?.data ?? new Float64Array();
        expect(got.length).toBe(want.length);
        const vmax = Math.max(...(inputs.v ?? inputs.qkv ?? makeTensor('f32', [0], [])).data.map(Math.abs));
        for (let i = 0; i < want.length; i++)
          expect(Math.abs((got[i] as number) - (want[i] as number)), `element ${i}`).toBeLessThanOrEqual(
            2 ** -14 * vmax,
          );
      }
      expect(fused).toBe(24);
      // Kernels with several rows per invocation (n > 8 with 8 lanes) are among them.
      expect(tall).toBeGreaterThan(4);
    },
  );

  it(
    'runs the tiny ViT forward with one attention kernel per block, equal to the reference',
    { timeout: 300_000 },
    async (ctx) => {
      const gpu = await subgroupDevice(ctx);
      const graph = vitGraph(TINY_VIT);
      const plan = planGraph(graph, { caps: deviceCaps(gpu), symbols: { B: 3 } });
      const names = plan.steps.map((s) => s.name);
      expect(names.filter((s) => s.startsWith('attention[f32:'))).toHaveLength(TINY_VIT.depth);
      // The heads' split and merge are read and written in place: no copies of heads and no softmax kernel remain, and
      // of the transposes only the patch embedding's is left.
      expect(names.filter((s) => /^(softmax|slice_transpose)\[/.test(s))).toEqual([]);
      const transposes = (steps: readonly { name: string }[]): number =>
        steps.filter((s) => s.name.startsWith('transpose[')).length;
      const caps = deviceCaps(gpu);
      const copied = planGraph(graph, { caps, symbols: { B: 3 }, attention: false, views: false });
      expect(transposes(copied.steps) - transposes(plan.steps)).toBe(TINY_VIT.depth);
      // Per block: the scores' matmul, softmax, the values' matmul, three head copies and the merge become one kernel.
      expect(copied.steps.length - plan.steps.length).toBe(6 * TINY_VIT.depth);
      // Without the fused kernel, the products still read the heads and write the merge in place (views.ts): per
      // block the two products and softmax remain.
      const unfused = planGraph(graph, { caps, symbols: { B: 3 }, attention: false });
      expect(transposes(unfused.steps)).toBe(transposes(plan.steps));
      expect(unfused.steps.length - plan.steps.length).toBe(2 * TINY_VIT.depth);
      const inputs = vitInputs(graph, TINY_VIT, 3);
      const got = await runGraphOnGpu(gpu, graph, inputs, { symbols: { B: 3 } });
      const want = evaluate(graph, inputs, { symbols: { B: 3 } });
      for (const o of graph.outputs) {
        const w = (want[o.name] as RefTensor).data;
        const g = got[o.name]?.data ?? new Float64Array();
        const scale = Math.max(...w.map(Math.abs));
        // 4 blocks deep in f32 with reductions of 64 to 256: a few thousand ulps of the logits' size.
        for (let i = 0; i < w.length; i++)
          expect(Math.abs((g[i] as number) - (w[i] as number)), `${o.name}[${i}]`).toBeLessThanOrEqual(1e-4 * scale);
      }
    },
  );
});
