/**
 * Opening the WebGPU device in tests. With CI=true a missing adapter FAILS the test: every number must come from a
 * real adapter there. Outside CI a developer without a Vulkan driver gets the test skipped, with the reason and fix.
 */
import type { TestContext } from 'vitest';
import { VitmRuntimeError } from '../../runtime/errors.js';
import type { GpuDevice } from '../../runtime/webgpu/device.js';
import { openNodeDevice, type NodeOpenOptions } from '../../runtime/webgpu/node.js';

export const onCI = Boolean(process.env.CI) && process.env.CI !== 'false' && process.env.CI !== '0';

/** Skips the running test with `reason` outside CI; throws (fails it) on CI. */
export function requireOrSkip(ctx: TestContext, reason: string): never {
  if (onCI) throw new Error(`${reason} (CI=true: a missing prerequisite fails the run)`);
  ctx.skip(reason);
  throw new Error('unreachable: ctx.skip() returned');
}

/** Opens the Node (Dawn) device, or skips/fails as above when there is no adapter. Dispose it after the test. */
export async function openTestDevice(ctx: TestContext, options: NodeOpenOptions = {}): Promise<GpuDevice> {
  try {
    return await openNodeDevice(options);
  } catch (error) {
    if (error instanceof VitmRuntimeError && (error.code === 'VT6001' || error.code === 'VT6008')) {
      requireOrSkip(ctx, `no WebGPU adapter: ${error.message}; ${error.hint ?? ''}`);
    }
    throw error;
  }
}
