/**
 * Choosing a matmul tile by measurement. The right kernel differs by device far more than any model of it predicts:
 * on llvmpipe the barrier-free register family wins by several times, on a discrete GPU the workgroup-memory family
 * does, and the best tile within a family depends on SIMD width, cache and register file. So the first matmul of a
 * shape class on a device times every candidate that fits the device on a representative problem of that class, and
 * remembers the winner in a `TuningCache`, keyed by the adapter and the class. The cache serialises to JSON so a
 * front end can keep it across runs (the runtime itself touches no file system).
 */
import type { MatmulConfig, MatmulFamily } from '../../compiler/codegen/wgsl/matmul.js';
import type { GpuDevice } from './device.js';
import { BufferUsage } from './device.js';
import { checkShape, configFits, prepareMatmul, submitMatmul, type MatmulShape } from './matmul.js';
import { deviceWait } from './waits.js';

const reg = (wgY: number, wgX: number, tm: number, tn: number): MatmulConfig => ({
  family: 'register',
  wgX,
  wgY,
  tm,
  tn,
  bk: 4,
});
const regSg = (subgroup: number, wgX: number, tm: number, tn: number): MatmulConfig => ({
  family: 'register',
  wgX,
  wgY: 1,
  tm,
  tn,
  bk: 4,
  subgroup,
});
const swapped = (config: MatmulConfig): MatmulConfig => ({ ...config, swap: true });
const bc = (wgX: number, tm: number, tn: number): MatmulConfig => ({
  family: 'broadcast',
  wgX,
  wgY: 1,
  tm,
  tn,
  bk: 4,
});
const wg = (wgY: number, wgX: number, tm: number, tn: number, bk: number): MatmulConfig => ({
  family: 'workgroup',
  wgX,
  wgY,
  tm,
  tn,
  bk,
});

/**
 * Every configuration the tuner considers (those that do not fit a device are skipped there).
 *
 * What `npm run bench -- --sweep` measured on llvmpipe (Mesa 25.0, LLVM 15, 8 f32 lanes, 2 cores) shaped this list.
 * llvmpipe compiles a storage load into a loop over the SIMD lanes with a bounds check per lane and component unless
 * its address is built from constants alone (NIR's `nir_src_is_always_uniform`: a workgroup id or a loop counter in
 * the address already makes it per-lane), and that loop, not arithmetic, bounds every kernel here. Without subgroups
 * the register family reaches about 5-6 GFLOP per CPU-second, the broadcast family 3-4 and the workgroup family 1-2.7
 * (its staging loads and slab reads are lane-varying too, and each barrier splits the shader); register tiles beyond
 * 8x4 spill the accumulators around those per-lane loops and lose (16x4: 2.1, 32x4: 2.7). With subgroups the lanes
 * split a step's A loads among themselves and broadcast the values (`subgroupBroadcast` is a register shuffle
 * there), which leaves one vec4 of B per lane and step as the only per-lane load: 2-3 times faster, and taller tiles
 * (16x4, 24x4: more rows share each B load) then pay off; 6x4 fits attention's 17-row matrices (3 tiles, 18 rows).
 */
export const CANDIDATE_CONFIGS: readonly MatmulConfig[] = [
  // One row of lanes sharing its rows (llvmpipe's best without subgroups, see bench/sweep.ts).
  reg(1, 8, 8, 4),
  reg(1, 8, 6, 4),
  reg(1, 16, 4, 4),
  reg(1, 16, 4, 8),
  // The same with A loads shared through the subgroup (devices whose subgroups all have 8 lanes, such as llvmpipe).
  regSg(8, 8, 6, 4),
  regSg(8, 8, 8, 4),
  regSg(8, 8, 12, 4),
  regSg(8, 8, 16, 4),
  regSg(8, 8, 24, 4),
  regSg(8, 8, 8, 8),
  // The transposed product (`swap`), for results with fewer columns than rows: attention's [50 x 16] heads fill a
  // 32-column tile only half, their transposes fill it.
  swapped(reg(1, 8, 8, 4)),
  swapped(regSg(8, 8, 6, 4)),
  swapped(regSg(8, 8, 16, 4)),
  // Two-dimensional workgroups: the usual register-blocked GPU shapes.
  reg(8, 8, 4, 4),
  reg(8, 8, 4, 8),
  reg(16, 16, 4, 4),
  bc(8, 6, 2),
  bc(32, 8, 2),
  wg(8, 8, 4, 4, 16),
  wg(16, 16, 4, 4, 16),
  wg(16, 16, 8, 8, 8),
  wg(8, 16, 4, 4, 16),
];

/**
 * Shape classes: layout (transposes, vec4 alignment), the size of the output, which decides occupancy, and whether
 * the matrices are small (a batch of attention heads, 17 x 16, wants other tiles than one tall product), with fewer
 * columns than rows (`narrow`) or not (`tiny`).
 */
export function shapeClass(shape: MatmulShape): string {
  const layout = `${shape.transposeA ? 't' : 'n'}${shape.transposeB ? 't' : 'n'}`;
  const v4 = (n: number): string => (n % 4 === 0 ? 'v' : 's');
  const vec = `${v4(shape.transposeA ? shape.m : shape.k)}${v4(shape.transposeB ? shape.k : shape.n)}${v4(shape.n)}`;
  const outputs = shape.batch * shape.m * shape.n;
  const size = outputs < 16_384 ? 'small' : outputs < 262_144 ? 'medium' : 'large';
  // Few columns and more rows (where a transposed product can fill the tiles) apart from few rows.
  const tiny = Math.min(shape.m, shape.n) < 32 ? (shape.n < shape.m ? ':narrow' : ':tiny') : '';
  return `${layout}${vec}:${size}${tiny}`;
}

/** A short stable name of the adapter, the first half of every cache key. */
export function adapterKey(gpu: GpuDevice): string {
  const a = gpu.adapter;
  return [a.vendor, a.architecture, a.device, a.description].join('/');
}

export interface TuningEntry {
  readonly config: MatmulConfig;
  /** Measured GFLOP/s of every candidate, in the order tried (for reports). */
  readonly measured: readonly { readonly config: MatmulConfig; readonly gflops: number }[];
}

/**
 * A fingerprint of the candidate list (FNV-1a of its JSON), part of every cache key: a choice made among other
 * candidates, such as a cache written before a new kernel existed, is then measured again instead of reused.
 */
export const CANDIDATES_ID = ((): string => {
  let h = 0x811c9dc5;
  for (const ch of JSON.stringify(CANDIDATE_CONFIGS)) h = Math.imul(h ^ ch.charCodeAt(0), 0x01000193) >>> 0;
  return `c${h.toString(16).padStart(8, '0')}`;
})();

// A device that claims its tiles (`GpuDevice.claimTiles`) runs other kernels than one that does not: its own choices.
const cacheKey = (gpu: GpuDevice, shape: MatmulShape): string =>
  `${CANDIDATES_ID} ${adapterKey(gpu)}${gpu.claimTiles ? ' claimed' : ''} ${shapeClass(shape)}`;

/** The remembered choices, keyed by `CANDIDATES_ID + ' ' + adapterKey (+ ' claimed') + ' ' + shapeClass`. */
export class TuningCache {
  private readonly entries = new Map<string, TuningEntry>();

  get(gpu: GpuDevice, shape: MatmulShape): TuningEntry | undefined {
    return this.entries.get(cacheKey(gpu, shape));
  }

  set(gpu: GpuDevice, shape: MatmulShape, entry: TuningEntry): void {
    this.entries.set(cacheKey(gpu, shape), entry);
  }

  get size(): number {
    return this.entries.size;
  }

  toJSON(): Record<string, TuningEntry> {
    return Object.fromEntries(this.entries);
  }

  static fromJSON(data: unknown): TuningCache {
    const cache = new TuningCache();
    if (typeof data !== 'object' || data === null) return cache;
    for (const [key, value] of Object.entries(data as Record<string, unknown>)) {
      if (isEntry(value)) cache.entries.set(key, value);
    }
    return cache;
  }
}

const FAMILIES: readonly MatmulFamily[] = ['register', 'broadcast', 'workgroup'];

function isConfig(value: unknown): value is MatmulConfig {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  return (
    typeof v.family === 'string' &&
    FAMILIES.includes(v.family as MatmulFamily) &&
    ['wgX', 'wgY', 'tm', 'tn', 'bk'].every((key) => typeof v[key] === 'number') &&
    (v.subgroup === undefined || typeof v.subgroup === 'number')
  );
}

function isEntry(value: unknown): value is TuningEntry {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  return isConfig(v.config) && Array.isArray(v.measured);
}

/** The process-wide cache `selectMatmulConfig` uses unless given another. */
export const defaultTuningCache = new TuningCache();

const median = (xs: number[]): number => {
  const sorted = [...xs].sort((x, y) => x - y);
  return sorted[Math.floor(sorted.length / 2)] ?? NaN;
};

/**
 * Seconds one matmul of `shape` takes with `config`: a warm-up dispatch, then `trials` timed batches of dispatches
 * (each batch submitted in one command buffer and awaited with `onSubmittedWorkDone`, sized to run ~`batchMillis`),
 * the median per-dispatch time. Inputs are random, so no data-dependent shortcut can flatter a kernel.
 */
export async function measureConfig(
  gpu: GpuDevice,
  shape: MatmulShape,
  config: MatmulConfig,
  trials = 3,
  batchMillis = 60,
): Promise<number> {
  checkShape(shape);
  const random = (n: number): Float32Array => Float32Array.from({ length: n }, () => Math.random() * 2 - 1);
  const a = gpu.upload('tune:A', random(shape.batchA * shape.m * shape.k), BufferUsage.STORAGE);
  const b = gpu.upload('tune:B', random(shape.batchB * shape.k * shape.n), BufferUsage.STORAGE);
  const c = gpu.createBuffer('tune:C', shape.batch * shape.m * shape.n * 4, BufferUsage.STORAGE);
  const prepared = await prepareMatmul(gpu, shape, config);
  const bound = await gpu.scoped(prepared.label, () => prepared.bind({ a, b, c }));
  const queue = gpu.device.queue;
  try {
    let start = performance.now();
    await gpu.scoped(prepared.label, () => {
      submitMatmul(gpu, bound, 1);
    });
    await deviceWait(() => queue.onSubmittedWorkDone());
    const first = Math.max(performance.now() - start, 0.01);
    const iterations = Math.max(1, Math.min(200, Math.round(batchMillis / first)));
    const times: number[] = [];
    for (let t = 0; t < trials; t++) {
      start = performance.now();
      submitMatmul(gpu, bound, iterations);
      await deviceWait(() => queue.onSubmittedWorkDone());
      times.push((performance.now() - start) / 1000 / iterations);
    }
    gpu.assertHealthy();
    return median(times);
  } finally {
    bound.dispose();
    a.destroy();
    b.destroy();
    c.destroy();
  }
}

/** Multiply-adds of the problem the tuner times at most (a few milliseconds of work on a CPU). */
const REPRESENTATIVE_MACS = 1 << 24;

/**
 * The problem the tuner times for `shape`'s class: sides capped near 512 with their residue mod 4 kept, and as much
 * of the batch as fits `REPRESENTATIVE_MACS` (a batch of small matrices is timed as a batch, since one 17 x 16
 * matrix alone measures only the dispatch).
 */
export function representative(shape: MatmulShape): MatmulShape {
  const cap = (d: number): number => (d <= 516 ? d : 512 + (d % 4));
  const [m, n, k] = [cap(shape.m), cap(shape.n), cap(shape.k)];
  const batch = Math.max(1, Math.min(shape.batch, Math.floor(REPRESENTATIVE_MACS / (m * n * k))));
  const of = (b: number): number => (b === 1 ? 1 : batch);
  // Contiguous operands: a layout's strides belong to the full problem (the same kernel serves both).
  return {
    batch,
    batchA: of(shape.batchA),
    batchB: of(shape.batchB),
    m,
    n,
    k,
    transposeA: shape.transposeA,
    transposeB: shape.transposeB,
  };
}

export interface SelectOptions {
  readonly cache?: TuningCache;
  /** Candidates to time (default `CANDIDATE_CONFIGS`); those that do not fit the device are skipped. */
  readonly candidates?: readonly MatmulConfig[];
  /**
   * Timing rounds (default 3). Candidates are timed in interleaved rounds and each keeps its fastest round: a burst
   * of load from other processes then slows one round of every candidate instead of deciding the choice.
   */
  readonly rounds?: number;
}

/** The tuned configuration for `shape` on `gpu`: from the cache, or measured now and cached. */
export async function selectMatmulConfig(
  gpu: GpuDevice,
  shape: MatmulShape,
  options: SelectOptions = {},
): Promise<MatmulConfig> {
  const cache = options.cache ?? defaultTuningCache;
  const hit = cache.get(gpu, shape);
  if (hit) return hit.config;
  const problem = representative(shape);
  const flops = 2 * problem.m * problem.n * problem.k;
  const candidates = (options.candidates ?? CANDIDATE_CONFIGS).filter((config) => configFits(gpu, config));
  if (candidates.length === 0) throw new RangeError('matmul: no candidate tile fits this device');
  const fastest = candidates.map(() => Infinity);
  for (let round = 0; round < (options.rounds ?? 3); round++) {
    for (const [i, config] of candidates.entries()) {
      const seconds = await measureConfig(gpu, problem, config, 1, 40);
      fastest[i] = Math.min(fastest[i] ?? Infinity, seconds);
    }
  }
  const measured = candidates.map((config, i) => ({ config, gflops: flops / (fastest[i] ?? Infinity) / 1e9 }));
  const best = measured.reduce((acc, x) => (x.gflops > acc.gflops ? x : acc));
  cache.set(gpu, shape, { config: best.config, measured });
  return best.config;
}
