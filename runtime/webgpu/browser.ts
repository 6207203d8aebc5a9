/** WebGPU in a browser: `navigator.gpu`. No Node API is used here, so this bundles for the web as it is. */
import { noAdapterError } from '../errors.js';
import { GpuDevice, type OpenOptions } from './device.js';

export async function openBrowserDevice(options: OpenOptions = {}): Promise<GpuDevice> {
  const gpu = (globalThis as { navigator?: { gpu?: GPU } }).navigator?.gpu;
  if (!gpu) throw noAdapterError('browser');
  return GpuDevice.open(gpu, 'browser', options);
}

export { GpuDevice } from './device.js';
export { runSelfTest, type SelfTestResult } from './selftest.js';
