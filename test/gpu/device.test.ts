import { afterEach, describe, expect, it } from 'vitest';
import { VitmRuntimeError } from '../../runtime/errors.js';
import {
  BufferUsage,
  isLlvmpipe,
  KEY_LIMITS,
  OPTIONAL_FEATURES,
  type AdapterDescription,
  type GpuDevice,
} from '../../runtime/webgpu/device.js';
import { assertSelfTest, runSelfTest } from '../../runtime/webgpu/selftest.js';
import { openTestDevice } from '../support/gpu.js';

let open: GpuDevice[] = [];
afterEach(() => {
  for (const gpu of open) gpu.dispose();
  open = [];
});

async function device(ctx: Parameters<typeof openTestDevice>[0], options?: Parameters<typeof openTestDevice>[1]) {
  const gpu = await openTestDevice(ctx, options);
  open.push(gpu);
  return gpu;
}

describe('WebGPU device (Dawn in Node)', () => {
  it('runs the self-test kernel on the adapter and gets every value exactly', async (ctx) => {
    const gpu = await device(ctx);
    const result = await assertSelfTest(gpu);
    expect(result).toMatchObject({ ok: true, mismatches: 0, maxError: 0, elements: 65_573, workgroups: 1_025 });
  });

  it.for([1, 63, 64, 65, 4096, 10_007])(
    'self-test is exact for %i elements (bounds of the last workgroup)',
    async (n, ctx) => {
      const gpu = await device(ctx);
      const result = await runSelfTest(gpu, n);
      expect(result.ok).toBe(true);
      expect(result.workgroups).toBe(Math.ceil(n / 64));
    },
  );

  it("requests the adapter's real limits and every optional feature it has", async (ctx) => {
    const gpu = await device(ctx);
    for (const key of KEY_LIMITS) expect(gpu.limit(key)).toBeGreaterThan(0);
    // WebGPU's defaults are 8 storage buffers and 16 KiB of workgroup memory; every adapter we run on has at least that.
    expect(gpu.limit('maxStorageBuffersPerShaderStage')).toBeGreaterThanOrEqual(8);
    expect(gpu.limit('maxComputeWorkgroupStorageSize')).toBeGreaterThanOrEqual(16_384);
    for (const feature of gpu.features) expect(OPTIONAL_FEATURES).toContain(feature);
    expect([...gpu.features].sort()).toEqual(
      [...gpu.device.features].filter((f) => OPTIONAL_FEATURES.includes(f as never)).sort(),
    );
  });

  it('opens with default limits and without optional features when asked', async (ctx) => {
    const gpu = await device(ctx, { defaultLimits: true, disableFeatures: [...OPTIONAL_FEATURES] });
    expect(gpu.limit('maxStorageBuffersPerShaderStage')).toBe(8);
    expect(gpu.features.size).toBe(0);
    expect((await runSelfTest(gpu)).ok).toBe(true);
  });

  it('reports a WGSL error as VT6004 naming the kernel', async (ctx) => {
    const gpu = await device(ctx);
    const work = gpu.scoped({ kernel: 'broken_kernel', source: 'examples/x.vitm:3:5' }, (d) => {
      const module = d.createShaderModule({
        code: '@compute @workgroup_size(1) fn main() { let x: f32 = undefined_name; }',
      });
      d.createComputePipeline({ layout: 'auto', compute: { module } });
    });
    const error = await work.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(VitmRuntimeError);
    expect((error as VitmRuntimeError).code).toBe('VT6004');
    expect((error as VitmRuntimeError).message).toMatch(/kernel 'broken_kernel' \(from examples\/x\.vitm:3:5\)/);
    // The device stays usable after a captured validation error.
    expect((await runSelfTest(gpu, 100)).ok).toBe(true);
  });

  it('reports an uncaptured error (outside any scope) on the next health check', async (ctx) => {
    const gpu = await device(ctx);
    const buffer = gpu.createBuffer('small', 16, BufferUsage.STORAGE);
    // Writing past the end of a buffer is a validation error; no scope is open, so it goes to onuncapturederror.
    gpu.device.queue.writeBuffer(buffer, 64, new Float32Array(4));
    await gpu.device.queue.onSubmittedWorkDone();
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(() => {
      gpu.assertHealthy();
    }).toThrow(/VT6004|validation/);
  });

  it('reports loss of the device as VT6003 and refuses further use', async (ctx) => {
    const gpu = await device(ctx);
    const seen: VitmRuntimeError[] = [];
    gpu.onLost((e) => seen.push(e));
    gpu.device.destroy(); // lost from under the runtime, as a driver reset would
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(seen).toHaveLength(1);
    expect(seen[0]?.code).toBe('VT6003');
    expect(gpu.lost?.code).toBe('VT6003');
    expect(() => gpu.device).toThrow(VitmRuntimeError);
  });

  it('dispose is idempotent, does not count as a loss, and makes the device unusable', async (ctx) => {
    const gpu = await device(ctx);
    const seen: unknown[] = [];
    gpu.onLost((e) => seen.push(e));
    gpu.dispose();
    gpu.dispose();
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(seen).toHaveLength(0);
    expect(gpu.lost).toBeUndefined();
    expect(() => gpu.device).toThrow(/disposed/);
  });

  it('round-trips data through upload and read, including sizes that are not multiples of 4', async (ctx) => {
    const gpu = await device(ctx);
    const bytes = new Uint8Array([1, 2, 3, 4, 5, 6, 7]);
    const buffer = gpu.upload('bytes', bytes, BufferUsage.STORAGE | BufferUsage.COPY_SRC);
    expect([...new Uint8Array(await gpu.read(buffer, 7))]).toEqual([...bytes]);
  });
});

describe('matmul tile claiming by default', () => {
  const adapter = (device: string, description: string, isFallbackAdapter: boolean): AdapterDescription => ({
    vendor: '',
    architecture: '',
    device,
    description,
    isFallbackAdapter,
    subgroupMinSize: 0,
    subgroupMaxSize: 0,
  });

  it('recognises llvmpipe, and neither SwiftShader (also a fallback adapter) nor a GPU', () => {
    expect(isLlvmpipe(adapter('llvmpipe-llvm-15-0-6-256-bits-', 'llvmpipe: Mesa 25.0.7 (LLVM 15.0.6)', true))).toBe(
      true,
    );
    expect(isLlvmpipe(adapter('', 'llvmpipe (LLVM 19.1.7, 256 bits)', true))).toBe(true);
    expect(isLlvmpipe(adapter('', '', true))).toBe(false);
    expect(isLlvmpipe(adapter('NVIDIA H100 80GB HBM3', 'NVIDIA: 560.35.03', false))).toBe(false);
  });

  it('claims tiles on llvmpipe unless told otherwise', async (ctx) => {
    const gpu = await openTestDevice(ctx);
    const off = await openTestDevice(ctx, { claimTiles: false });
    try {
      expect(gpu.claimTiles).toBe(isLlvmpipe(gpu.adapter));
      expect(off.claimTiles).toBe(false);
    } finally {
      gpu.dispose();
      off.dispose();
    }
  });
});
