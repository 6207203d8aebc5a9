/**
 * The graph executor on the WebGPU device: whole ViT graphs (forward, and the gradient graph from `differentiate`)
 * equal to the float64 reference interpreter, plans reused per binding of the shape symbols, device errors that
 * name the kernel and the `.vitm` span, and launch grids split over three dimensions.
 *
 * Tolerance of a whole graph: the device computes in f32, so its distance from the float64 reference is compared with
 * the distance of the reference's own f32 mode (each op's result rounded to f32) from float64, norm-wise per output:
 * ||gpu - ref64|| <= 8 ||ref32 - ref64|| + 2^-20 ||ref64||. The f32 mode rounds once per op with float64
 * accumulation inside reductions, so the factor 8 absorbs the device's f32 accumulation (n u per reduction instead of
 * u) and its transcendental ulps; the last term is a floor for outputs the f32 mode happens to get exactly.
 */

import { describe, expect, it, type TestContext } from 'vitest';
import { checkProgram } from '../../compiler/frontend.js';
import { GraphBuilder } from '../../compiler/ir/builder.js';
import type { Graph, Value } from '../../compiler/ir/graph.js';
import { lowerLoss } from '../../compiler/lower/lower.js';
import { CLEANUP_PASSES, differentiatePass, runPasses } from '../../compiler/passes/run-passes.js';
import type { ElaboratedModel } from '../../compiler/semantic/elaborated.js';
import { planGraph } from '../../compiler/codegen/wgsl/ops/plan.js';
import type { KernelPlan, PlannedStep } from '../../compiler/codegen/kernel.js';
import { nodeHost } from '../../cli/check.js';
import { evaluate } from '../../runtime/reference/interpret.js';
import type { RefTensor } from '../../runtime/reference/tensor.js';
import { VitmRuntimeError } from '../../runtime/errors.js';
import { GraphExecutor, runGraphOnGpu, type ResultTensor } from '../../runtime/webgpu/executor.js';
import { TINY_VIT, vitGraph, vitInputs, type VitConfig } from '../ir/fixtures/vit.js';
import { openTestDevice } from '../support/gpu.js';

const FIXTURE = 'test/lower/fixtures/small_vit.vitm';
const SMALL: VitConfig = { image: 8, channels: 2, patch: 4, dim: 8, depth: 2, heads: 2, mlpRatio: 2, classes: 3 };

function smallModel(): ElaboratedModel {
  const result = checkProgram(FIXTURE, nodeHost());
  expect(result.diagnostics).toEqual([]);
  const found = result.program?.models.find((m) => m.name === 'Small');
  if (!found) throw new Error('no model Small');
  return found;
}

function norm(xs: ArrayLike<number>, ys?: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < xs.length; i++) s += ((xs[i] as number) - (ys ? (ys[i] as number) : 0)) ** 2;
  return Math.sqrt(s);
}

/** Checks every output of `got` against the reference as the file comment says; returns the worst ratio. */
function expectClose(
  graph: Graph,
  inputs: Record<string, RefTensor>,
  symbols: Record<string, number>,
  got: Record<string, ResultTensor>,
): number {
  const ref64 = evaluate(graph, inputs, { symbols });
  const ref32 = evaluate(graph, inputs, { symbols, precision: 'f32' });
  let worst = 0;
  for (const o of graph.outputs) {
    const want = ref64[o.name] as RefTensor;
    const gpu = got[o.name];
    expect(gpu?.shape, o.name).toEqual(want.shape);
    const data = gpu?.data ?? new Float64Array();
    expect(data.every(Number.isFinite), `${o.name} is finite`).toBe(true);
    const allowed = 8 * norm((ref32[o.name] as RefTensor).data, want.data) + 2 ** -20 * norm(want.data);
    const err = norm(data, want.data);
    worst = Math.max(worst, allowed === 0 ? (err === 0 ? 0 : Infinity) : err / allowed);
    expect(err, `${o.name}: |gpu - ref| ${err} vs allowed ${allowed}`).toBeLessThanOrEqual(allowed);
  }
  if (process.env.VITM_DEBUG)
    process.stdout.write(
      `worst |gpu - ref| / allowed over ${graph.outputs.length} outputs: ${worst.toExponential(2)}\n`,
    );
  return worst;
}

function gradientGraph(graph: Graph): Graph {
  return runPasses(graph, [differentiatePass({ loss: 'loss' }), ...CLEANUP_PASSES], { verify: true });
}

describe('the graph executor', () => {
  it('runs the stdlib ViT (.vitm) forward and all its gradients equal to the reference, per batch size', async (ctx: TestContext) => {
    const gpu = await openTestDevice(ctx);
    try {
      const graph = gradientGraph(lowerLoss(smallModel(), { inputNames: ['images'] }));
      const executor = new GraphExecutor(gpu, graph);
      for (const batch of [1, 3]) {
        const inputs = vitInputs(graph, SMALL, batch, 5);
        const got = await executor.run(inputs, { symbols: { B: batch } });
        expect(Object.keys(got)).toEqual(graph.outputs.map((o) => o.name));
        expectClose(graph, inputs, { B: batch }, got);
      }
      // A second run at a seen batch size reuses its plan (same buffers, no new lowering).
      const plan = await executor.plan({ B: 3 });
      const again = await executor.run(vitInputs(graph, SMALL, 3, 9), { symbols: { B: 3 } });
      expect(await executor.plan({ B: 3 })).toBe(plan);
      expectClose(graph, vitInputs(graph, SMALL, 3, 9), { B: 3 }, again);
      executor.dispose();
    } finally {
      gpu.dispose();
    }
  }, 300_000);

  it('runs the tiny ViT (28x28, patch 4, dim 64, depth 2) forward and backward equal to the reference', async (ctx: TestContext) => {
    const gpu = await openTestDevice(ctx);
    try {
      const graph = gradientGraph(vitGraph(TINY_VIT));
      const inputs = vitInputs(graph, TINY_VIT, 2);
      const got = await runGraphOnGpu(gpu, graph, inputs, { symbols: { B: 2 } });
      expect(Object.keys(got).filter((k) => k.startsWith('grad:')).length).toBe(
        graph.inputs.filter((i) => i.kind === 'param').length,
      );
      expectClose(graph, inputs, { B: 2 }, got);
    } finally {
      gpu.dispose();
    }
  }, 300_000);

  it('splits launch grids beyond the per-dimension workgroup limit over y and z', async (ctx: TestContext) => {
    const gpu = await openTestDevice(ctx);
    try {
      const graph = gradientGraph(lowerLoss(smallModel(), { inputNames: ['images'] }));
      const inputs = vitInputs(graph, SMALL, 16, 11);
      // A limit of 3 workgroups per dimension forces 2-D and 3-D grids on every kernel of the ViT.
      let plan: KernelPlan | undefined;
      const got = await runGraphOnGpu(gpu, graph, inputs, {
        symbols: { B: 16 },
        lower: (g, options) => {
          plan = planGraph(g, { ...options, caps: { ...options.caps, maxWorkgroupsPerDimension: 3 } });
          return plan;
        },
      });
      const grids = (plan?.steps ?? []).flatMap((s) => (s.kind === 'wgsl' ? [s.grid] : []));
      expect(grids.some(([, , z]) => z > 1)).toBe(true);
      expect(grids.every((g) => g.every((d) => d <= 3))).toBe(true);
      expectClose(graph, inputs, { B: 16 }, got);
    } finally {
      gpu.dispose();
    }
  }, 300_000);

  it('names the kernel and the .vitm span of a kernel that fails to compile', async (ctx: TestContext) => {
    const gpu = await openTestDevice(ctx);
    try {
      const graph = lowerLoss(smallModel(), { inputNames: ['images'] });
      const target = graph.equations.find((eq) => eq.op === 'layer_norm' && eq.span !== undefined);
      expect(target).toBeDefined();
      const broken = (plan: KernelPlan): KernelPlan => ({
        ...plan,
        steps: plan.steps.map((s): PlannedStep =>
          s.kind === 'wgsl' && s.origin.values.includes(target?.out.id ?? -1)
            ? { ...s, wgsl: s.wgsl.replace('let rstd', 'let rstd: vec3<f32> =') }
            : s,
        ),
      });
      const run = runGraphOnGpu(gpu, graph, vitInputs(graph, SMALL, 1), {
        symbols: { B: 1 },
        lower: (g, options) => broken(planGraph(g, options)),
      });
      const error = await run.then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(VitmRuntimeError);
      const message = (error as Error).message;
      // The norm's kernel also applies the affine that follows it (the loss graph uses the norm only there).
      expect(message).toContain("kernel 'layer_norm[f32");
      // The layer norm is defined in the standard library, so its span points there.
      expect(message).toMatch(
        new RegExp(`\\(from layer_norm %${target?.out.id ?? ''}(, \\w+ %\\d+)* @\\S+\\.vitm:\\d+-\\d+\\)`),
      );
    } finally {
      gpu.dispose();
    }
  }, 120_000);

  it('names the kernel and equation of a dispatch the device rejects', async (ctx: TestContext) => {
    const gpu = await openTestDevice(ctx);
    try {
      const b = new GraphBuilder();
      const x = b.data('x', [4]);
      const graph = b.build({ y: b.exp(b.add(x, x)) });
      const tooLarge = gpu.limit('maxComputeWorkgroupsPerDimension') + 1;
      const error = await runGraphOnGpu(
        gpu,
        graph,
        { x: { dtype: 'f32', shape: [4], data: [1, 2, 3, 4] } },
        {
          lower: (g, options) => {
            const plan = planGraph(g, options);
            return {
              ...plan,
              steps: plan.steps.map((s) =>
                s.kind === 'wgsl' && s.origin.ops.includes('exp') ? { ...s, grid: [tooLarge, 1, 1] as const } : s,
              ),
            };
          },
        },
      ).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(VitmRuntimeError);
      // add and exp are fused into one kernel; the error names it and both equations.
      expect((error as Error).message).toMatch(/kernel 'fused_add_exp\[r1:c:f32->f32:x4\]' \(from add %1, exp %2\)/);
    } finally {
      gpu.dispose();
    }
  }, 120_000);

  it('names the tensor that does not fit one buffer binding, before allocating anything', async (ctx: TestContext) => {
    const gpu = await openTestDevice(ctx);
    try {
      const max = Math.min(gpu.limit('maxStorageBufferBindingSize'), gpu.limit('maxBufferSize'));
      const b = new GraphBuilder();
      const x = b.data('x', [1]);
      const graph = b.build({ y: b.add(b.broadcastTo(x, [Math.ceil(max / 4) + 16]), 1) });
      const error = await runGraphOnGpu(gpu, graph, { x: { dtype: 'f32', shape: [1], data: [1] } }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(VitmRuntimeError);
      expect((error as Error).message).toMatch(/the tensor %1:broadcast_to needs \d+ bytes/);
    } finally {
      gpu.dispose();
    }
  }, 120_000);

  it('keeps tanh, exp, sigmoid, gelu, erf and the softmax family finite and exact-ish at extreme inputs', async (ctx: TestContext) => {
    const gpu = await openTestDevice(ctx);
    try {
      const values = [-3e38, -1e4, -100, -88.5, -20, -9.5, -4, -1e-30, 0, 1e-30, 3.5, 9.5, 20, 88.5, 100, 1e4, 3e38];
      const b = new GraphBuilder();
      const x = b.data('x', [values.length]);
      const row = b.reshape(x, [1, values.length]);
      const labels = b.data('labels', [1], 'i32');
      const graph = b.build({
        tanh: b.tanh(x),
        sigmoid: b.sigmoid(x),
        gelu: b.gelu(x),
        gelu_tanh: b.gelu(x, 'tanh'),
        gelu_grad: b.geluGrad(x),
        gelu_grad_tanh: b.geluGrad(x, 'tanh'),
        erf: b.erf(x),
        exp: b.exp(b.minimum(x, 80)),
        softmax: b.softmax(row, -1),
        logsumexp: b.logsumexp(row, -1),
        ce: b.crossEntropy(row, labels),
      });
      const inputs = {
        x: { dtype: 'f32' as const, shape: [values.length], data: values.map(Math.fround) },
        labels: { dtype: 'i32' as const, shape: [1], data: [3] },
      };
      const got = await runGraphOnGpu(gpu, graph, inputs);
      const ref = evaluate(graph, {
        x: { ...inputs.x, data: Float64Array.from(inputs.x.data) },
        labels: { ...inputs.labels, data: Float64Array.from(inputs.labels.data) },
      });
      for (const o of graph.outputs) {
        const g = got[o.name]?.data ?? new Float64Array();
        const r = (ref[o.name] as RefTensor).data;
        g.forEach((v, i) => {
          const want = r[i] as number;
          const bound = 1e-5 * Math.abs(want) + 1e-6;
          expect(Number.isNaN(v), `${o.name}[${i}] is NaN`).toBe(false);
          if (Number.isFinite(want))
            expect(Math.abs(v - want), `${o.name}[${i}]: ${v} vs ${want}`).toBeLessThanOrEqual(bound);
          else expect(v).toBe(want);
        });
      }
    } finally {
      gpu.dispose();
    }
  }, 120_000);

  // The documented bounds (spec/ir.md): erf's absolute error below 2e-7 everywhere (measured 1.4e-7); gelu_grad's
  // below 3e-7 (measured 2.4e-7 exact, 1.9e-7 tanh): Phi within 7.5e-8 by A&S 7.1.26, the f32 evaluation of its
  // alternating polynomial near x = 0 (terms up to 1.5) and the rounding of Phi and of x phi(x).
  const dense: [string, (b: GraphBuilder, x: Value) => Value, number][] = [
    ['erf', (b, x) => b.erf(x), 2e-7],
    ['gelu_grad', (b, x) => b.geluGrad(x), 3e-7],
    ['gelu_grad (tanh)', (b, x) => b.geluGrad(x, 'tanh'), 3e-7],
  ];
  it.for(dense)(
    'computes %s within its bound of the float64 reference over [-6, 6]',
    { timeout: 120_000 },
    async ([, op, bound], ctx) => {
      const gpu = await openTestDevice(ctx);
      try {
        const n = 4801;
        const xs = Array.from({ length: n }, (_, i) => Math.fround(-6 + (12 * i) / (n - 1)));
        const b = new GraphBuilder();
        const graph = b.build({ y: op(b, b.data('x', [n])) });
        const got = (await runGraphOnGpu(gpu, graph, { x: { dtype: 'f32', shape: [n], data: xs } })).y?.data;
        const want = evaluate(graph, { x: { dtype: 'f32', shape: [n], data: Float64Array.from(xs) } }).y?.data;
        let worst = 0;
        xs.forEach((_, i) => {
          worst = Math.max(worst, Math.abs((got?.[i] ?? NaN) - (want?.[i] ?? NaN)));
        });
        expect(worst).toBeLessThan(bound);
      } finally {
        gpu.dispose();
      }
    },
  );

  // gelu(x) = x Phi(x) with Phi through erfc on both sides (spec/ir.md): erfc's relative error below 1.2e-7 carries
  // over to Phi, so gelu keeps its relative accuracy in the left tail, where 1 + erf(x / sqrt 2) would cancel. On top
  // of that come f32 roundings: z^2 = x^2 / 2 to a relative 2u, so exp's argument to about x^2 u absolutely; exp
  // itself within 3 + 2|arg| ulp (Vulkan), arg about -(x^2 / 2 + 1.3); and a few in the products (u = 2^-24). Below
  // -5 the float64 reference itself (1 + erf) loses relative accuracy.
  it('computes gelu within its relative bound of the float64 reference over [-5, 6]', async (ctx: TestContext) => {
    const gpu = await openTestDevice(ctx);
    try {
      const n = 3601;
      const xs = Array.from({ length: n }, (_, i) => Math.fround(-5 + (11 * i) / (n - 1)));
      const b = new GraphBuilder();
      const graph = b.build({ y: b.gelu(b.data('x', [n])) });
      const got = (await runGraphOnGpu(gpu, graph, { x: { dtype: 'f32', shape: [n], data: xs } })).y?.data;
      const want = evaluate(graph, { x: { dtype: 'f32', shape: [n], data: Float64Array.from(xs) } }).y?.data;
      let worst = 0;
      xs.forEach((x, i) => {
        const w = want?.[i] ?? NaN;
        const bound = 1.2e-7 + (10 + 2 * x * x) * 2 ** -24;
        // At x = 0 the product is exact; elsewhere the error relative to the reference, as a share of the bound.
        const err = Math.abs((got?.[i] ?? NaN) - w);
        worst = Math.max(worst, (x === 0 ? err : err / Math.abs(w)) / bound);
      });
      expect(worst).toBeLessThan(1);
    } finally {
      gpu.dispose();
    }
  }, 120_000);

  it('computes in f16 storage where the device has shader-f16, rounding each result to half precision', async (ctx: TestContext) => {
    const gpu = await openTestDevice(ctx);
    try {
      if (!gpu.features.has('shader-f16')) {
        ctx.skip('the adapter has no shader-f16');
        return;
      }
      const b = new GraphBuilder();
      const x = b.data('x', [3, 5]);
      const h = b.cast(x, 'f16');
      const y = b.softmax(b.mul(b.add(h, h), h), -1);
      const graph = b.build({ y: b.cast(b.matmul(y, b.transpose(h, [1, 0])), 'f32'), s: b.cast(b.sum(h, 1), 'f32') });
      const data = Array.from({ length: 15 }, (_, i) => Math.fround(Math.sin(i) * 1.5));
      const got = await runGraphOnGpu(gpu, graph, { x: { dtype: 'f32', shape: [3, 5], data } });
      const ref = evaluate(
        graph,
        { x: { dtype: 'f32', shape: [3, 5], data: Float64Array.from(data) } },
        { precision: 'f32' },
      );
      for (const name of ['y', 's']) {
        const g = got[name]?.data ?? new Float64Array();
        const r = (ref[name] as RefTensor).data;
        // Both round every op's result to f16 (u = 2^-11); a few roundings apart at most.
        g.forEach((v, i) => {
          expect(Math.abs(v - (r[i] as number))).toBeLessThanOrEqual(8 * 2 ** -11 * (1 + Math.abs(r[i] as number)));
        });
      }
    } finally {
      gpu.dispose();
    }
  }, 120_000);
});
