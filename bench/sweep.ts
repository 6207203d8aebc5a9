/**
 * Tile sweep: GFLOP/s of every candidate matmul configuration at a few sizes on the default adapter.
 * `npm run bench -- --sweep` runs it; the tuner (runtime/webgpu/tuning.ts) makes the same measurement per shape class.
 */
import type { MatmulConfig } from '../compiler/codegen/wgsl/matmul.js';
import type { GpuDevice } from '../runtime/webgpu/device.js';
import { configFits, matmulShape } from '../runtime/webgpu/matmul.js';
import { CANDIDATE_CONFIGS, measureConfig } from '../runtime/webgpu/tuning.js';

export function describeConfig(c: MatmulConfig): string {
  const base = `${c.family} wg${c.wgY}x${c.wgX} t${c.tm}x${c.tn}`;
  return c.family === 'workgroup' ? `${base} k${c.bk}` : base;
}

export async function sweep(gpu: GpuDevice, sizes: readonly number[], reps: number): Promise<void> {
  for (const size of sizes) {
    for (const config of CANDIDATE_CONFIGS.filter((c) => c.family === (process.env.FAM ?? c.family))) {
      if (!configFits(gpu, config)) continue;
      const shape = matmulShape(size, size, size);
      const seconds = await measureConfig(gpu, shape, config, reps);
      const gflops = (2 * size ** 3) / seconds / 1e9;
      console.log(`${String(size).padStart(5)}  ${describeConfig(config).padEnd(34)} ${gflops.toFixed(2).padStart(8)} GFLOP/s`);
    }
  }
}
