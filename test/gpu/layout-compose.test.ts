/**
 * Composed layout copies: `slice(transpose(x))` (a fused q/k/v projection split into heads) and
 * `transpose(concat(...))` (its gradient) run as single strided copies, with the intermediate never written, and give
 * the reference's values bit for bit, on random shapes and permutations.
 */

import fc from 'fast-check';
import { afterAll, describe, expect, it, type TestContext } from 'vitest';
import { GraphBuilder } from '../../compiler/ir/builder.js';
import { vectorCopy, type StridedSide } from '../../compiler/codegen/wgsl/ops/layout.js';
import { planGraph } from '../../compiler/codegen/wgsl/ops/plan.js';
import { evaluate } from '../../runtime/reference/interpret.js';
import { makeTensor, type RefTensor } from '../../runtime/reference/tensor.js';
import type { GpuDevice } from '../../runtime/webgpu/device.js';
import { deviceCaps, runGraphOnGpu } from '../../runtime/webgpu/executor.js';
import { openTestDevice } from '../support/gpu.js';

let devicePromise: Promise<GpuDevice> | undefined;
afterAll(async () => {
  if (devicePromise) (await devicePromise.catch(() => undefined))?.dispose();
});

const arbCase = fc.record({
  shape: fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 2, maxLength: 4 }),
  seed: fc.nat(),
  axis: fc.nat(),
  parts: fc.integer({ min: 1, max: 3 }),
});

const count = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

describe('composed layout copies on the GPU', () => {
  it(
    'slices of a transpose and a transpose of a concat equal the reference',
    { timeout: 300_000 },
    async (ctx: TestContext) => {
      devicePromise ??= openTestDevice(ctx);
      const gpu = await devicePromise;
      for (const c of fc.sample(arbCase, { numRuns: 8, seed: 0x1a7 })) {
        const rank = c.shape.length;
        const perm = fc.sample(fc.shuffledSubarray([...Array(rank).keys()], { minLength: rank, maxLength: rank }), {
          numRuns: 1,
          seed: c.seed,
        })[0] ?? [...Array(rank).keys()];
        const axis = c.axis % rank;
        const b = new GraphBuilder();
        // slice(transpose(x)) into `parts` slices along `axis` of the transposed shape.
        const xShape = [...c.shape];
        const x = b.data('x', xShape);
        const t = b.transpose(x, perm);
        const tShape = perm.map((p) => xShape[p] ?? 1);
        const size = tShape[axis] ?? 1;
        const cuts = [...new Set([0, Math.floor(size / 2), size])].filter((v, i, a) => i === 0 || v > (a[i - 1] ?? 0));
        const slices = cuts.slice(1).map((end, i) => b.slice(t, axis, cuts[i] ?? 0, end));
        // transpose(concat(parts)) of `parts` copies of one operand shape along `axis`.
        const ys = Array.from({ length: c.parts }, (_, i) => b.data(`y${i}`, xShape));
        const joined = b.transpose(b.concat(ys, axis), perm);
        const outputs: Record<string, (typeof slices)[number]> = { joined };
        slices.forEach((s, i) => (outputs[`s${i}`] = s));
        const graph = b.build(outputs);
        const plan = planGraph(graph, { caps: deviceCaps(gpu) });
        expect(plan.steps.every((s) => /^(slice|concat)_transpose\[/.test(s.name))).toBe(true);
        expect(plan.steps).toHaveLength(slices.length + c.parts);
        const inputs: Record<string, RefTensor> = {};
        let state = c.seed;
        const values = (n: number): number[] =>
          Array.from({ length: n }, () => {
            state = (state * 1103515245 + 12345) >>> 0;
            return Math.fround(state / 2 ** 32 - 0.5);
          });
        inputs.x = makeTensor('f32', xShape, values(count(xShape)));
        for (let i = 0; i < c.parts; i++) inputs[`y${i}`] = makeTensor('f32', xShape, values(count(xShape)));
        const want = evaluate(graph, inputs);
        const got = await runGraphOnGpu(gpu, graph, inputs);
        for (const name of Object.keys(outputs))
          expect(Array.from(got[name]?.data ?? []), name).toEqual(Array.from((want[name] as RefTensor).data));
      }
    },
  );

  it(
    'copies that keep the last axis move four elements per invocation and equal the reference',
    { timeout: 300_000 },
    async (ctx: TestContext) => {
      devicePromise ??= openTestDevice(ctx);
      const gpu = await devicePromise;
      const arbVecCase = fc.record({
        lead: fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 1, maxLength: 3 }),
        last: fc.constantFrom(4, 8, 12),
        seed: fc.nat(),
        axis: fc.nat(),
        parts: fc.integer({ min: 1, max: 3 }),
      });
      let vectorised = 0;
      for (const c of fc.sample(arbVecCase, { numRuns: 8, seed: 0x4c0 })) {
        const xShape = [...c.lead, c.last];
        const rank = xShape.length;
        // A permutation of the leading axes only, so the last axis stays contiguous on both sides.
        const leadPerm = fc.sample(
          fc.shuffledSubarray([...Array(rank - 1).keys()], { minLength: rank - 1, maxLength: rank - 1 }),
          { numRuns: 1, seed: c.seed },
        )[0] ?? [...Array(rank - 1).keys()];
        const perm = [...leadPerm, rank - 1];
        const b = new GraphBuilder();
        const x = b.data('x', xShape);
        const t = b.transpose(x, perm);
        const tShape = perm.map((p) => xShape[p] ?? 1);
        const sliceAxis = c.axis % (rank - 1);
        const size = tShape[sliceAxis] ?? 1;
        const half = b.slice(t, sliceAxis, Math.floor(size / 2), size);
        const ys = Array.from({ length: c.parts }, (_, i) => b.data(`y${i}`, xShape));
        const joined = b.transpose(b.concat(ys, c.axis % rank), perm);
        const graph = b.build({ t, half, joined });
        const plan = planGraph(graph, { caps: deviceCaps(gpu) });
        vectorised += plan.steps.filter((st) => st.name.endsWith(':x4]')).length;
        let state = c.seed;
        const values = (n: number): number[] =>
          Array.from({ length: n }, () => {
            state = (state * 1103515245 + 12345) >>> 0;
            return Math.fround(state / 2 ** 32 - 0.5);
          });
        const inputs: Record<string, RefTensor> = { x: makeTensor('f32', xShape, values(count(xShape))) };
        for (let i = 0; i < c.parts; i++) inputs[`y${i}`] = makeTensor('f32', xShape, values(count(xShape)));
        const want = evaluate(graph, inputs);
        const got = await runGraphOnGpu(gpu, graph, inputs);
        for (const name of ['t', 'half', 'joined'])
          expect(Array.from(got[name]?.data ?? []), name).toEqual(Array.from((want[name] as RefTensor).data));
      }
      expect(vectorised).toBeGreaterThan(8);
    },
  );
});

describe('vectorCopy', () => {
  const side = (strides: number[] | 'contiguous', base = 0): StridedSide => ({
    buffer: { kind: 'value', id: 0 },
    strides,
    base,
  });
  it('divides shapes, strides and bases by four where the last axis is contiguous on both sides', () => {
    const v = vectorCopy([3, 5, 8], side([80, 16, 1], 4), side('contiguous', 8));
    expect(v?.shape).toEqual([3, 5, 2]);
    expect(v?.src.strides).toEqual([20, 4, 1]);
    expect(v?.src.base).toBe(1);
    expect(v?.dst.strides).toBe('contiguous');
    expect(v?.dst.base).toBe(2);
  });
  it('declines a last axis that is not a multiple of 4, strided, or misaligned', () => {
    expect(vectorCopy([3, 6], side([6, 1]), side('contiguous'))).toBeUndefined();
    expect(vectorCopy([4, 4], side([1, 4]), side('contiguous'))).toBeUndefined();
    expect(vectorCopy([3, 4], side([6, 1]), side('contiguous'))).toBeUndefined();
    expect(vectorCopy([3, 4], side([4, 1], 2), side('contiguous'))).toBeUndefined();
    expect(vectorCopy([3, 4], side([4, 1]), side('contiguous', 1))).toBeUndefined();
    expect(vectorCopy([3, 4], side([0, 1]), side('contiguous'))?.src.strides).toEqual([0, 1]);
  });

  it(
    'matmuls read heads and write the merge and the gradient concat in place, equal to the reference',
    { timeout: 300_000 },
    async (ctx: TestContext) => {
      devicePromise ??= openTestDevice(ctx);
      const gpu = await devicePromise;
      const [B, N, H, D] = [2, 5, 2, 4];
      for (const keepCopy of [false, true]) {
        // A fused projection split into q, k, v heads, each head read by two products (as attention and its
        // gradient do), the values' product merged back, and three products joined as transpose(concat(...)).
        const b = new GraphBuilder();
        const qkv = b.data('qkv', [B, N, 3 * H * D]);
        const g = b.data('g', [B, N, H * D]);
        const split = b.transpose(b.reshape(qkv, [B, N, 3, H, D]), [2, 0, 3, 1, 4]);
        const [q, k, v] = [0, 1, 2].map((i) => b.reshape(b.slice(split, 0, i, i + 1), [B, H, N, D])) as [
          ReturnType<typeof b.data>,
          ReturnType<typeof b.data>,
          ReturnType<typeof b.data>,
        ];
        const s = b.matmul(q, k, { transposeB: true });
        const o = b.matmul(s, v);
        const merged = b.reshape(b.transpose(o, [0, 2, 1, 3]), [B, N, H * D]);
        const gh = b.transpose(b.reshape(g, [B, N, H, D]), [0, 2, 1, 3]);
        const dv = b.matmul(s, gh, { transposeA: true });
        const dq = b.matmul(s, k);
        const dk = b.matmul(s, q, { transposeA: true });
        const parts = [dq, dk, dv].map((x) => b.reshape(x, [1, B, H, N, D]));
        const joined = b.reshape(b.transpose(b.concat(parts, 0), [1, 3, 0, 2, 4]), [B, N, 3 * H * D]);
        const outputs: Record<string, typeof s> = { merged, joined, gv: b.matmul(gh, v, { transposeB: true }) };
        // A reader that is not a matmul keeps the copy of its head.
        if (keepCopy) outputs.qneg = b.neg(q);
        const graph = b.build(outputs);
        const plan = planGraph(graph, { caps: deviceCaps(gpu) });
        const names = plan.steps.map((x) => x.name);
        const copies = names.filter((n) => n.includes('transpose'));
        expect(copies, names.join(' ')).toEqual(keepCopy ? ['slice_transpose[r4:sc:f32:x4]'] : []);
        const copied = planGraph(graph, { caps: deviceCaps(gpu), views: false });
        // q, k, v, the merge, the split of g and the three parts of the concat.
        expect(copied.steps.length - plan.steps.length).toBe(keepCopy ? 7 : 8);
        let state = 7;
        const values = (n: number): number[] =>
          Array.from({ length: n }, () => {
            state = (state * 1103515245 + 12345) >>> 0;
            return Math.fround(state / 2 ** 32 - 0.5);
          });
        const inputs = {
          qkv: makeTensor('f32', [B, N, 3 * H * D], values(B * N * 3 * H * D)),
          g: makeTensor('f32', [B, N, H * D], values(B * N * H * D)),
        };
        const want = evaluate(graph, inputs);
        const got = await runGraphOnGpu(gpu, graph, inputs);
        for (const name of Object.keys(outputs)) {
          const w = (want[name] as RefTensor).data;
          const r = got[name]?.data ?? new Float64Array();
          expect(r.length).toBe(w.length);
          // Products of at most 5 terms of magnitude below 0.25 (s below 1.25): a few ulp of 2.
          r.forEach((x, i) => {
            expect(Math.abs(x - (w[i] as number)), `${name}[${i}]`).toBeLessThanOrEqual(2 ** -19);
          });
        }
      }
    },
  );
});
