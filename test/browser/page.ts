/**
 * The browser test's page: opens `navigator.gpu` through the same runtime code the Node path uses and runs the same
 * self-test kernel, then matmuls with a plain register tile and, where the adapter's subgroups have one size, a tile
 * of one subgroup, as the device chooses (SwiftShader takes its tiles by workgroup id) and claiming its tiles from a
 * counter on a second device. The result lands on `window.vitmResult` for the test to read.
 */
import type { MatmulConfig } from '../../compiler/codegen/wgsl/matmul.js';
import { openBrowserDevice, runSelfTest, type GpuDevice } from '../../runtime/webgpu/browser.js';
import { matmulOnHost, matmulShape, prepareMatmul, subgroupSize } from '../../runtime/webgpu/matmul.js';

export interface BrowserResult {
  readonly ok: boolean;
  readonly error?: string;
  readonly backend?: string;
  readonly adapter?: { vendor: string; architecture: string; description: string };
  readonly maxStorageBuffersPerShaderStage?: number;
  readonly selfTest?: Awaited<ReturnType<typeof runSelfTest>>;
  readonly claimTiles?: boolean;
  readonly subgroupSize?: number;
  readonly matmuls?: readonly MatmulCheck[];
}

export interface MatmulCheck {
  readonly kernel: string;
  /** Outputs outside the error bound: |got - exact| <= K 2^-23 sum |a b| + 2^-23 |exact| (as test/gpu/matmul.test.ts). */
  readonly mismatches: number;
  readonly outputs: number;
}

/** Small integers over a power of two: exact in f32. */
function data(length: number, seed: number): Float32Array {
  const out = new Float32Array(length);
  let s = seed;
  for (let i = 0; i < length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = ((s >>> 8) % 2001) / 256 - 3.9;
  }
  return out;
}

/** Two products of m x k by k x n, checked against float64. */
async function checkMatmul(
  gpu: GpuDevice,
  config: MatmulConfig,
  [m, n, k, batch]: readonly [number, number, number, number],
): Promise<MatmulCheck> {
  const shape = matmulShape(m, n, k, { batch });
  const a = data(batch * m * k, 7);
  const b = data(batch * k * n, 11);
  const kernel = (await prepareMatmul(gpu, shape, config)).label.kernel;
  // Twice: the second run finds whatever the first left in the tile counter.
  await matmulOnHost(gpu, shape, a, b, { config });
  const got = await matmulOnHost(gpu, shape, a, b, { config });
  let mismatches = 0;
  for (let t = 0; t < batch; t++)
    for (let i = 0; i < m; i++)
      for (let j = 0; j < n; j++) {
        let sum = 0;
        let abs = 0;
        for (let q = 0; q < k; q++) {
          const p = (a[(t * m + i) * k + q] ?? NaN) * (b[(t * k + q) * n + j] ?? NaN);
          sum += p;
          abs += Math.abs(p);
        }
        const bound = k * 2 ** -23 * abs + 2 ** -23 * Math.abs(sum);
        if (!(Math.abs((got[(t * m + i) * n + j] ?? NaN) - sum) <= bound)) mismatches++;
      }
  return { kernel, mismatches, outputs: batch * m * n };
}

const target = globalThis as unknown as { vitmResult?: BrowserResult };

async function run(): Promise<BrowserResult> {
  const gpu = await openBrowserDevice();
  try {
    const selfTest = await runSelfTest(gpu);
    const size = subgroupSize(gpu);
    const plain: MatmulConfig = { family: 'register', wgX: 8, wgY: 1, tm: 8, tn: 4, bk: 4 };
    // Ragged tiles, a K tail and element-by-element loads; then rows of vec4s, in more tiles than workgroups.
    const ragged = [70, 67, 45, 2] as const;
    const aligned = [296, 256, 44, 1] as const;
    const matmuls = [await checkMatmul(gpu, plain, ragged)];
    if (size !== undefined) {
      const one: MatmulConfig = { family: 'register', wgX: size, wgY: 1, tm: 8, tn: 4, bk: 4, subgroup: size };
      matmuls.push(await checkMatmul(gpu, one, ragged));
      const claiming = await openBrowserDevice({ claimTiles: true });
      try {
        matmuls.push(await checkMatmul(claiming, one, aligned));
      } finally {
        claiming.dispose();
      }
    }
    return {
      ok: selfTest.ok && matmuls.every((x) => x.mismatches === 0),
      backend: gpu.backend,
      adapter: gpu.adapter,
      maxStorageBuffersPerShaderStage: gpu.limit('maxStorageBuffersPerShaderStage'),
      selfTest,
      claimTiles: gpu.claimTiles,
      ...(size === undefined ? {} : { subgroupSize: size }),
      matmuls,
    };
  } finally {
    gpu.dispose();
  }
}

run().then(
  (result) => (target.vitmResult = result),
  (error: unknown) =>
    (target.vitmResult = {
      ok: false,
      error: error instanceof Error ? `${error.name}: ${error.message}` : String(error),
    }),
);
