/**
 * Elementwise fusion: fast-check draws random elementwise graphs (unary and binary ops over inputs of broadcasting
 * shapes, values shared between several consumers, an intermediate also returned as an output), which run on the
 * GPU fused and unfused; both must equal the float64 reference.
 *
 * Tolerance, by first-order error analysis: every op adds at most 8 ulp (2^-21 relative) of its result, and each
 * following op scales earlier errors by at most the largest magnitude S of any intermediate (the derivatives of
 * add/sub/max/min/where are <= 1, of mul <= S, of the bounded unary ops <= 1.2), so after k ops the error is below
 * k 2^-21 S^k' with k' the number of multiplications on the path. With S <= 2 (inputs in [-2, 2]) and at most 8 ops
 * we use the simpler |err| <= k 2^-21 (1 + M) 4^k_mul, M the largest reference intermediate.
 */

import fc from 'fast-check';
import { afterAll, describe, expect, it, type TestContext } from 'vitest';
import { GraphBuilder } from '../../compiler/ir/builder.js';
import type { Value } from '../../compiler/ir/graph.js';
import { planGraph } from '../../compiler/codegen/wgsl/ops/plan.js';
import { evaluate } from '../../runtime/reference/interpret.js';
import { makeTensor, type RefTensor } from '../../runtime/reference/tensor.js';
import type { GpuDevice } from '../../runtime/webgpu/device.js';
import { deviceCaps, runGraphOnGpu } from '../../runtime/webgpu/executor.js';
import { arbBroadcastShapes, arbTensorOf } from '../ops/row.js';
import { openTestDevice } from '../support/gpu.js';

const UNARY = ['neg', 'abs', 'tanh', 'sigmoid', 'relu', 'gelu'] as const;
const BINARY = ['add', 'sub', 'mul', 'maximum', 'minimum', 'select'] as const;

interface Step {
  readonly op: (typeof UNARY)[number] | (typeof BINARY)[number];
  readonly a: number;
  readonly b: number;
}

const arbCase = arbBroadcastShapes(3).chain((shapes) =>
  fc.record({
    shapes: fc.constant(shapes),
    data: fc.tuple(...shapes.map((s) => arbTensorOf(s))),
    steps: fc.array(
      fc.record({
        op: fc.constantFrom(...UNARY, ...BINARY),
        a: fc.nat(),
        b: fc.nat(),
      }),
      { minLength: 2, maxLength: 8 },
    ),
    mid: fc.nat(),
  }),
);

function build(shapes: readonly number[][], steps: readonly Step[], mid: number) {
  const b = new GraphBuilder();
  const pool: Value[] = shapes.map((s, i) => b.data(`x${i}`, s));
  let muls = 0;
  for (const step of steps) {
    const x = pool[step.a % pool.length] as Value;
    const y = pool[step.b % pool.length] as Value;
    switch (step.op) {
      case 'neg':
        pool.push(b.neg(x));
        break;
      case 'abs':
        pool.push(b.abs(x));
        break;
      case 'tanh':
        pool.push(b.tanh(x));
        break;
      case 'sigmoid':
        pool.push(b.sigmoid(x));
        break;
      case 'relu':
        pool.push(b.relu(x));
        break;
      case 'gelu':
        pool.push(b.gelu(x));
        break;
      case 'add':
        pool.push(b.add(x, y));
        break;
      case 'sub':
        pool.push(b.sub(x, y));
        break;
      case 'mul':
        muls++;
        pool.push(b.mul(x, y));
        break;
      case 'maximum':
        pool.push(b.maximum(x, y));
        break;
      case 'minimum':
        pool.push(b.minimum(x, y));
        break;
      case 'select':
        pool.push(b.where(b.greater(x, y), x, b.mul(y, 0.5)));
        break;
    }
  }
  const out = pool[pool.length - 1] as Value;
  const middle = pool[shapes.length + (mid % steps.length)] as Value;
  return { graph: b.build({ y: out, mid: middle }), muls };
}

let devicePromise: Promise<GpuDevice> | undefined;
afterAll(async () => {
  if (devicePromise) (await devicePromise.catch(() => undefined))?.dispose();
});

describe('elementwise fusion on the GPU', () => {
  it(
    'gives random fused elementwise graphs equal to the reference (and to the unfused kernels)',
    { timeout: 300_000 },
    async (ctx: TestContext) => {
      devicePromise ??= openTestDevice(ctx);
      const gpu = await devicePromise;
      const cases = fc.sample(arbCase, { numRuns: Number(process.env.VITM_GPU_FUSE_RUNS ?? 12), seed: 0xf05e });
      let fusedSomething = false;
      for (const c of cases) {
        const { graph, muls } = build(c.shapes, c.steps, c.mid);
        const inputs: Record<string, RefTensor> = {};
        c.shapes.forEach((s, i) => {
          inputs[`x${i}`] = makeTensor('f32', s, (c.data[i] ?? []).map(Math.fround));
        });
        const caps = deviceCaps(gpu);
        const fusedPlan = planGraph(graph, { caps });
        const plainPlan = planGraph(graph, { caps, fuse: false });
        if (fusedPlan.steps.length < plainPlan.steps.length) fusedSomething = true;
        expect(fusedPlan.steps.length).toBeLessThanOrEqual(plainPlan.steps.length);
        const ref = evaluate(graph, inputs);
        // The largest intermediate of the reference, for the tolerance.
        const all = evaluate(
          { ...graph, outputs: graph.equations.map((eq, i) => ({ name: `v${i}`, value: eq.out })) },
          inputs,
        );
        const m = Math.max(1, ...Object.values(all).flatMap((t) => Array.from(t.data, Math.abs)));
        const tol = graph.equations.length * 2 ** -21 * (1 + m) * 4 ** muls;
        for (const fuse of [true, false]) {
          const got = await runGraphOnGpu(gpu, graph, inputs, { lower: (g, o) => planGraph(g, { ...o, fuse }) });
          for (const name of ['y', 'mid']) {
            const want = (ref[name] as RefTensor).data;
            const data = got[name]?.data ?? new Float64Array();
            expect(data.length).toBe(want.length);
            data.forEach((v, i) => {
              expect(Math.abs(v - (want[i] as number)), `${name}[${i}] fuse=${String(fuse)}`).toBeLessThanOrEqual(tol);
            });
          }
        }
      }
      expect(fusedSomething).toBe(true);
    },
  );

  it(
    'reads four elements per invocation with every kind of operand, equal to the reference',
    { timeout: 120_000 },
    async (ctx: TestContext) => {
      devicePromise ??= openTestDevice(ctx);
      const gpu = await devicePromise;
      const b = new GraphBuilder();
      const x = b.data('x', [2, 3, 8]); // contiguous: a vec4
      const bias = b.data('bias', [8]); // broadcast along the rows, consecutive along them: a vec4 at its offset
      const rstd = b.data('rstd', [2, 3, 1]); // one value per row: a splat
      const s = b.data('s', [1]); // one value in all: a splat
      const y = b.mul(b.add(b.mul(b.sub(x, bias), rstd), s), b.tanh(x));
      const graph = b.build({ y });
      const plan = planGraph(graph, { caps: deviceCaps(gpu) });
      expect(plan.steps.map((st) => st.name)).toEqual(['fused_sub_mul_add_tanh_mul[r3:cbbs:f32,f32,f32,f32->f32:x4]']);
      const data = (n: number, k: number): number[] =>
        Array.from({ length: n }, (_, i) => Math.fround(Math.sin(k * 7.1 + i * 1.3) * 2));
      const inputs: Record<string, RefTensor> = {
        x: makeTensor('f32', [2, 3, 8], data(48, 1)),
        bias: makeTensor('f32', [8], data(8, 2)),
        rstd: makeTensor('f32', [2, 3, 1], data(6, 3)),
        s: makeTensor('f32', [1], data(1, 4)),
      };
      const want = (evaluate(graph, inputs).y as RefTensor).data;
      const got = (await runGraphOnGpu(gpu, graph, inputs)).y?.data ?? new Float64Array();
      expect(got.length).toBe(48);
      // Inputs lie in [-2, 2], so every intermediate stays below 16 in magnitude: four roundings of at most
      // 16 * 2^-24 each, plus tanh's few-ulp error scaled by a factor below 10, stay under 5 * 64 * 2^-24.
      got.forEach((v, i) => {
        expect(Math.abs(v - (want[i] as number)), `y[${i}]`).toBeLessThanOrEqual(5 * 64 * 2 ** -24);
      });

      // Rows of 5: four consecutive elements straddle rows, so the broadcast operands are gathered element by
      // element while x and the result still move as vec4.
      const g = new GraphBuilder();
      const x5 = g.data('x', [4, 5]);
      const bias5 = g.data('bias', [5]);
      const rstd5 = g.data('rstd', [4, 1]);
      const graph5 = g.build({ y: g.mul(g.sub(x5, bias5), rstd5) });
      expect(planGraph(graph5, { caps: deviceCaps(gpu) }).steps.map((st) => st.name)).toEqual([
        'fused_sub_mul[r2:cbb:f32,f32,f32->f32:x4]',
      ]);
      const inputs5: Record<string, RefTensor> = {
        x: makeTensor('f32', [4, 5], data(20, 5)),
        bias: makeTensor('f32', [5], data(5, 6)),
        rstd: makeTensor('f32', [4, 1], data(4, 7)),
      };
      const want5 = (evaluate(graph5, inputs5).y as RefTensor).data;
      const got5 = (await runGraphOnGpu(gpu, graph5, inputs5)).y?.data ?? new Float64Array();
      expect(got5.length).toBe(20);
      // (x - bias) * rstd: two roundings of values below 16.
      got5.forEach((v, i) => {
        expect(Math.abs(v - (want5[i] as number)), `y5[${i}]`).toBeLessThanOrEqual(2 * 16 * 2 ** -24);
      });
    },
  );

  it('inlines non-finite and out-of-range constants', { timeout: 120_000 }, async (ctx: TestContext) => {
    devicePromise ??= openTestDevice(ctx);
    const gpu = await devicePromise;
    const b = new GraphBuilder();
    const x = b.data('x', [3]);
    const graph = b.build({
      big: b.minimum(x, 1e39),
      inf: b.maximum(x, -Infinity),
      nan: b.add(x, NaN),
    });
    const plan = planGraph(graph, { caps: deviceCaps(gpu) });
    expect(plan.steps.every((s) => s.name.startsWith('fused_full_'))).toBe(true);
    const got = await runGraphOnGpu(gpu, graph, { x: { dtype: 'f32', shape: [3], data: [1, -2, 3] } });
    expect(Array.from(got.big?.data ?? [])).toEqual([1, -2, 3]);
    expect(Array.from(got.inf?.data ?? [])).toEqual([1, -2, 3]);
    expect(Array.from(got.nan?.data ?? []).every(Number.isNaN)).toBe(true);
  });

  it(
    'fuses elementwise consumers of a matmul into its epilogue, equal to the reference',
    { timeout: 300_000 },
    async (ctx: TestContext) => {
      devicePromise ??= openTestDevice(ctx);
      const gpu = await devicePromise;
      const arbEpilogueCase = fc.record({
        batch: fc.constantFrom<number[]>([], [3], [2, 3]),
        m: fc.integer({ min: 1, max: 9 }),
        n: fc.integer({ min: 1, max: 9 }),
        k: fc.integer({ min: 1, max: 9 }),
        transposeA: fc.boolean(),
        transposeB: fc.boolean(),
        broadcastB: fc.boolean(),
        // Which operand each step combines with the running value: bias [N], per-row [M, 1], the full shape, one
        // broadcast over the batch, a scalar, or a unary op.
        steps: fc.array(fc.constantFrom('bias', 'row', 'full', 'nobatch', 'scalar', 'gelu', 'tanh'), {
          minLength: 1,
          maxLength: 5,
        }),
        seed: fc.nat(),
      });
      const cases = fc.sample(arbEpilogueCase, { numRuns: Number(process.env.VITM_GPU_FUSE_RUNS ?? 6), seed: 0xe91 });
      for (const c of cases) {
        const b = new GraphBuilder();
        const { m, n, k } = c;
        const shapeA = c.transposeA ? [...c.batch, k, m] : [...c.batch, m, k];
        const shapeB = c.transposeB ? [n, k] : [k, n];
        const a = b.data('a', shapeA);
        const w = b.data('w', c.broadcastB ? shapeB : [...c.batch, ...shapeB]);
        let y = b.matmul(a, w, { transposeA: c.transposeA, transposeB: c.transposeB });
        const inputs: Record<string, RefTensor> = {};
        let state = c.seed;
        const random = (shape: readonly number[]): RefTensor => {
          const size = shape.reduce((p, q) => p * q, 1);
          return makeTensor(
            'f32',
            shape,
            Array.from({ length: size }, () => {
              state = (state * 1103515245 + 12345) >>> 0;
              return Math.fround((state / 2 ** 32) * 2 - 1);
            }),
          );
        };
        const operand = (name: string, shape: readonly number[]): Value => {
          inputs[name] = random(shape);
          return b.data(name, shape);
        };
        c.steps.forEach((step, i) => {
          switch (step) {
            case 'bias':
              y = b.add(y, operand(`e${i}`, [n]));
              break;
            case 'row':
              y = b.mul(y, operand(`e${i}`, [m, 1]));
              break;
            case 'full':
              y = b.add(operand(`e${i}`, [...c.batch, m, n]), y);
              break;
            case 'nobatch':
              y = b.sub(y, operand(`e${i}`, [m, n]));
              break;
            case 'scalar':
              y = b.mul(y, 0.5);
              break;
            case 'gelu':
              y = b.gelu(y);
              break;
            case 'tanh':
              y = b.tanh(y);
              break;
          }
        });
        const graph = b.build({ y });
        inputs.a = random(shapeA);
        inputs.w = random(c.broadcastB ? shapeB : [...c.batch, ...shapeB]);
        const plan = planGraph(graph, { caps: deviceCaps(gpu) });
        expect(plan.steps.filter((s) => s.kind === 'matmul' && s.epilogue !== undefined)).toHaveLength(1);
        expect(plan.steps.some((s) => s.kind === 'wgsl')).toBe(false);
        const want = (evaluate(graph, inputs).y as RefTensor).data;
        const got = (await runGraphOnGpu(gpu, graph, inputs)).y?.data ?? new Float64Array();
        expect(got.length).toBe(want.length);
        // Operands in [-1, 1]: the dot product's rounding is below k 2^-23 k, and each step adds a few ulps.
        const tol = (k * k + 8 * c.steps.length) * 2 ** -21;
        got.forEach((v, i) => {
          expect(Math.abs(v - (want[i] as number)), `y[${i}]`).toBeLessThanOrEqual(tol);
        });
      }
    },
  );

  it(
    'fuses an elementwise group into the reduction that is its only use, equal to the reference',
    { timeout: 300_000 },
    async (ctx: TestContext) => {
      devicePromise ??= openTestDevice(ctx);
      const gpu = await devicePromise;
      const arbReduceCase = fc.record({
        shape: fc.constantFrom<number[]>([5, 3], [2, 3, 4], [3, 700], [4, 1, 6]),
        kind: fc.constantFrom('sum', 'mean', 'max'),
        axesPick: fc.nat(),
        broadcast: fc.constantFrom('row', 'column', 'scalar', 'same'),
        square: fc.boolean(),
        seed: fc.nat(),
      });
      const cases = fc.sample(arbReduceCase, { numRuns: Number(process.env.VITM_GPU_FUSE_RUNS ?? 8), seed: 0x5ed });
      for (const c of cases) {
        const rank = c.shape.length;
        const subsets = Array.from({ length: 2 ** rank - 1 }, (_, i) =>
          [...Array(rank).keys()].filter((a) => ((i + 1) >> a) & 1),
        );
        const axes = subsets[c.axesPick % subsets.length] ?? [0];
        const otherShape =
          c.broadcast === 'row'
            ? c.shape.map((d, i) => (i === rank - 1 ? d : 1))
            : c.broadcast === 'column'
              ? c.shape.map((d, i) => (i === rank - 1 ? 1 : d))
              : c.broadcast === 'scalar'
                ? []
                : c.shape;
        const b = new GraphBuilder();
        const x = b.data('x', c.shape);
        const y = b.data('y', otherShape);
        const d = b.sub(x, y);
        const v = c.square ? b.mul(d, d) : b.tanh(d);
        const r = c.kind === 'sum' ? b.sum(v, axes) : c.kind === 'mean' ? b.mean(v, axes) : b.max(v, axes);
        const graph = b.build({ r });
        let state = c.seed;
        const random = (shape: readonly number[]): RefTensor =>
          makeTensor(
            'f32',
            shape,
            Array.from({ length: shape.reduce((p, q) => p * q, 1) }, () => {
              state = (state * 1103515245 + 12345) >>> 0;
              return Math.fround((state / 2 ** 32) * 2 - 1);
            }),
          );
        const inputs = { x: random(c.shape), y: random(otherShape) };
        const plan = planGraph(graph, { caps: deviceCaps(gpu) });
        expect(plan.steps.every((s) => s.name.startsWith('reduce_'))).toBe(true);
        const want = (evaluate(graph, inputs).r as RefTensor).data;
        const got = (await runGraphOnGpu(gpu, graph, inputs)).r?.data ?? new Float64Array();
        expect(got.length).toBe(want.length);
        // Terms are at most 4 in magnitude: a serial f32 sum of n of them is within n 2^-24 4 n.
        const n = c.shape.reduce((p, q) => p * q, 1);
        const tol = 8 * n * n * 2 ** -24 + 2 ** -20;
        got.forEach((value, i) => {
          expect(Math.abs(value - (want[i] as number)), `r[${i}]`).toBeLessThanOrEqual(tol);
        });
      }
    },
  );

  it(
    "applies layer norm's affine in the norm's kernel when the norm has no other use",
    { timeout: 300_000 },
    async (ctx: TestContext) => {
      devicePromise ??= openTestDevice(ctx);
      const gpu = await devicePromise;
      // d a multiple of 4: the kernel reads and writes vec4 (`x4`).
      for (const shape of [[5], [3, 7], [2, 3, 8], [4, 12]]) {
        const d = shape[shape.length - 1] ?? 1;
        const b = new GraphBuilder();
        const x = b.data('x', shape);
        const gamma = b.data('gamma', [d]);
        const beta = b.data('beta', [d]);
        const graph = b.build({ y: b.tanh(b.add(b.mul(b.layerNorm(x), gamma), beta)) });
        let state = d;
        const random = (s: readonly number[]): RefTensor =>
          makeTensor(
            'f32',
            s,
            Array.from({ length: s.reduce((p, q) => p * q, 1) }, () => {
              state = (state * 1103515245 + 12345) >>> 0;
              return Math.fround((state / 2 ** 32) * 4 - 2);
            }),
          );
        const inputs = { x: random(shape), gamma: random([d]), beta: random([d]) };
        const plan = planGraph(graph, { caps: deviceCaps(gpu) });
        expect(plan.steps.map((s) => s.name)).toEqual([`layer_norm[f32:fused2${d % 4 === 0 ? ':x4' : ''}]`]);
        const want = (evaluate(graph, inputs).y as RefTensor).data;
        const got = (await runGraphOnGpu(gpu, graph, inputs)).y?.data ?? new Float64Array();
        expect(got.length).toBe(want.length);
        got.forEach((v, i) => {
          expect(Math.abs(v - (want[i] as number)), `y[${i}]`).toBeLessThanOrEqual(d * 2 ** -19);
        });
      }
    },
  );

  it(
    "stores the normalised value too when it is read elsewhere (training's gamma gradient), still in one kernel",
    { timeout: 300_000 },
    async (ctx: TestContext) => {
      devicePromise ??= openTestDevice(ctx);
      const gpu = await devicePromise;
      for (const shape of [
        [3, 7],
        [4, 12],
      ]) {
        const d = shape[shape.length - 1] ?? 1;
        const b = new GraphBuilder();
        const x = b.data('x', shape);
        const gamma = b.data('gamma', [d]);
        const beta = b.data('beta', [d]);
        const dy = b.data('dy', shape);
        const xh = b.layerNorm(x);
        // The affine reads xh first; the gamma gradient's product reads it after the affine's root.
        const y = b.add(b.mul(xh, gamma), beta);
        const graph = b.build({ y, dgamma: b.sum(b.mul(b.tanh(dy), xh), 0) });
        let state = d + 1;
        const random = (s: readonly number[]): RefTensor =>
          makeTensor(
            'f32',
            s,
            Array.from({ length: s.reduce((p, q) => p * q, 1) }, () => {
              state = (state * 1103515245 + 12345) >>> 0;
              return Math.fround((state / 2 ** 32) * 4 - 2);
            }),
          );
        const inputs = { x: random(shape), gamma: random([d]), beta: random([d]), dy: random(shape) };
        const plan = planGraph(graph, { caps: deviceCaps(gpu) });
        const names = plan.steps.map((s) => s.name);
        expect(names[0]).toBe(`layer_norm[f32:fused2:keep${d % 4 === 0 ? ':x4' : ''}]`);
        expect(names.filter((n) => n.startsWith('layer_norm'))).toHaveLength(1);
        const want = evaluate(graph, inputs);
        const got = await runGraphOnGpu(gpu, graph, inputs);
        for (const name of ['y', 'dgamma']) {
          const w = (want[name] as RefTensor).data;
          const g = got[name]?.data ?? new Float64Array();
          expect(g.length).toBe(w.length);
          // dgamma sums up to 3 rows of products of two values below 2 in magnitude.
          g.forEach((v, i) => {
            expect(Math.abs(v - (w[i] as number)), `${name}[${i}]`).toBeLessThanOrEqual(d * 2 ** -17);
          });
        }
      }
    },
  );

  it(
    'computes layer_norm_grad in one row kernel, reading dy * gamma through its group and adding the residual in its store',
    { timeout: 300_000 },
    async (ctx: TestContext) => {
      devicePromise ??= openTestDevice(ctx);
      const gpu = await devicePromise;
      // d a multiple of 4 reads and writes vec4 (`x4`); rows offset far from zero check the centred second pass.
      for (const [shape, offset] of [
        [[5], 0],
        [[3, 7], 0],
        [[2, 3, 8], 100],
        [[4, 12], -30],
      ] as const) {
        const d = shape[shape.length - 1] ?? 1;
        const b = new GraphBuilder();
        const x = b.data('x', shape);
        const dy = b.data('dy', shape);
        const gamma = b.data('gamma', [d]);
        const r = b.data('r', shape);
        // The cotangent dy * gamma (the affine's backward pass) is read through its group, not stored.
        const graph = b.build({ y: b.addN([r, b.layerNormGrad(x, b.mul(dy, gamma), 1e-5)]) });
        let state = d;
        const random = (s: readonly number[], shift = 0): RefTensor =>
          makeTensor(
            'f32',
            s,
            Array.from({ length: s.reduce((p, q) => p * q, 1) }, () => {
              state = (state * 1103515245 + 12345) >>> 0;
              return Math.fround((state / 2 ** 32) * 4 - 2 + shift);
            }),
          );
        const inputs = { x: random(shape, offset), dy: random(shape), gamma: random([d]), r: random(shape) };
        const plan = planGraph(graph, { caps: deviceCaps(gpu) });
        const name = `layer_norm_grad[f32:pro2:fused1${d % 4 === 0 ? ':x4' : ''}]`;
        expect(plan.steps.map((s) => s.name)).toEqual([name]);
        const want = (evaluate(graph, inputs).y as RefTensor).data;
        const got = (await runGraphOnGpu(gpu, graph, inputs)).y?.data ?? new Float64Array();
        expect(got.length).toBe(want.length);
        // rstd <= ~1.2 here, |g| <= 4, |r| <= 2: each term carries a few ulps of its d-term sums.
        got.forEach((v, i) => {
          expect(Math.abs(v - (want[i] as number)), `y[${i}]`).toBeLessThanOrEqual(d * 2 ** -17);
        });
      }
    },
  );

  it('keeps the normalised value separate when a reader comes before the affine that would store it', () => {
    const b = new GraphBuilder();
    const x = b.data('x', [3, 8]);
    const xh = b.layerNorm(x);
    const early = b.sum(xh, 1);
    const y = b.add(b.mul(xh, b.data('gamma', [8])), b.data('beta', [8]));
    const plan = planGraph(b.build({ early, y }), { caps: { maxWorkgroupsPerDimension: 65535, shaderF16: false } });
    const names = plan.steps.map((s) => s.name);
    expect(names[0]).toBe('layer_norm[f32:x4]');
    expect(names.some((n) => n.includes(':keep'))).toBe(false);
  });

  it('fuses a chain into one kernel and keeps a shared value materialised', () => {
    const b = new GraphBuilder();
    const x = b.data('x', [4, 3]);
    const bias = b.data('bias', [3]);
    const shared = b.tanh(b.add(x, bias));
    const y = b.mul(b.sigmoid(shared), b.add(shared, 1));
    const graph = b.build({ y });
    const plan = planGraph(graph, { caps: { maxWorkgroupsPerDimension: 65535, shaderF16: false } });
    // tanh(add) is one kernel (its result is used twice, so it is stored); sigmoid, full, add and mul another. Both
    // compute four elements per invocation (`x4`: 12 elements); in the first, rows of 3 split a vec4 of the
    // broadcast bias, so its four values are gathered one by one.
    expect(plan.steps.map((s) => s.name)).toEqual([
      'fused_add_tanh[r2:cb:f32,f32->f32:x4]',
      'fused_sigmoid_full_add_mul[r2:c:f32->f32:x4]',
    ]);
    expect(plan.values.has(shared.id)).toBe(true);
  });

  it(
    'reads a short softmax line once (unrolled, vec4 or vec2 where its length allows), a long or strided one in three passes',
    { timeout: 300_000 },
    async (ctx: TestContext) => {
      devicePromise ??= openTestDevice(ctx);
      const gpu = await devicePromise;
      // Rows offset far from zero (exp would overflow without the maximum subtracted), -inf entries (weight 0) and
      // every path: unrolled scalar (17), vec2 (50, 6), vec4 (64, 4), three passes (65 long; along a non-last axis).
      for (const [shape, axis, offset, name] of [
        [[6, 50], 1, 100, 'softmax[f32:r50:x2]'],
        [[4, 6], 1, -30, 'softmax[f32:r6:x2]'],
        [[5, 17], 1, 20, 'softmax[f32:r17]'],
        [[3, 2, 64], 2, -90, 'softmax[f32:r64:x4]'],
        [[5, 4], 1, 0, 'softmax[f32:r4:x4]'],
        [[3, 65], 1, 80, 'softmax[f32]'],
        [[7, 5, 3], 1, 0, 'softmax[f32]'],
      ] as const) {
        const b = new GraphBuilder();
        const x = b.data('x', shape);
        const graph = b.build({ y: b.softmax(x, axis) });
        let state = shape.length * 977 + offset;
        const count = shape.reduce((p, q) => p * q, 1);
        const data = Array.from({ length: count }, (_, i) => {
          state = (state * 1103515245 + 12345) >>> 0;
          // One entry in 13 is -inf: it gets weight 0 and must not disturb the rest of its line.
          return i % 13 === 5 ? -Infinity : Math.fround((state / 2 ** 32) * 8 - 4 + offset);
        });
        const inputs = { x: makeTensor('f32', shape, data) };
        const plan = planGraph(graph, { caps: deviceCaps(gpu) });
        expect(plan.steps.map((s) => s.name)).toEqual([name]);
        const want = (evaluate(graph, inputs).y as RefTensor).data;
        const got = (await runGraphOnGpu(gpu, graph, inputs)).y?.data ?? new Float64Array();
        expect(got.length).toBe(want.length);
        // Each output is e_i / s: e_i within a few ulp (the argument x - m is exact to one rounding of magnitude at
        // most 8, so exp's relative error is about 8 * 2^-24 plus its own), s a sum of n such terms; 2^-17 of the
        // line's largest weight (1 at most) bounds both with room.
        got.forEach((v, i) => {
          expect(Math.abs(v - (want[i] as number)), `${name} y[${i}]`).toBeLessThanOrEqual(2 ** -17);
        });
      }
    },
  );

  it(
    'computes softmax_grad in one row kernel with its consumer (the scores scale) applied before the store',
    { timeout: 300_000 },
    async (ctx: TestContext) => {
      devicePromise ??= openTestDevice(ctx);
      const gpu = await devicePromise;
      for (const [shape, axis, name] of [
        [[4, 50], 1, 'softmax_grad[f32:r50:x2:fused1]'],
        [[3, 17], 1, 'softmax_grad[f32:r17:fused1]'],
        [[3, 2, 8], 2, 'softmax_grad[f32:r8:x4:fused1]'],
        [[2, 70], 1, 'softmax_grad[f32:fused1]'],
        [[3, 6, 5], 1, 'softmax_grad[f32:fused1]'],
      ] as const) {
        const b = new GraphBuilder();
        const x = b.data('x', shape);
        const g = b.data('g', shape);
        const r = b.data('r', shape);
        const y = b.softmax(x, axis);
        // The scale is a literal; r is read at the element's index.
        const dx = b.sub(b.mul(b.softmaxGrad(y, g, axis), b.scalar(0.25)), r);
        const graph = b.build({ dx, y });
        let state = shape.length * 31 + axis;
        const random = (): RefTensor =>
          makeTensor(
            'f32',
            shape,
            Array.from({ length: shape.reduce((p, q) => p * q, 1) }, () => {
              state = (state * 1103515245 + 12345) >>> 0;
              return Math.fround((state / 2 ** 32) * 6 - 3);
            }),
          );
        const inputs = { x: random(), g: random(), r: random() };
        const plan = planGraph(graph, { caps: deviceCaps(gpu) });
        const names = plan.steps.map((st) => st.name);
        expect(names.filter((n) => n.startsWith('softmax_grad'))).toEqual([name]);
        expect(names).toHaveLength(2);
        const want = (evaluate(graph, inputs).dx as RefTensor).data;
        const got = (await runGraphOnGpu(gpu, graph, inputs)).dx?.data ?? new Float64Array();
        expect(got.length).toBe(want.length);
        // y in [0, 1], g and r in [-3, 3]: the line's sum of n products below 3 in magnitude, a few roundings each.
        const n = shape[axis] ?? 1;
        got.forEach((v, i) => {
          expect(Math.abs(v - (want[i] as number)), `${name} dx[${i}]`).toBeLessThanOrEqual(n * 2 ** -19);
        });
      }
    },
  );

  it(
    'sums the output gradient in the weight-gradient matmul that reads it, unless the sum is read before that matmul',
    { timeout: 300_000 },
    async (ctx: TestContext) => {
      devicePromise ??= openTestDevice(ctx);
      const gpu = await devicePromise;
      for (const early of [false, true]) {
        const b = new GraphBuilder();
        const dy = b.data('dy', [3, 7, 6]);
        const x = b.data('x', [3, 7, 5]);
        // A linear layer's bias gradient (dy summed over every axis but the last) and weight gradient dy^T x.
        const db = b.reshape(b.sum(dy, [0, 1], true), [6]);
        const probe = early ? b.mul(db, db) : undefined;
        const dw = b.matmul(b.reshape(dy, [21, 6]), b.reshape(x, [21, 5]), { transposeA: true });
        const graph = b.build({ db, dw, ...(probe ? { probe } : {}) });
        let state = 7;
        const random = (shape: number[]): RefTensor =>
          makeTensor(
            'f32',
            shape,
            Array.from({ length: shape.reduce((p, q) => p * q, 1) }, () => {
              state = (state * 1103515245 + 12345) >>> 0;
              return Math.fround((state / 2 ** 32) * 2 - 1);
            }),
          );
        const inputs = { dy: random([3, 7, 6]), x: random([3, 7, 5]) };
        const plan = planGraph(graph, { caps: deviceCaps(gpu) });
        const folded = plan.steps.filter((st) => st.kind === 'matmul' && st.rowSums !== undefined);
        // Read before the matmul (by the probe), the sum keeps its own kernel.
        expect(folded).toHaveLength(early ? 0 : 1);
        expect(plan.steps.some((st) => st.name.startsWith('reduce_sum'))).toBe(early);
        if (!early) expect(folded[0]?.origin.ops).toEqual(['matmul', 'reduce_sum']);
        const want = evaluate(graph, inputs);
        const got = await runGraphOnGpu(gpu, graph, inputs);
        for (const name of Object.keys(want)) {
          const w = (want[name] as RefTensor).data;
          const r = got[name]?.data ?? new Float64Array();
          expect(r.length).toBe(w.length);
          // Sums of 21 values (or products) below 1 in magnitude, off by at most 20 * 2^-24 * 21 < 2^-14.6 in any
          // order; squared for the probe, whose error is then about 2 |db| times that. 2^-16 relative to the value
          // (or absolute below 1) holds these inputs with margin and is far below one misplaced term.
          r.forEach((v, i) => {
            const expected = w[i] as number;
            expect(Math.abs(v - expected), `${name}[${i}]`).toBeLessThanOrEqual(
              2 ** -16 * Math.max(1, Math.abs(expected)),
            );
          });
        }
      }
    },
  );

  it(
    'stores an activation beside the pre-activation the backward pass keeps, in the matmul that computes both',
    { timeout: 300_000 },
    async (ctx: TestContext) => {
      devicePromise ??= openTestDevice(ctx);
      const gpu = await devicePromise;
      for (const n of [8, 6]) {
        const b = new GraphBuilder();
        const x = b.data('x', [2, 5, 4]);
        const w = b.data('w', [n, 4]);
        const bias = b.data('bias', [n]);
        const w2 = b.data('w2', [3, n]);
        const h = b.add(b.matmul(x, w, { transposeB: true }), bias);
        const g = b.gelu(h);
        // h is read again later (as a backward pass reads the pre-activation), so it is stored; so is gelu(h).
        const graph = b.build({ y: b.matmul(g, w2, { transposeB: true }), z: b.mul(h, g) });
        let state = n;
        const random = (shape: number[]): RefTensor =>
          makeTensor(
            'f32',
            shape,
            Array.from({ length: shape.reduce((p, q) => p * q, 1) }, () => {
              state = (state * 1103515245 + 12345) >>> 0;
              return Math.fround((state / 2 ** 32) * 2 - 1);
            }),
          );
        const inputs = { x: random([2, 5, 4]), w: random([n, 4]), bias: random([n]), w2: random([3, n]) };
        const plan = planGraph(graph, { caps: deviceCaps(gpu) });
        const names = plan.steps.map((st) => st.name);
        expect(names.some((name) => name.startsWith('gelu'))).toBe(false);
        expect(plan.steps.filter((st) => st.kind === 'matmul' && st.epilogue?.second)).toHaveLength(1);
        const want = evaluate(graph, inputs);
        const got = await runGraphOnGpu(gpu, graph, inputs);
        for (const name of ['y', 'z']) {
          const w = (want[name] as RefTensor).data;
          const r = got[name]?.data ?? new Float64Array();
          expect(r.length).toBe(w.length);
          // Sums of at most 8 products of values below 3 in magnitude, and gelu within 3e-7 of the reference.
          r.forEach((v, i) => {
            expect(Math.abs(v - (w[i] as number)), `${name}[${i}]`).toBeLessThanOrEqual(2 ** -17);
          });
        }
      }
    },
  );
});
