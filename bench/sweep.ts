/**
 * Tile sweep: GFLOP/s of every candidate matmul configuration at a few square sizes on the default adapter
 * (`npm run bench -- --sweep`). Configurations are measured in interleaved rounds and each keeps its best round, so
 * a burst of load from other processes penalises one round of every configuration rather than one configuration.
 */
import type { MatmulConfig } from '../compiler/codegen/wgsl/matmul.js';
import type { GpuDevice } from '../runtime/webgpu/device.js';
import { configFits, matmulShape } from '../runtime/webgpu/matmul.js';
import { measureConfig } from '../runtime/webgpu/tuning.js';

export function describeConfig(c: MatmulConfig): string {
  const base = `${c.family} wg${c.wgY}x${c.wgX} t${c.tm}x${c.tn}`;
  return c.family === 'workgroup' ? `${base} k${c.bk}` : base;
}

export interface SweepRow {
  readonly size: number;
  readonly config: MatmulConfig;
  readonly gflops: number;
}

export async function sweep(
  gpu: GpuDevice,
  configs: readonly MatmulConfig[],
  sizes: readonly number[],
  rounds: number,
): Promise<SweepRow[]> {
  const rows: SweepRow[] = [];
  for (const size of sizes) {
    const fitting = configs.filter((c) => configFits(gpu, c));
    const best = new Map<MatmulConfig, number>();
    for (let r = 0; r < rounds; r++) {
      for (const config of fitting) {
        const seconds = await measureConfig(gpu, matmulShape(size, size, size), config, 1, 100);
        best.set(config, Math.min(best.get(config) ?? Infinity, seconds));
      }
    }
    for (const config of fitting) {
      const gflops = (2 * size ** 3) / (best.get(config) ?? Infinity) / 1e9;
      rows.push({ size, config, gflops });
      console.log(
        `${String(size).padStart(5)}  ${describeConfig(config).padEnd(34)} ${gflops.toFixed(2).padStart(8)} GFLOP/s`,
      );
    }
  }
  return rows;
}
