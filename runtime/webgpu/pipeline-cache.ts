/**
 * Compute pipelines are created once per device and reused: compiling WGSL is slow (hundreds of milliseconds on
 * llvmpipe), so every kernel goes through `getPipeline`, which compiles asynchronously with
 * `createComputePipelineAsync` and keys the result by WGSL text and entry point. Concurrent requests for the same
 * kernel share one compilation. A failed compilation is not cached, so the error surfaces on every request.
 */
import { gpuError, type WorkLabel } from '../errors.js';
import type { GpuDevice } from './device.js';
import { deviceWait } from './waits.js';

interface Entry {
  readonly pipeline: Promise<GPUComputePipeline>;
}

const caches = new WeakMap<GPUDevice, Map<string, Entry>>();

function cacheFor(device: GPUDevice): Map<string, Entry> {
  let cache = caches.get(device);
  if (!cache) {
    cache = new Map();
    caches.set(device, cache);
  }
  return cache;
}

/** The cache key: the entry point and the full WGSL text (a hash would only add a collision risk). */
function keyOf(wgsl: string, entryPoint: string): string {
  return `${entryPoint}\u0000${wgsl}`;
}

/**
 * The pipeline for `wgsl`'s `entryPoint` on `gpu`, compiled on first request (with an auto layout). Compilation
 * errors become coded `VitmRuntimeError`s naming `label`'s kernel.
 */
export function getPipeline(
  gpu: GpuDevice,
  label: WorkLabel,
  wgsl: string,
  entryPoint = 'main',
): Promise<GPUComputePipeline> {
  const device = gpu.device;
  const cache = cacheFor(device);
  const key = keyOf(wgsl, entryPoint);
  const hit = cache.get(key);
  if (hit) return hit.pipeline;
  const pipeline = (async () => {
    device.pushErrorScope('validation');
    const module = device.createShaderModule({ label: label.kernel, code: wgsl });
    let result: GPUComputePipeline | undefined;
    let failure: unknown;
    try {
      result = await deviceWait(() =>
        device.createComputePipelineAsync({ label: label.kernel, layout: 'auto', compute: { module, entryPoint } }),
      );
    } catch (cause) {
      failure = cause;
    }
    const scoped = await deviceWait(() => device.popErrorScope());
    if (scoped) throw gpuError('validation', scoped.message, label);
    if (!result) {
      const message = failure instanceof Error ? failure.message : String(failure);
      throw gpuError('validation', message, label);
    }
    return result;
  })();
  cache.set(key, { pipeline });
  pipeline.catch(() => cache.delete(key));
  return pipeline;
}

/** How many pipelines (compiled or compiling) the cache holds for `gpu`. */
export function cachedPipelineCount(gpu: GpuDevice): number {
  return caches.get(gpu.device)?.size ?? 0;
}
