/**
 * The executor with the static memory plan on the WebGPU device: results with slot reuse are bit-identical to one
 * buffer per value (the same kernels in the same order, so any slot overwritten while still needed shows), on a small
 * ViT's forward and gradient graph and on random graphs; parameters set once stay resident while runs pass only the
 * data; the executor allocates exactly the plan's slots, and after the first run a run creates no buffer.
 */

import fc from 'fast-check';
import { afterAll, describe, expect, it, type TestContext } from 'vitest';
import type { Graph } from '../../compiler/ir/graph.js';
import { CLEANUP_PASSES, differentiatePass, runPasses } from '../../compiler/passes/run-passes.js';
import { BufferUsage, type GpuDevice } from '../../runtime/webgpu/device.js';
import { GraphExecutor, runGraphOnGpu, type HostTensor, type ResultTensor } from '../../runtime/webgpu/executor.js';
import { vitGraph, vitInputs, type VitConfig } from '../ir/fixtures/vit.js';
import { openTestDevice } from '../support/gpu.js';
import { arbGraphCase, buildGraph } from '../codegen/random-graphs.js';

const SMALL: VitConfig = { image: 8, channels: 2, patch: 4, dim: 8, depth: 2, heads: 2, mlpRatio: 2, classes: 3 };

let devicePromise: Promise<GpuDevice> | undefined;
afterAll(async () => {
  if (devicePromise) (await devicePromise.catch(() => undefined))?.dispose();
});

function gradientGraph(graph: Graph): Graph {
  return runPasses(graph, [differentiatePass({ loss: 'loss' }), ...CLEANUP_PASSES], { verify: true });
}

function expectSame(got: Record<string, ResultTensor>, want: Record<string, ResultTensor>): void {
  expect(Object.keys(got).sort()).toEqual(Object.keys(want).sort());
  for (const [name, w] of Object.entries(want)) {
    expect(got[name]?.shape, name).toEqual(w.shape);
    expect(Array.from(got[name]?.data ?? []), name).toEqual(Array.from(w.data));
  }
}

/** Splits the ViT inputs into parameters and the rest. */
function split(
  graph: Graph,
  inputs: Record<string, HostTensor>,
): [Record<string, HostTensor>, Record<string, HostTensor>] {
  const params: Record<string, HostTensor> = {};
  const data: Record<string, HostTensor> = {};
  for (const input of graph.inputs) {
    const t = inputs[input.name];
    if (t) (input.kind === 'param' ? params : data)[input.name] = t;
  }
  return [params, data];
}

describe('the executor with the memory plan', () => {
  it('gives a small ViT forward and gradients bit-identical with and without buffer reuse', async (ctx: TestContext) => {
    devicePromise ??= openTestDevice(ctx);
    const gpu = await devicePromise;
    const graph = gradientGraph(vitGraph(SMALL));
    const inputs = vitInputs(graph, SMALL, 4, 3);
    const reused = new GraphExecutor(gpu, graph);
    const plain = new GraphExecutor(gpu, graph, { reuse: false });
    try {
      const got = await reused.run(inputs, { symbols: { B: 4 } });
      const want = await plain.run(inputs, { symbols: { B: 4 } });
      expectSame(got, want);
      const memory = await reused.memory({ B: 4 });
      expect(memory.slots.length).toBeLessThan(memory.buffers.length);
      expect(memory.report.peakBytes).toBeLessThan((await plain.memory({ B: 4 })).report.peakBytes);
    } finally {
      reused.dispose();
      plain.dispose();
    }
  }, 300_000);

  it('gives random graphs the same results with and without buffer reuse', async (ctx: TestContext) => {
    devicePromise ??= openTestDevice(ctx);
    const gpu = await devicePromise;
    const cases = fc.sample(arbGraphCase, { numRuns: Number(process.env.VITM_GPU_MEMORY_RUNS ?? 10), seed: 0x3e3 });
    for (const c of cases) {
      const graph = buildGraph(c);
      const inputs: Record<string, HostTensor> = {};
      graph.inputs.forEach((input, k) => {
        const n = c.n * c.n;
        inputs[input.name] = {
          dtype: 'f32',
          shape: [c.n, c.n],
          data: Array.from({ length: n }, (_, i) => Math.fround(Math.sin(1 + i * 0.7 + k * 1.3) * 0.8)),
        };
      });
      const got = await runGraphOnGpu(gpu, graph, inputs);
      const want = await runGraphOnGpu(gpu, graph, inputs, { reuse: false });
      expectSame(got, want);
    }
  }, 300_000);

  it('keeps parameters resident: runs passing only the data equal full runs', async (ctx: TestContext) => {
    devicePromise ??= openTestDevice(ctx);
    const gpu = await devicePromise;
    const graph = gradientGraph(vitGraph(SMALL));
    const [params, first] = split(graph, vitInputs(graph, SMALL, 3, 5));
    const [, second] = split(graph, vitInputs(graph, SMALL, 3, 6));
    const [, small] = split(graph, vitInputs(graph, SMALL, 2, 7));
    const executor = new GraphExecutor(gpu, graph);
    try {
      await expect(executor.run(first, { symbols: { B: 3 } })).rejects.toThrow(/no value for input/);
      await executor.setInputs(params, { symbols: { B: 3 } });
      for (const data of [first, second]) {
        const got = await executor.run(data, { symbols: { B: 3 } });
        expectSame(got, await runGraphOnGpu(gpu, graph, { ...params, ...data }, { symbols: { B: 3 } }));
      }
      // A run passing nothing reuses the data of the last run.
      expectSame(
        await executor.run({}, { symbols: { B: 3 } }),
        await runGraphOnGpu(gpu, graph, { ...params, ...second }, { symbols: { B: 3 } }),
      );
      // Another batch size receives the resident parameters before its first run.
      expectSame(
        await executor.run(small, { symbols: { B: 2 } }),
        await runGraphOnGpu(gpu, graph, { ...params, ...small }, { symbols: { B: 2 } }),
      );
      // New parameter values reach a binding prepared earlier.
      const [moved] = split(graph, vitInputs(graph, SMALL, 3, 8));
      await executor.setInputs(moved, { symbols: { B: 2 } });
      expectSame(
        await executor.run(first, { symbols: { B: 3 } }),
        await runGraphOnGpu(gpu, graph, { ...moved, ...first }, { symbols: { B: 3 } }),
      );
    } finally {
      executor.dispose();
    }
  }, 300_000);

  it('allocates the plan slots once and creates no buffer on the hot path', async (ctx: TestContext) => {
    devicePromise ??= openTestDevice(ctx);
    const gpu = await devicePromise;
    const graph = gradientGraph(vitGraph(SMALL));
    const [params, data] = split(graph, vitInputs(graph, SMALL, 4, 9));
    const device = gpu.device;
    const original = device.createBuffer.bind(device);
    const created: GPUBufferDescriptor[] = [];
    device.createBuffer = (descriptor: GPUBufferDescriptor): GPUBuffer => {
      created.push(descriptor);
      return original(descriptor);
    };
    const executor = new GraphExecutor(gpu, graph);
    try {
      await executor.setInputs(params, { symbols: { B: 4 } });
      const first = await executor.run(data, { symbols: { B: 4 } });
      const memory = await executor.memory({ B: 4 });
      const storage = created.filter((d) => (d.usage & BufferUsage.STORAGE) !== 0);
      expect(storage.reduce((s, d) => s + d.size, 0)).toBe(memory.report.slotBytes);
      expect(created.filter((d) => (d.usage & BufferUsage.MAP_READ) !== 0).length).toBe(graph.outputs.length);
      const before = created.length;
      expect(before).toBeGreaterThan(0);
      for (let i = 0; i < 3; i++) expectSame(await executor.run(data, { symbols: { B: 4 } }), first);
      await executor.run({}, { symbols: { B: 4 }, outputs: ['loss'] });
      expect(created.length - before).toBe(0);
    } finally {
      device.createBuffer = original;
      executor.dispose();
    }
  }, 300_000);
});
