/**
 * WebGPU in Node through Dawn (the npm package `webgpu`). Dawn needs a Vulkan driver: a GPU's own, or Mesa's
 * lavapipe where there is no GPU (scripts/setup.sh installs it).
 */
import { mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { VitmRuntimeError } from '../errors.js';
import { GpuDevice, type OpenOptions } from './device.js';
import { throttleDawnPolling } from './node-poll.js';

export interface NodeOpenOptions extends OpenOptions {
  /**
   * Extra Dawn flags, e.g. `backend=null` (a device that computes nothing; for compile-path tests only). The
   * environment variable `VITM_DAWN_FLAGS` (space-separated) adds flags to every device vitm opens in Node.
   */
  readonly dawnFlags?: readonly string[];
}

interface WebgpuModule {
  create(flags: string[]): GPU;
}

/** Mesa warns on every start without a runtime directory; give it a private one. */
function ensureRuntimeDir(): void {
  if (process.env.XDG_RUNTIME_DIR) return;
  const dir = join(tmpdir(), `vitm-xdg-${process.getuid?.() ?? 'user'}`);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  process.env.XDG_RUNTIME_DIR = dir;
}

async function loadDawn(): Promise<WebgpuModule> {
  try {
    const dawn: WebgpuModule = await import('webgpu');
    return dawn;
  } catch (cause) {
    throw new VitmRuntimeError(
      'VT6008',
      `could not load Dawn (the npm package 'webgpu'): ${cause instanceof Error ? cause.message : String(cause)}`,
      'run `npm install` (or `npm run setup`) in the project; Dawn ships prebuilt for linux-x64, macOS and Windows',
      { cause },
    );
  }
}

/**
 * Opens the best WebGPU device Dawn finds. Call `dispose()` on it when done: Dawn keeps the process alive. The first
 * call also spaces out Dawn's polling while vitm waits on the device (`./node-poll.ts`).
 */
export async function openNodeDevice(options: NodeOpenOptions = {}): Promise<GpuDevice> {
  ensureRuntimeDir();
  throttleDawnPolling();
  const dawn = await loadDawn();
  const fromEnv = process.env.VITM_DAWN_FLAGS?.split(/\s+/).filter((f) => f !== '') ?? [];
  let instance: GPU | undefined = dawn.create([...fromEnv, ...(options.dawnFlags ?? [])]);
  // The release closure keeps the instance referenced while the device lives; `dispose()` calls it to let go.
  return GpuDevice.open(instance, 'dawn', options, () => {
    instance = undefined;
  });
}
