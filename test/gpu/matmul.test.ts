import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import type { TestContext } from 'vitest';
import {
  canClaimTiles,
  CLAIM_WORKGROUPS,
  generateMatmulWgsl,
  type MatmulConfig,
  type MatmulEpilogue,
} from '../../compiler/codegen/wgsl/matmul.js';
import { BufferUsage, type GpuDevice } from '../../runtime/webgpu/device.js';
import {
  configFits,
  fitTileRows,
  kernelShape,
  kernelSpecFor,
  matmulOnHost,
  matmulShape,
  prepareMatmul,
  runMatmul,
  splitGrid,
  subgroupSize,
  type MatmulShape,
} from '../../runtime/webgpu/matmul.js';
import { cachedPipelineCount } from '../../runtime/webgpu/pipeline-cache.js';
import {
  CANDIDATE_CONFIGS,
  CANDIDATES_ID,
  selectMatmulConfig,
  shapeClass,
  TuningCache,
} from '../../runtime/webgpu/tuning.js';
import { openTestDevice, requireOrSkip } from '../support/gpu.js';

/**
 * The float64 product of the (exactly representable) f32 inputs, and the bound each output's error must respect.
 *
 * Tolerance: any order of K floating-point multiply-adds in f32 (unit roundoff u = 2^-24), fused or not, satisfies
 * |fl(c) - c| <= gamma_K * sum_k |a_ik b_kj| with gamma_K = K u / (1 - K u) (Higham, Accuracy and Stability of
 * Numerical Algorithms, 3.1). We allow K * 2^-23 (= 2 K u, above gamma_K for any K here) times that sum, plus one
 * rounding of the result itself (the epilogue adds one more operation, which the same factor of 2 covers). The
 * float64 reference is exact to 2^-53 relative per step, far below this. A kernel that skips, repeats or misplaces a
 * single term is off by |a_ik b_kj|, far above the bound for these inputs.
 */
function reference(shape: MatmulShape, a: Float32Array, b: Float32Array): { value: Float64Array; bound: Float64Array } {
  const { batch, m, n, k } = shape;
  const value = new Float64Array(batch * m * n);
  const bound = new Float64Array(batch * m * n);
  const unit = 2 ** -23;
  for (let t = 0; t < batch; t++) {
    const offA = shape.batchA === 1 ? 0 : t * m * k;
    const offB = shape.batchB === 1 ? 0 : t * k * n;
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let sum = 0;
        let abs = 0;
        for (let q = 0; q < k; q++) {
          const av = a[offA + (shape.transposeA ? q * m + i : i * k + q)] ?? NaN;
          const bv = b[offB + (shape.transposeB ? j * k + q : q * n + j)] ?? NaN;
          sum += av * bv;
          abs += Math.abs(av * bv);
        }
        value[(t * m + i) * n + j] = sum;
        bound[(t * m + i) * n + j] = k * unit * abs + unit * Math.abs(sum);
      }
    }
  }
  return { value, bound };
}

/** Inputs with varied magnitudes and signs (small integers over powers of two, so they are exact in f32). */
function data(length: number, seed: number): Float32Array {
  const out = new Float32Array(length);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = ((s >>> 8) % 2001) / 256 - 3.9;
  }
  return out;
}

interface Mismatch {
  readonly index: number;
  readonly got: number;
  readonly expected: number;
  readonly bound: number;
}

function firstMismatch(
  got: Float32Array,
  expected: { value: Float64Array; bound: Float64Array },
): Mismatch | undefined {
  for (let i = 0; i < expected.value.length; i++) {
    const g = got[i] ?? NaN;
    const e = expected.value[i] ?? NaN;
    const bound = expected.bound[i] ?? 0;
    if (!(Math.abs(g - e) <= bound)) return { index: i, got: g, expected: e, bound };
  }
  if (got.length !== expected.value.length) return { index: got.length, got: NaN, expected: NaN, bound: 0 };
  return undefined;
}

async function check(gpu: GpuDevice, shape: MatmulShape, config: MatmulConfig, seed: number): Promise<void> {
  const a = data(shape.batchA * shape.m * shape.k, seed);
  const b = data(shape.batchB * shape.k * shape.n, seed * 7 + 3);
  const got = await matmulOnHost(gpu, shape, a, b, { config });
  expect(firstMismatch(got, reference(shape, a, b)), JSON.stringify({ shape, config })).toBeUndefined();
}

let shared: GpuDevice | undefined;
async function device(ctx: TestContext): Promise<GpuDevice> {
  shared ??= await openTestDevice(ctx);
  return shared;
}
afterAll(() => {
  shared?.dispose();
  shared = undefined;
});

const PRIMES = [1, 2, 3, 5, 7, 11, 13, 17, 31, 37] as const;
const side = fc.oneof(fc.integer({ min: 1, max: 40 }), fc.constantFrom(...PRIMES), fc.constantFrom(4, 8, 16, 32, 64));

/** Shapes for one layout: sides including 1, primes and multiples of 4 (so both vec4 and scalar bindings occur). */
const shapes = (transposeA: boolean, transposeB: boolean): fc.Arbitrary<MatmulShape> =>
  fc
    .record({
      m: side,
      n: side,
      k: side,
      batch: fc.integer({ min: 1, max: 3 }),
      broadcast: fc.constantFrom('none', 'a', 'b'),
    })
    .map(({ m, n, k, batch, broadcast }) =>
      matmulShape(m, n, k, {
        batch,
        batchA: broadcast === 'a' ? 1 : batch,
        batchB: broadcast === 'b' ? 1 : batch,
        transposeA,
        transposeB,
      }),
    );

const LAYOUTS = [
  [false, false],
  [true, false],
  [false, true],
  [true, true],
] as const;

const describeConfig = (c: MatmulConfig): string =>
  `${c.family} ${c.wgY}x${c.wgX} tile ${c.tm}x${c.tn}` +
  (c.family === 'workgroup' ? ` k${c.bk}` : '') +
  (c.subgroup === undefined ? '' : ` subgroup ${c.subgroup}`) +
  (c.swap ? ' swapped' : '');

/** One tile of each family and variant: (family, subgroup-shared A loads, swapped product). */
const FAMILIES = [
  ['register', false, false],
  ['register', true, false],
  ['register', false, true],
  ['register', true, true],
  ['broadcast', false, false],
  ['workgroup', false, false],
] as const;

/** The first candidate tile of every family and variant in `FAMILIES` that fits the device. */
function oneTileOfEachFamily(gpu: GpuDevice): MatmulConfig[] {
  return FAMILIES.flatMap(([family, subgroup, swap]) => {
    const found = CANDIDATE_CONFIGS.find(
      (c) =>
        c.family === family &&
        (c.subgroup !== undefined) === subgroup &&
        (c.swap === true) === swap &&
        configFits(gpu, c),
    );
    return found ? [found] : [];
  });
}

describe('matmul kernels against a float64 product', () => {
  it.for(CANDIDATE_CONFIGS.map((config) => [describeConfig(config), config] as const))(
    '%s: random shapes in every layout',
    // Each layout and alignment is its own pipeline: llvmpipe takes seconds per compile on a loaded 2-core machine.
    { timeout: 240_000 },
    async ([, config], ctx) => {
      const gpu = await device(ctx);
      if (!configFits(gpu, config)) ctx.skip(`tile does not fit this device`);
      for (const [transposeA, transposeB] of LAYOUTS) {
        await fc.assert(
          fc.asyncProperty(shapes(transposeA, transposeB), fc.integer({ min: 1, max: 1 << 30 }), (shape, seed) =>
            check(gpu, shape, config, seed),
          ),
          { numRuns: 2 },
        );
      }
    },
  );

  it('covers an output larger than one workgroup tile in both directions, with a ragged K tail', async (ctx) => {
    const gpu = await device(ctx);
    for (const config of CANDIDATE_CONFIGS.filter((c) => configFits(gpu, c))) {
      await check(gpu, matmulShape(70, 67, 45, { batch: 2, batchA: 1 }), config, 11);
    }
  }, 240_000);

  it('splits a grid of more than 65,535 workgroups over a second dimension', async (ctx) => {
    const gpu = await device(ctx);
    const config: MatmulConfig = { family: 'register', wgX: 1, wgY: 1, tm: 1, tn: 4, bk: 4 };
    const shape = matmulShape(2, 4, 3, { batch: 40_000, batchB: 1 });
    const prepared = await prepareMatmul(gpu, shape, config);
    const c = gpu.createBuffer('test:C', 40_000 * 8 * 4, BufferUsage.STORAGE);
    const bound = prepared.bind({ a: c, b: c, c });
    expect(bound.grid[0] * bound.grid[1] * bound.grid[2]).toBeGreaterThanOrEqual(80_000);
    expect(bound.grid[1]).toBeGreaterThan(1);
    bound.dispose();
    c.destroy();
    await check(gpu, shape, config, 5);
  });

  it('applies a fused epilogue reading an extra input (bias add and ReLU), in place or as a column argument', async (ctx) => {
    const gpu = await device(ctx);
    const inPlace: MatmulEpilogue = {
      wgsl: 'fn epilogue(value: f32, batch: u32, row: u32, col: u32) -> f32 { return max(value + bias[col], 0.0); }',
      inputs: ['bias'],
    };
    // The kernel loads a column input once per column it owns and passes the value in.
    const asColumn: MatmulEpilogue = {
      wgsl: 'fn epilogue(value: f32, batch: u32, row: u32, col: u32, b: f32) -> f32 { return max(value + b, 0.0); }',
      inputs: ['bias'],
      columns: ['bias'],
    };
    const shape = matmulShape(13, 10, 9, { batch: 2, transposeB: true });
    const a = data(2 * 13 * 9, 1);
    const b = data(2 * 9 * 10, 2);
    const bias = data(10, 3);
    const expected = reference(shape, a, b);
    for (let i = 0; i < expected.value.length; i++) {
      const v = (expected.value[i] ?? 0) + (bias[i % 10] ?? 0);
      expected.value[i] = Math.max(v, 0);
      expected.bound[i] = (expected.bound[i] ?? 0) + 2 ** -23 * Math.abs(v);
    }
    // The swapped tiles compute C^T and must hand the epilogue C's own (row, col): the bias goes by column of C.
    for (const [family, subgroup, swap] of FAMILIES) {
      const config = CANDIDATE_CONFIGS.find(
        (c) =>
          c.family === family &&
          (c.subgroup !== undefined) === subgroup &&
          (c.swap === true) === swap &&
          configFits(gpu, c),
      );
      if (!config) continue;
      for (const epilogue of [inPlace, asColumn]) {
        const got = await matmulOnHost(gpu, shape, a, b, { config, epilogue, epilogueInputs: [bias] });
        const label = `${family}${subgroup ? ' subgroup' : ''}${swap ? ' swap' : ''}${epilogue.columns ? ' column' : ''}`;
        expect(firstMismatch(got, expected), label).toBe(undefined);
        expect(got.some((v) => v === 0)).toBe(true);
      }
    }
  }, 120_000);

  it('passes element inputs laid out as the product (a residual) to the epilogue, in every family', async (ctx) => {
    const gpu = await device(ctx);
    const epilogue: MatmulEpilogue = {
      wgsl: 'fn epilogue(value: f32, batch: u32, row: u32, col: u32, b: f32, r: f32) -> f32 { return max(value + b - r, 0.0); }',
      inputs: ['bias', 'res'],
      columns: ['bias'],
      elements: ['res'],
    };
    // 12 columns (vec4 rows of the residual, stored as vec4s) against tiles of up to 32: ragged rows, columns and
    // depth.
    const shape = matmulShape(13, 12, 9, { batch: 2, transposeB: true });
    const a = data(2 * 13 * 9, 4);
    const b = data(2 * 9 * 12, 5);
    const bias = data(12, 6);
    const res = data(2 * 13 * 12, 7);
    const expected = reference(shape, a, b);
    for (let i = 0; i < expected.value.length; i++) {
      const v = (expected.value[i] ?? 0) + (bias[i % 12] ?? 0) - (res[i] ?? 0);
      expected.value[i] = Math.max(v, 0);
      expected.bound[i] = (expected.bound[i] ?? 0) + 2 ** -22 * (Math.abs(v) + Math.abs(res[i] ?? 0));
    }
    let families = 0;
    for (const [family, subgroup, swap] of FAMILIES) {
      const config = CANDIDATE_CONFIGS.find(
        (c) =>
          c.family === family &&
          (c.subgroup !== undefined) === subgroup &&
          (c.swap === true) === swap &&
          configFits(gpu, c),
      );
      if (!config) continue;
      // The register and workgroup families store a lane's four columns as one vec4 unless they store the transpose.
      expect(kernelSpecFor(shape, config, epilogue).vecC).toBe(family !== 'broadcast' && !swap);
      const got = await matmulOnHost(gpu, shape, a, b, { config, epilogue, epilogueInputs: [bias, res] });
      expect(firstMismatch(got, expected), `${family}${subgroup ? ' subgroup' : ''}${swap ? ' swap' : ''}`).toBe(
        undefined,
      );
      families++;
    }
    expect(families).toBeGreaterThan(3);
  }, 120_000);

  it('reads operands and writes the result in place through strides, in every layout and family', async (ctx) => {
    const gpu = await device(ctx);
    // Views with padding between rows and batches, a base offset and the batch split (outer, inner) both ways round:
    // what a head of a fused projection looks like. The reference reads the same strides.
    const arbCase = fc.record({
      m: fc.integer({ min: 1, max: 30 }),
      n: fc.integer({ min: 1, max: 30 }),
      k: fc.integer({ min: 1, max: 20 }),
      outer: fc.integer({ min: 1, max: 3 }),
      inner: fc.integer({ min: 1, max: 3 }),
      transposeA: fc.boolean(),
      transposeB: fc.boolean(),
      pads: fc.array(fc.nat({ max: 5 }), { minLength: 9, maxLength: 9 }),
      swapBatch: fc.array(fc.boolean(), { minLength: 3, maxLength: 3 }),
      aligned: fc.boolean(),
      config: fc.constantFrom(...CANDIDATE_CONFIGS.filter((c) => configFits(gpu, c))),
    });
    await fc.assert(
      fc.asyncProperty(arbCase, async (t) => {
        const batch = t.outer * t.inner;
        const round = (x: number): number => (t.aligned ? Math.ceil(x / 4) * 4 : x);
        // A stored matrix of rows x cols: rows at `row`, the inner batches after (or before) the outer ones.
        const layoutOf = (rows: number, cols: number, pads: number[], swap: boolean) => {
          const row = round(cols + (pads[0] ?? 0));
          const block = round(rows * row + (pads[1] ?? 0));
          const base = round(pads[2] ?? 0);
          return swap
            ? { base, inner: block, outer: round(block * t.inner + 3), row }
            : { base, outer: round(block * t.inner + (pads[1] ?? 0)), inner: block, row };
        };
        const [ar, ac] = t.transposeA ? [t.k, t.m] : [t.m, t.k];
        const [br, bc] = t.transposeB ? [t.n, t.k] : [t.k, t.n];
        const la = layoutOf(ar, ac, t.pads.slice(0, 3), t.swapBatch[0] ?? false);
        const lb = layoutOf(br, bc, t.pads.slice(3, 6), t.swapBatch[1] ?? false);
        const lc = layoutOf(t.m, t.n, t.pads.slice(6, 9), t.swapBatch[2] ?? false);
        const shape = {
          ...matmulShape(t.m, t.n, t.k, { batch, transposeA: t.transposeA, transposeB: t.transposeB }),
          layout: { inner: t.inner, a: la, b: lb, c: lc },
        };
        const at = (l: typeof la, bt: number, r: number, c: number): number =>
          l.base + Math.floor(bt / t.inner) * l.outer + (bt % t.inner) * l.inner + r * l.row + c;
        const extent = (l: typeof la, rows: number, cols: number): number => at(l, batch - 1, rows - 1, cols);
        const a = data(extent(la, ar, ac), t.m * 31 + t.k);
        const b = data(extent(lb, br, bc), t.n * 17 + t.k);
        const got = await matmulOnHost(gpu, shape, a, b, { config: t.config });
        expect(got.length).toBe(extent(lc, t.m, t.n));
        const written = new Set<number>();
        for (let bt = 0; bt < batch; bt++)
          for (let i = 0; i < t.m; i++)
            for (let j = 0; j < t.n; j++) {
              let sum = 0;
              let abs = 0;
              for (let q = 0; q < t.k; q++) {
                const av = a[t.transposeA ? at(la, bt, q, i) : at(la, bt, i, q)] ?? NaN;
                const bv = b[t.transposeB ? at(lb, bt, j, q) : at(lb, bt, q, j)] ?? NaN;
                sum += av * bv;
                abs += Math.abs(av * bv);
              }
              const index = at(lc, bt, i, j);
              written.add(index);
              const bound = t.k * 2 ** -23 * abs + 2 ** -23 * Math.abs(sum);
              expect(Math.abs((got[index] ?? NaN) - sum), `C[${bt}, ${i}, ${j}]`).toBeLessThanOrEqual(bound);
            }
        // Nothing outside the view is written.
        got.forEach((v, i) => {
          if (!written.has(i)) expect(v, `C element ${i} outside the view`).toBe(0);
        });
      }),
      { numRuns: 40 },
    );
  }, 300_000);

  it('stores a second result computed from each stored value, in every family', async (ctx) => {
    const gpu = await device(ctx);
    const epilogue: MatmulEpilogue = {
      wgsl: 'fn epilogue(value: f32, batch: u32, row: u32, col: u32, b: f32) -> f32 { return value + b; }',
      inputs: ['bias'],
      columns: ['bias'],
      second: { wgsl: 'fn epilogue2(value: f32) -> f32 { return max(value, 0.0) * 2.0; }' },
    };
    let checked = 0;
    for (const n of [12, 10]) {
      const shape = matmulShape(13, n, 9, { batch: 2 });
      const a = data(2 * 13 * 9, 21);
      const b = data(2 * 9 * n, 22);
      const bias = data(n, 23);
      const expected = reference(shape, a, b);
      for (let i = 0; i < expected.value.length; i++) {
        expected.value[i] = (expected.value[i] ?? 0) + (bias[i % n] ?? 0);
        expected.bound[i] = (expected.bound[i] ?? 0) + 2 ** -23 * Math.abs(expected.value[i] ?? 0);
      }
      const owned: GPUBuffer[] = [];
      const upload = (x: Float32Array): GPUBuffer => {
        const buffer = gpu.upload('test', x, BufferUsage.STORAGE);
        owned.push(buffer);
        return buffer;
      };
      try {
        const configs = oneTileOfEachFamily(gpu);
        for (const config of configs) {
          const c = gpu.createBuffer('C', 2 * 13 * n * 4, BufferUsage.STORAGE | BufferUsage.COPY_SRC);
          const c2 = gpu.createBuffer('C2', 2 * 13 * n * 4, BufferUsage.STORAGE | BufferUsage.COPY_SRC);
          owned.push(c, c2);
          const buffers = { a: upload(a), b: upload(b), c, c2, epilogueInputs: [upload(bias)] };
          await runMatmul(gpu, shape, buffers, { config, epilogue });
          const first = await gpu.readFloat32(c, 2 * 13 * n);
          const second = await gpu.readFloat32(c2, 2 * 13 * n);
          expect(firstMismatch(first, expected), JSON.stringify(config)).toBe(undefined);
          const want2 = {
            value: expected.value.map((v) => Math.max(v, 0) * 2),
            bound: expected.bound.map((x) => 2 * x),
          };
          expect(firstMismatch(second, want2), `second ${JSON.stringify(config)}`).toBe(undefined);
          checked++;
        }
      } finally {
        for (const buffer of owned) buffer.destroy();
      }
    }
    expect(checked).toBeGreaterThan(6);
    // Without the buffer for it, binding fails with a clear error.
    const prepared = await prepareMatmul(gpu, matmulShape(4, 4, 4), CANDIDATE_CONFIGS[0] as MatmulConfig, epilogue);
    const x = gpu.upload('x', new Float32Array(16), BufferUsage.STORAGE);
    try {
      expect(() => prepared.bind({ a: x, b: x, c: x, epilogueInputs: [x] })).toThrow(/second result/);
    } finally {
      x.destroy();
    }
  }, 120_000);

  it('stores the row sums of op(A) beside the product, in every layout and family', async (ctx) => {
    const gpu = await device(ctx);
    // One tile of every family and variant, and wide shapes whose tiles run in several columns and rows.
    const configs = oneTileOfEachFamily(gpu);
    expect(configs.length).toBeGreaterThan(3);
    const epilogue: MatmulEpilogue = {
      wgsl: 'fn epilogue(value: f32, batch: u32, row: u32, col: u32) -> f32 { return value; }',
      inputs: [],
      second: { wgsl: 'fn epilogue2(value: f32) -> f32 { return -value; }' },
    };
    let checked = 0;
    for (const [transposeA, transposeB] of LAYOUTS)
      for (const [m, n, k, batch, batchA, tiles] of [
        [37, 41, 66, 2, 1, 'all'],
        // Rows of vec4s (M or K a multiple of 4) for the subgroup loads, with a K remainder and without.
        [36, 41, 66, 2, 1, 'vec4'],
        [36, 41, 68, 2, 1, 'vec4'],
      ] as const) {
        const shape = matmulShape(m, n, k, { batch, batchA, transposeA, transposeB });
        const a = data(batchA * m * k, 31 + m);
        const b = data(batch * k * n, 32 + n);
        const product = reference(shape, a, b);
        // Each sum, over the float64 values of the f32 inputs, within k * 2^-23 of the sum of magnitudes.
        const sums = { value: new Float64Array(batch * m), bound: new Float64Array(batch * m) };
        for (let t = 0; t < batch; t++)
          for (let i = 0; i < m; i++)
            for (let q = 0; q < k; q++) {
              // A is broadcast (batchA 1): every batch sums the same matrix.
              const v = a[transposeA ? q * m + i : i * k + q] ?? NaN;
              sums.value[t * m + i] = (sums.value[t * m + i] ?? 0) + v;
              sums.bound[t * m + i] = (sums.bound[t * m + i] ?? 0) + k * 2 ** -23 * Math.abs(v);
            }
        // Every family in one layout (with the bindings after an epilogue's second result too), the subgroup
        // tiles in every layout.
        const plain = !transposeA && !transposeB;
        const subgroupTile = configs.find((c) => c.subgroup !== undefined && !c.swap);
        const chosen =
          tiles === 'vec4'
            ? subgroupTile
              ? [{ ...subgroupTile, tm: 8 }]
              : []
            : plain
              ? configs
              : configs.filter((c) => c.subgroup !== undefined);
        for (const config of chosen)
          for (const withEpilogue of plain && tiles === 'all' ? [false, true] : [false]) {
            const owned: GPUBuffer[] = [];
            const make = (label: string, elements: number): GPUBuffer => {
              const buffer = gpu.createBuffer(label, elements * 4, BufferUsage.STORAGE | BufferUsage.COPY_SRC);
              owned.push(buffer);
              return buffer;
            };
            try {
              const aBuffer = gpu.upload('A', a, BufferUsage.STORAGE);
              const bBuffer = gpu.upload('B', b, BufferUsage.STORAGE);
              owned.push(aBuffer, bBuffer);
              const c = make('C', batch * m * n);
              const c2 = make('C2', batch * m * n);
              const sumBuffer = make('sums', batch * m);
              await runMatmul(
                gpu,
                shape,
                { a: aBuffer, b: bBuffer, c, sums: sumBuffer, ...(withEpilogue ? { c2 } : {}) },
                { config, rowSums: true, ...(withEpilogue ? { epilogue } : {}) },
              );
              const what = JSON.stringify({ shape, config, withEpilogue });
              expect(firstMismatch(await gpu.readFloat32(c, batch * m * n), product), what).toBe(undefined);
              expect(firstMismatch(await gpu.readFloat32(sumBuffer, batch * m), sums), `sums ${what}`).toBe(undefined);
              if (withEpilogue) {
                const negated = { value: product.value.map((v) => -v), bound: product.bound };
                expect(firstMismatch(await gpu.readFloat32(c2, batch * m * n), negated), what).toBe(undefined);
              }
              checked++;
            } finally {
              for (const buffer of owned) buffer.destroy();
            }
          }
      }
    const subgroupTiles = configs.filter((c) => c.subgroup !== undefined).length;
    const vec4Runs = subgroupTiles > 0 ? 2 * LAYOUTS.length : 0;
    expect(checked).toBe(2 * configs.length + (LAYOUTS.length - 1) * subgroupTiles + vec4Runs);
    // The buffer must come with the kernel that fills it, and only with it.
    const x = gpu.upload('x', new Float32Array(16), BufferUsage.STORAGE);
    try {
      const config = CANDIDATE_CONFIGS[0] as MatmulConfig;
      const withSums = await prepareMatmul(gpu, matmulShape(4, 4, 4), config, undefined, true);
      expect(() => withSums.bind({ a: x, b: x, c: x })).toThrow(/row sums, no buffer/);
      const without = await prepareMatmul(gpu, matmulShape(4, 4, 4), config);
      expect(() => without.bind({ a: x, b: x, c: x, sums: x })).toThrow(/without them/);
    } finally {
      x.destroy();
    }
  }, 300_000);

  it('stores four columns at once only where N is a multiple of 4, with the epilogue applied to each', async (ctx) => {
    const gpu = await device(ctx);
    const epilogue: MatmulEpilogue = {
      wgsl: 'fn epilogue(value: f32, batch: u32, row: u32, col: u32, b: f32) -> f32 { return value * b + f32(col); }',
      inputs: ['scale'],
      columns: ['scale'],
    };
    for (const n of [8, 10, 36]) {
      const shape = matmulShape(27, n, 6, { batch: 2, batchB: 1 });
      const a = data(2 * 27 * 6, 8);
      const b = data(6 * n, 9);
      const scale = data(n, 10);
      const expected = reference(shape, a, b);
      for (let i = 0; i < expected.value.length; i++) {
        const col = i % n;
        const scaled = (expected.value[i] ?? 0) * (scale[col] ?? 0);
        expected.value[i] = scaled + col;
        // The product's bound scaled, plus one rounding each for the multiply and the add.
        expected.bound[i] =
          (expected.bound[i] ?? 0) * Math.abs(scale[col] ?? 0) + 2 ** -23 * (2 * Math.abs(scaled) + col);
      }
      for (const config of CANDIDATE_CONFIGS.filter((c) => c.family !== 'broadcast' && !c.swap && configFits(gpu, c))) {
        expect(kernelSpecFor(shape, config, epilogue).vecC).toBe(n % 4 === 0);
        const got = await matmulOnHost(gpu, shape, a, b, { config, epilogue, epilogueInputs: [scale] });
        expect(firstMismatch(got, expected), `n = ${n}, ${JSON.stringify(config)}`).toBe(undefined);
      }
    }
  }, 120_000);
});

describe('matmul shape classes and swapped problems', () => {
  it('tells results with few columns from results with few rows', () => {
    const values = matmulShape(50, 16, 50, { batch: 256 });
    const scores = matmulShape(16, 50, 50, { batch: 256 });
    expect(shapeClass(values)).toMatch(/:narrow$/);
    expect(shapeClass(scores)).toMatch(/:tiny$/);
    expect(shapeClass(matmulShape(64, 64, 64))).not.toMatch(/narrow|tiny/);
  });

  it('fits a row-of-lanes tile to M where whole tiles would pad more than 5%, never past TM + TM/8 rows', () => {
    const sg = CANDIDATE_CONFIGS.find((c) => c.subgroup !== undefined && c.tm === 24 && !c.swap) as MatmulConfig;
    const rows = (m: number, options: Partial<MatmulShape> = {}): number =>
      fitTileRows(sg, matmulShape(m, 50, 16, options)).tm;
    expect(rows(50)).toBe(25); // two tiles of 25, not three of 24
    expect(rows(17)).toBe(17);
    expect(rows(197)).toBe(25); // 8 tiles (200 rows) instead of 9 (216)
    expect(rows(3200)).toBe(24); // 16 padding rows: under 5%
    expect(rows(48)).toBe(24);
    expect(rows(50, { transposeA: true })).toBe(20); // a multiple of 4 for the transposed vec4 loads: 3 x 20
    // Other families, and two-dimensional workgroups, keep their tile.
    for (const c of CANDIDATE_CONFIGS.filter((x) => x.family !== 'register' || x.wgY !== 1))
      expect(fitTileRows(c, matmulShape(50, 50, 16))).toBe(c);
    // The fitted tile stays within TM + TM/8 rows and never pads more than the chosen one.
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 5000 }), fc.integer({ min: 1, max: 32 }), (m, tm) => {
        const config = { ...sg, tm };
        const fitted = fitTileRows(config, matmulShape(m, 8, 8)).tm;
        const padding = (t: number): number => Math.ceil(m / t) * t - m;
        expect(fitted).toBeLessThanOrEqual(tm + Math.ceil(tm / 8));
        expect(padding(fitted)).toBeLessThanOrEqual(padding(tm));
      }),
    );
  });

  it('computes correct products with fitted tiles, in every layout', async (ctx) => {
    const gpu = await device(ctx);
    const configs = CANDIDATE_CONFIGS.filter((c) => c.family === 'register' && c.wgY === 1 && configFits(gpu, c));
    let fitted = 0;
    for (const [transposeA, transposeB] of [
      [false, false],
      [false, true],
      [true, false],
      [true, true],
    ] as const) {
      const shape = matmulShape(50, 20, 12, { batch: 3, transposeA, transposeB });
      const a = data(3 * 50 * 12, 11);
      const b = data(3 * 12 * 20, 12);
      const expected = reference(shape, a, b);
      for (const config of configs) {
        const spec = kernelSpecFor(shape, config);
        if (spec.config.tm !== config.tm) fitted++;
        const got = await matmulOnHost(gpu, shape, a, b, { config });
        expect(firstMismatch(got, expected), `${transposeA} ${transposeB} ${JSON.stringify(spec.config)}`).toBe(
          undefined,
        );
      }
    }
    expect(fitted).toBeGreaterThan(4);
  }, 120_000);

  it('computes the transposed product with the operands exchanged', () => {
    const shape = matmulShape(50, 16, 40, { batch: 3, batchA: 1, transposeB: true });
    const config = { ...(CANDIDATE_CONFIGS[0] as MatmulConfig), swap: true };
    expect(kernelShape(shape, config)).toEqual({
      batch: 3,
      batchA: 3,
      batchB: 1,
      m: 16,
      n: 50,
      k: 40,
      transposeA: false,
      transposeB: true,
    });
    expect(kernelShape(shape, CANDIDATE_CONFIGS[0] as MatmulConfig)).toBe(shape);
  });
});

describe('matmul pipelines and tuning', () => {
  it('compiles each kernel once per device and reuses the pipeline', async (ctx) => {
    const gpu = await device(ctx);
    const config = CANDIDATE_CONFIGS[0] as MatmulConfig;
    const first = await prepareMatmul(gpu, matmulShape(8, 8, 8), config);
    const count = cachedPipelineCount(gpu);
    const second = await prepareMatmul(gpu, matmulShape(16, 12, 20, { batch: 3 }), config);
    expect(second.pipeline).toBe(first.pipeline);
    expect(cachedPipelineCount(gpu)).toBe(count);
  });

  it('chooses a tile by measurement, caches it per shape class, and round-trips the cache through JSON', async (ctx) => {
    const gpu = await device(ctx);
    const candidates = CANDIDATE_CONFIGS.filter((c) => configFits(gpu, c)).slice(0, 2);
    const cache = new TuningCache();
    const shape = matmulShape(64, 64, 64);
    const chosen = await selectMatmulConfig(gpu, shape, { cache, candidates });
    const entry = cache.get(gpu, shape);
    expect(entry?.config).toEqual(chosen);
    expect(entry?.measured.map((x) => x.config)).toEqual(candidates);
    for (const x of entry?.measured ?? []) expect(x.gflops).toBeGreaterThan(0);
    // Same class (same layout, alignment and size bucket): answered from the cache, no new measurement.
    expect(shapeClass(matmulShape(60, 60, 100))).toBe(shapeClass(shape));
    expect(await selectMatmulConfig(gpu, matmulShape(60, 60, 100), { cache, candidates: [] })).toEqual(chosen);
    const restored = TuningCache.fromJSON(JSON.parse(JSON.stringify(cache)));
    expect(restored.get(gpu, shape)?.config).toEqual(chosen);
    expect(restored.size).toBe(1);
    // The key carries the candidate list's fingerprint: an entry saved under another list is not used.
    const [key] = Object.keys(restored.toJSON());
    expect(key?.startsWith(`${CANDIDATES_ID} `)).toBe(true);
    const stale = TuningCache.fromJSON({ [key?.replace(CANDIDATES_ID, 'c00000000') ?? '']: cache.get(gpu, shape) });
    expect(stale.size).toBe(1);
    expect(stale.get(gpu, shape)).toBeUndefined();
  });

  it('offers the subgroup tiles exactly where the device has subgroups of their size', async (ctx) => {
    const gpu = await device(ctx);
    const size = subgroupSize(gpu);
    for (const config of CANDIDATE_CONFIGS.filter((c) => c.subgroup !== undefined))
      expect(configFits(gpu, config)).toBe(size === config.subgroup);
    expect(
      generateMatmulWgsl({
        config: { ...(CANDIDATE_CONFIGS[0] as MatmulConfig), subgroup: 8 },
        transposeA: false,
        transposeB: false,
        vecA: true,
        vecB: true,
      }),
    ).toMatch(/^\/\/ .*\nenable subgroups;/);
  });

  it('rejects an epilogue with a reserved or duplicate input name, or a column input it does not bind', () => {
    const config = CANDIDATE_CONFIGS[0] as MatmulConfig;
    const base = { config, transposeA: false, transposeB: false, vecA: true, vecB: true };
    const wgsl = 'fn epilogue(value: f32, batch: u32, row: u32, col: u32) -> f32 { return value; }';
    expect(() => generateMatmulWgsl({ ...base, epilogue: { wgsl, inputs: ['mm_x'] } })).toThrow(RangeError);
    expect(() => generateMatmulWgsl({ ...base, epilogue: { wgsl, inputs: ['x', 'x'] } })).toThrow(RangeError);
    expect(() => generateMatmulWgsl({ ...base, epilogue: { wgsl, inputs: ['x'], columns: ['y'] } })).toThrow(
      RangeError,
    );
    expect(() => generateMatmulWgsl({ ...base, epilogue: { wgsl, inputs: ['x'], elements: ['y'] } })).toThrow(
      RangeError,
    );
    expect(() =>
      generateMatmulWgsl({ ...base, epilogue: { wgsl, inputs: ['x'], columns: ['x'], elements: ['x'] } }),
    ).toThrow(RangeError);
    // vec4 stores need a lane's four columns contiguous in C.
    expect(() => generateMatmulWgsl({ ...base, vecC: true, storeTransposed: true })).toThrow(RangeError);
    const broadcast = CANDIDATE_CONFIGS.find((c) => c.family === 'broadcast') as MatmulConfig;
    expect(() => generateMatmulWgsl({ ...base, config: broadcast, vecC: true })).toThrow(RangeError);
  });
});

describe('matmul tiles claimed from a counter', () => {
  const oneSubgroup = (gpu: GpuDevice, ctx: TestContext): MatmulConfig => {
    const size = subgroupSize(gpu);
    if (size === undefined) requireOrSkip(ctx, 'the device has no subgroups of one fixed size');
    return { family: 'register', wgX: size, wgY: 1, tm: 24, tn: 4, bk: 4, subgroup: size };
  };

  it('claims every tile once per dispatch and restarts the counter, across dispatches in one pass', async (ctx) => {
    // Its own device, claiming whatever the adapter: the protocol is the same wherever subgroups have one size.
    const gpu = await openTestDevice(ctx, { claimTiles: true });
    const owned: GPUBuffer[] = [];
    try {
      const config = oneSubgroup(gpu, ctx);
      // Fewer tiles than workgroups dispatched (2 x 3 x 3 = 18), and more (13 x 9 = 117); a ragged K tail in both.
      // The third has four epilogue inputs (one of them at the column), so the counter takes the eighth binding.
      const bias =
        'fn epilogue(value: f32, batch: u32, row: u32, col: u32, e3: f32) -> f32 {\n' +
        '  return value + e0[row] - e1[col] + 2.0 * e2[0] + e3;\n}';
      const epilogue: MatmulEpilogue = { wgsl: bias, inputs: ['e0', 'e1', 'e2', 'e3'], columns: ['e3'] };
      const problems = [
        { shape: matmulShape(70, 67, 45, { batch: 2, batchA: 1 }) },
        { shape: matmulShape(300, 260, 37) },
        { shape: matmulShape(100, 96, 40), epilogue },
      ].map(({ shape, epilogue }, p) => {
        const a = data(shape.batchA * shape.m * shape.k, 17 + p);
        const b = data(shape.batchB * shape.k * shape.n, 29 + p);
        const expected = reference(shape, a, b);
        const inputs = epilogue ? [data(shape.m, 3), data(shape.n, 5), Float32Array.of(0.25), data(shape.n, 9)] : [];
        if (epilogue) {
          const [e0, e1, e2, e3] = inputs as [Float32Array, Float32Array, Float32Array, Float32Array];
          for (let r = 0; r < shape.m; r++)
            for (let c = 0; c < shape.n; c++) {
              const at = r * shape.n + c;
              const extra = (e0[r] ?? NaN) - (e1[c] ?? NaN) + 2 * (e2[0] ?? NaN) + (e3[c] ?? NaN);
              expected.value[at] = (expected.value[at] ?? NaN) + extra;
              // Four more roundings, each within 2^-23 of a value no larger than |value| + |extra|.
              expected.bound[at] =
                (expected.bound[at] ?? 0) + 4 * 2 ** -23 * (Math.abs(expected.value[at] ?? 0) + 4 * 8);
            }
        }
        return { shape, epilogue, a, b, inputs, expected };
      });
      const prepared = await Promise.all(
        problems.map(async ({ shape, epilogue, a, b, inputs }) => {
          const matmul = await prepareMatmul(gpu, shape, config, epilogue);
          expect(matmul.spec.claimTiles, matmul.label.kernel).toBe(true);
          expect(matmul.label.kernel).toMatch(/_cl$/);
          expect(matmul.wgsl).toContain('atomicAdd(&mm_claim[0], 1u)');
          const buffers = {
            a: gpu.upload('test:A', a, BufferUsage.STORAGE),
            b: gpu.upload('test:B', b, BufferUsage.STORAGE),
            epilogueInputs: inputs.map((x) => gpu.upload('test:E', x, BufferUsage.STORAGE)),
          };
          owned.push(buffers.a, buffers.b, ...buffers.epilogueInputs);
          return { matmul, buffers, elements: shape.batch * shape.m * shape.n };
        }),
      );
      expect(prepared[2]?.matmul.wgsl).toContain('@binding(8) var<storage, read_write> mm_claim');
      // Six dispatches in one pass, each into a C of its own, so every dispatch's result is checked: one that found
      // the counter anywhere but zero would skip tiles and leave them unwritten (zero).
      const order = [0, 1, 2, 0, 1, 1, 2, 0];
      const runs = order.map((p) => {
        const { matmul, buffers, elements } = prepared[p] as (typeof prepared)[0];
        const c = gpu.createBuffer('test:C', elements * 4, BufferUsage.STORAGE | BufferUsage.COPY_SRC);
        owned.push(c);
        return { p, c, bound: matmul.bind({ ...buffers, c }) };
      });
      expect(runs[0]?.bound.grid).toEqual([18, 1, 1]);
      expect(runs[1]?.bound.grid).toEqual([CLAIM_WORKGROUPS, 1, 1]);
      const encoder = gpu.device.createCommandEncoder();
      const pass = encoder.beginComputePass();
      for (const run of runs) run.bound.encode(pass);
      pass.end();
      gpu.device.queue.submit([encoder.finish()]);
      for (const [i, run] of runs.entries()) {
        const problem = problems[run.p] as (typeof problems)[0];
        const got = await gpu.readFloat32(run.c, problem.expected.value.length);
        expect(firstMismatch(got, problem.expected), `dispatch ${i}: ${JSON.stringify(problem.shape)}`).toBeUndefined();
        run.bound.dispose();
      }
      expect(new Uint32Array(await gpu.read(gpu.tileCounter()))[0]).toBe(0);
    } finally {
      for (const buffer of owned) buffer.destroy();
      gpu.dispose();
    }
  });

  it('takes tiles by workgroup id where the device does not claim them or no binding is left', async (ctx) => {
    const gpu = await device(ctx);
    const config = oneSubgroup(gpu, ctx);
    const shape = matmulShape(70, 67, 45);
    // Five epilogue inputs fill the eight storage buffers a kernel may use: the counter does not fit.
    const inputs = ['e0', 'e1', 'e2', 'e3', 'e4'];
    const epilogue: MatmulEpilogue = {
      wgsl: 'fn epilogue(value: f32, batch: u32, row: u32, col: u32) -> f32 { return value; }',
      inputs,
    };
    const full = await prepareMatmul(gpu, shape, config, epilogue);
    expect(full.spec.claimTiles).toBeUndefined();
    expect(full.wgsl).not.toContain('mm_claim');
    const plain = await openTestDevice(ctx, { claimTiles: false });
    try {
      expect(plain.claimTiles).toBe(false);
      const prepared = await prepareMatmul(plain, shape, config);
      expect(prepared.spec.claimTiles).toBeUndefined();
      expect(prepared.label.kernel).not.toMatch(/_cl$/);
      const c = plain.createBuffer('test:C', 70 * 67 * 4, BufferUsage.STORAGE);
      const bound = prepared.bind({ a: c, b: c, c });
      expect(bound.grid).toEqual([3 * 3, 1, 1]);
      bound.dispose();
      c.destroy();
      await check(plain, shape, config, 3);
      // Tile choices are kept apart for devices that claim and devices that do not: they run different kernels.
      if (gpu.claimTiles) {
        const cache = new TuningCache();
        await selectMatmulConfig(gpu, shape, { cache, candidates: [config] });
        expect(cache.get(gpu, shape)?.config).toEqual(config);
        expect(cache.get(plain, shape)).toBeUndefined();
      }
    } finally {
      plain.dispose();
    }
  });

  it('claims only in a workgroup of exactly one subgroup', () => {
    const sg: MatmulConfig = { family: 'register', wgX: 8, wgY: 1, tm: 24, tn: 4, bk: 4, subgroup: 8 };
    expect(canClaimTiles(sg)).toBe(true);
    expect(canClaimTiles({ ...sg, wgX: 16 })).toBe(false);
    expect(canClaimTiles({ family: 'register', wgX: 8, wgY: 1, tm: 24, tn: 4, bk: 4 })).toBe(false);
    expect(canClaimTiles({ family: 'workgroup', wgX: 8, wgY: 8, tm: 4, tn: 4, bk: 16 })).toBe(false);
    const base = { transposeA: false, transposeB: false, vecA: true, vecB: true, claimTiles: true };
    expect(generateMatmulWgsl({ ...base, config: sg })).toMatch(
      /^\/\/ .*_cl .*\nenable subgroups;\ndiagnostic\(off, subgroup_uniformity\);/,
    );
    expect(() => generateMatmulWgsl({ ...base, config: { ...sg, wgX: 16 } })).toThrow(RangeError);
    expect(kernelSpecFor(matmulShape(8, 8, 8), { ...sg, wgX: 16 }, undefined, false, true).claimTiles).toBeUndefined();
  });
});

describe('grid splitting', () => {
  it('fits any workgroup count within the per-dimension limit, with less than one row of padding', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1_000_000 }), fc.integer({ min: 1, max: 100 }), (total, maxPerDim) => {
        if (total > maxPerDim ** 3) return;
        const [x, y, z] = splitGrid(total, maxPerDim);
        expect(Math.max(x, y, z)).toBeLessThanOrEqual(maxPerDim);
        expect(x * y * z).toBeGreaterThanOrEqual(total);
        expect(x * y * z - total).toBeLessThan(x * y);
      }),
    );
  });
});
