/**
 * Tile sweep: the speed of every candidate matmul configuration at a few square sizes on the default adapter
 * (`npm run bench -- --sweep`). Configurations are measured in interleaved rounds and each keeps its best round, so
 * a burst of load from other processes penalises one round of every configuration rather than one configuration.
 *
 * Two figures per configuration: GFLOP/s of wall time, and GFLOP per CPU-second of this process (`process.cpuUsage`
 * counts every thread, and a software adapter such as lavapipe runs its workgroups on this process's threads). On a
 * shared machine the second is the steadier guide to which kernel is better, since it does not count time the
 * scheduler gave to other processes; on a real GPU it measures only the host side and means nothing.
 */
import type { MatmulConfig } from '../compiler/codegen/wgsl/matmul.js';
import { BufferUsage, type GpuDevice } from '../runtime/webgpu/device.js';
import { configFits, matmulShape, prepareMatmul, submitMatmul } from '../runtime/webgpu/matmul.js';
import { deviceWait } from '../runtime/webgpu/waits.js';

export function describeConfig(c: MatmulConfig): string {
  const base = `${c.family} wg${c.wgY}x${c.wgX} t${c.tm}x${c.tn}`;
  return c.family === 'workgroup' ? `${base} k${c.bk}` : base;
}

export interface SweepRow {
  readonly size: number;
  readonly config: MatmulConfig;
  /** GFLOP per wall-clock second (best round). */
  readonly gflops: number;
  /** GFLOP per CPU-second of this process (best round). */
  readonly gflopsPerCpu: number;
}

interface Sample {
  readonly wall: number;
  readonly cpu: number;
}

async function timeConfig(gpu: GpuDevice, size: number, config: MatmulConfig, targetSeconds: number): Promise<Sample> {
  const shape = matmulShape(size, size, size);
  const random = (n: number): Float32Array => Float32Array.from({ length: n }, () => Math.random() * 2 - 1);
  const a = gpu.upload('sweep:A', random(size * size), BufferUsage.STORAGE);
  const b = gpu.upload('sweep:B', random(size * size), BufferUsage.STORAGE);
  const c = gpu.createBuffer('sweep:C', size * size * 4, BufferUsage.STORAGE);
  const prepared = await prepareMatmul(gpu, shape, config);
  const bound = prepared.bind({ a, b, c });
  const queue = gpu.device.queue;
  try {
    let start = performance.now();
    submitMatmul(gpu, bound, 1);
    await deviceWait(() => queue.onSubmittedWorkDone());
    const n = Math.max(1, Math.min(100, Math.round(targetSeconds / ((performance.now() - start) / 1000))));
    const cpu0 = process.cpuUsage();
    start = performance.now();
    submitMatmul(gpu, bound, n);
    await deviceWait(() => queue.onSubmittedWorkDone());
    const wall = (performance.now() - start) / 1000 / n;
    const cpu = process.cpuUsage(cpu0);
    gpu.assertHealthy();
    return { wall, cpu: (cpu.user + cpu.system) / 1e6 / n };
  } finally {
    bound.dispose();
    a.destroy();
    b.destroy();
    c.destroy();
  }
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
    const best = new Map<MatmulConfig, Sample>();
    for (let r = 0; r < rounds; r++) {
      for (const config of fitting) {
        const s = await timeConfig(gpu, size, config, 0.15);
        const old = best.get(config);
        best.set(config, { wall: Math.min(old?.wall ?? Infinity, s.wall), cpu: Math.min(old?.cpu ?? Infinity, s.cpu) });
      }
    }
    const flop = (2 * size ** 3) / 1e9;
    for (const config of fitting) {
      const s = best.get(config) ?? { wall: Infinity, cpu: Infinity };
      const row = { size, config, gflops: flop / s.wall, gflopsPerCpu: flop / s.cpu };
      rows.push(row);
      console.log(
        `${String(size).padStart(5)}  ${describeConfig(config).padEnd(30)} ${row.gflops.toFixed(2).padStart(7)} GFLOP/s  ${row.gflopsPerCpu.toFixed(2).padStart(7)} GFLOP/cpu-s`,
      );
    }
  }
  return rows;
}
