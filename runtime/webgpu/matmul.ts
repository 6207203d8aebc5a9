/**
 * Running the matmul kernel family (compiler/codegen/wgsl/matmul.ts) on a `GpuDevice`.
 *
 * A matmul is prepared once per layout and tile (`prepareMatmul`: WGSL generated, pipeline fetched from the pipeline
 * cache), bound once per set of buffers (`PreparedMatmul.bind`: the uniform block and the bind group), and then
 * encoded as often as needed into the caller's compute pass, so a training step records every dispatch into one
 * command encoder. `runMatmul` does all three and submits, for one-off use.
 *
 * Shapes: A is [batchA, M, K] (or [batchA, K, M] with `transposeA`), B is [batchB, K, N] (or [batchB, N, K] with
 * `transposeB`), C is [batch, M, N], all row-major f32; an operand with batch 1 is broadcast over the batch.
 * Which tile to use is the caller's choice: runtime/webgpu/tuning.ts chooses one by measurement.
 */
import {
  canClaimTiles,
  CLAIM_WORKGROUPS,
  generateMatmulWgsl,
  MATMUL_ENTRY_POINT,
  MATMUL_FIXED_STORAGE_BUFFERS,
  MATMUL_PARAM_WORDS,
  matmulKernelName,
  workgroupStorageBytes,
  workgroupTile,
  type MatmulConfig,
  type MatmulEpilogue,
  type MatmulKernelSpec,
  type MatmulLayout,
  type StridedMatrix,
  alignedMatrix,
} from '../../compiler/codegen/wgsl/matmul.js';
import type { WorkLabel } from '../errors.js';
import { BufferUsage, type GpuDevice } from './device.js';
import { getPipeline } from './pipeline-cache.js';

export interface MatmulShape {
  readonly batch: number;
  /** 1 (broadcast) or `batch`. */
  readonly batchA: number;
  /** 1 (broadcast) or `batch`. */
  readonly batchB: number;
  readonly m: number;
  readonly n: number;
  readonly k: number;
  readonly transposeA: boolean;
  readonly transposeB: boolean;
  /** Operands or the result in place, through strides (default: contiguous, row-major). */
  readonly layout?: MatmulLayout;
}

/** A square-ish convenience: `[batch, m, k] x [batch, k, n]`, no broadcast, no transposes unless given. */
export function matmulShape(
  m: number,
  n: number,
  k: number,
  options: Partial<Omit<MatmulShape, 'm' | 'n' | 'k'>> = {},
): MatmulShape {
  const batch = options.batch ?? 1;
  return {
    batch,
    batchA: options.batchA ?? batch,
    batchB: options.batchB ?? batch,
    m,
    n,
    k,
    transposeA: options.transposeA ?? false,
    transposeB: options.transposeB ?? false,
  };
}

export function checkShape(shape: MatmulShape): void {
  for (const key of ['batch', 'm', 'n', 'k'] as const) {
    const v = shape[key];
    if (!Number.isInteger(v) || v < 1) throw new RangeError(`matmul: ${key} must be a positive integer, got ${v}`);
  }
  for (const key of ['batchA', 'batchB'] as const) {
    if (shape[key] !== 1 && shape[key] !== shape.batch)
      throw new RangeError(`matmul: ${key} must be 1 or the batch (${shape.batch}), got ${shape[key]}`);
  }
}

/**
 * The kernel specialisation a shape needs: its transposes, and vec4 binding where the contiguous axis allows it
 * (except B along N in the broadcast family, whose invocations each read single columns; C only where a lane's four
 * columns are contiguous, which the broadcast family's and a stored transpose's are not).
 */
export function kernelSpecFor(
  outer: MatmulShape,
  chosen: MatmulConfig,
  epilogue?: MatmulEpilogue,
  rowSums = false,
  claimTiles = false,
): MatmulKernelSpec {
  const shape = kernelShape(outer, chosen);
  const config = fitTileRows(chosen, shape);
  const scalarB = config.family === 'broadcast' && !shape.transposeB;
  return {
    config,
    transposeA: shape.transposeA,
    transposeB: shape.transposeB,
    vecA: (shape.transposeA ? shape.m : (shape.layout?.a?.row ?? shape.k)) % 4 === 0 && alignedMatrix(shape.layout?.a),
    vecB:
      !scalarB &&
      (shape.transposeB ? (shape.layout?.b?.row ?? shape.k) : shape.n) % 4 === 0 &&
      alignedMatrix(shape.layout?.b),
    vecC: config.family !== 'broadcast' && !config.swap && shape.n % 4 === 0 && alignedMatrix(shape.layout?.c),
    ...(epilogue ? { epilogue } : {}),
    ...(config.swap ? { storeTransposed: true } : {}),
    // op(A)'s rows are the swapped problem's op(B) columns.
    ...(rowSums ? { sums: config.swap ? ('cols' as const) : ('rows' as const) } : {}),
    ...(claimTiles && canClaimTiles(config) ? { claimTiles: true } : {}),
  };
}

/**
 * A one-row-of-lanes register tile (wgY = 1) with its rows per tile fitted to M, the kernel's row count: where whole
 * tiles would compute more than 5% padding rows, the fewest tiles of at most TM + TM/8 rows that cover M with less
 * padding, their rows as even as they go (a multiple of 4 where A is read transposed, which its vec4 loads need). Attention's 50 query
 * rows take two tiles of 25 instead of three of 24 (72 rows computed for 50); a long M keeps its tile. Other tiles
 * are returned as they are.
 */
export function fitTileRows(config: MatmulConfig, shape: MatmulShape): MatmulConfig {
  if (config.family !== 'register' || config.wgY !== 1) return config;
  const { m } = shape;
  const padding = (tm: number): number => Math.ceil(m / tm) * tm - m;
  if (padding(config.tm) <= 0.05 * m) return config;
  const limit = config.tm + Math.ceil(config.tm / 8);
  for (let tiles = Math.ceil(m / limit); tiles <= Math.ceil(m / config.tm); tiles++) {
    const even = Math.ceil(m / tiles);
    const tm = shape.transposeA ? Math.ceil(even / 4) * 4 : even;
    if (tm <= limit && padding(tm) < padding(config.tm)) return { ...config, tm };
  }
  return config;
}

/**
 * The problem the kernel computes: `shape` itself, or with `config.swap` its transpose `C^T = op(B)^T op(A)^T`
 * (B in A's place read with the opposite transpose, and the other way round).
 */
export function kernelShape(shape: MatmulShape, config: MatmulConfig): MatmulShape {
  if (!config.swap) return shape;
  return {
    batch: shape.batch,
    batchA: shape.batchB,
    batchB: shape.batchA,
    m: shape.n,
    n: shape.m,
    k: shape.k,
    transposeA: !shape.transposeB,
    transposeB: !shape.transposeA,
    ...(shape.layout
      ? {
          layout: {
            inner: shape.layout.inner,
            ...(shape.layout.b ? { a: shape.layout.b } : {}),
            ...(shape.layout.a ? { b: shape.layout.a } : {}),
            ...(shape.layout.c ? { c: shape.layout.c } : {}),
          },
        }
      : {}),
  };
}

/** Whether `config` can run on `gpu` at all (workgroup size, invocations, workgroup memory). */
export function configFits(gpu: GpuDevice, config: MatmulConfig): boolean {
  if (config.subgroup !== undefined && subgroupSize(gpu) !== config.subgroup) return false;
  return (
    config.wgX <= gpu.limit('maxComputeWorkgroupSizeX') &&
    config.wgY <= (gpu.limits.maxComputeWorkgroupSizeY ?? 0) &&
    config.wgX * config.wgY <= gpu.limit('maxComputeInvocationsPerWorkgroup') &&
    workgroupStorageBytes(config) <= gpu.limit('maxComputeWorkgroupStorageSize')
  );
}

/**
 * The subgroup size of `gpu` when the device has the subgroups feature and every subgroup has the same size (what
 * the subgroup matmul tiles rely on), else undefined.
 */
export function subgroupSize(gpu: GpuDevice): number | undefined {
  const { subgroupMinSize: min, subgroupMaxSize: max } = gpu.adapter;
  return gpu.features.has('subgroups') && min > 0 && min === max ? min : undefined;
}

/** Splits `total` workgroups into an (x, y, z) grid within `maxPerDim` per dimension; x * y * z >= total. */
export function splitGrid(total: number, maxPerDim: number): [number, number, number] {
  if (total <= maxPerDim) return [Math.max(1, total), 1, 1];
  const x = maxPerDim;
  const rest = Math.ceil(total / x);
  if (rest <= maxPerDim) return [x, rest, 1];
  const y = maxPerDim;
  const z = Math.ceil(rest / y);
  if (z > maxPerDim) throw new RangeError(`matmul: ${total} workgroups exceed the device's grid`);
  return [x, y, z];
}

export interface MatmulBuffers {
  readonly a: GPUBuffer;
  readonly b: GPUBuffer;
  /** Needs STORAGE usage; written entirely. */
  readonly c: GPUBuffer;
  /** One buffer per epilogue input, in the order of `MatmulEpilogue.inputs`. */
  readonly epilogueInputs?: readonly GPUBuffer[];
  /** The second result (`MatmulEpilogue.second`), laid out as C. */
  readonly c2?: GPUBuffer;
  /** The row sums of op(A) (`prepareMatmul`'s `rowSums`), [batch, M]; written entirely. */
  readonly sums?: GPUBuffer;
}

/** A matmul bound to its buffers: encode it into any compute pass, as often as needed. */
export interface BoundMatmul {
  readonly label: WorkLabel;
  readonly grid: readonly [number, number, number];
  encode(pass: GPUComputePassEncoder): void;
  /** Releases the uniform buffer (not the caller's buffers). */
  dispose(): void;
}

export interface PreparedMatmul {
  readonly spec: MatmulKernelSpec;
  readonly label: WorkLabel;
  readonly wgsl: string;
  readonly pipeline: GPUComputePipeline;
  bind(buffers: MatmulBuffers): BoundMatmul;
}

/**
 * Generates the kernel for `shape`'s layout and `config`, and gets its pipeline (compiled once per device). With
 * `rowSums`, the kernel also stores the sum over k of every row of op(A) (`MatmulBuffers.sums`).
 */
export async function prepareMatmul(
  gpu: GpuDevice,
  shape: MatmulShape,
  config: MatmulConfig,
  epilogue?: MatmulEpilogue,
  rowSums = false,
): Promise<PreparedMatmul> {
  checkShape(shape);
  if (!configFits(gpu, config))
    throw new RangeError(`matmul: the tile ${JSON.stringify(config)} does not fit this device's limits`);
  const storage =
    MATMUL_FIXED_STORAGE_BUFFERS + (epilogue?.inputs.length ?? 0) + (epilogue?.second ? 1 : 0) + (rowSums ? 1 : 0);
  const maxStorage = Math.min(8, gpu.limit('maxStorageBuffersPerShaderStage'));
  if (storage > maxStorage)
    throw new RangeError(`matmul: the epilogue needs ${storage} storage buffers; kernels use at most ${maxStorage}`);
  // The tile counter is one more storage buffer: a kernel with no room for it takes its tiles by workgroup id.
  const spec = kernelSpecFor(shape, config, epilogue, rowSums, gpu.claimTiles && storage < maxStorage);
  const label: WorkLabel = { kernel: matmulKernelName(spec) };
  const wgsl = generateMatmulWgsl(spec);
  const pipeline = await getPipeline(gpu, label, wgsl, MATMUL_ENTRY_POINT);
  return { spec, label, wgsl, pipeline, bind: (buffers) => bindMatmul(gpu, shape, spec, label, pipeline, buffers) };
}

function bindMatmul(
  gpu: GpuDevice,
  outer: MatmulShape,
  spec: MatmulKernelSpec,
  label: WorkLabel,
  pipeline: GPUComputePipeline,
  given: MatmulBuffers,
): BoundMatmul {
  const shape = kernelShape(outer, spec.config);
  const buffers = spec.config.swap ? { ...given, a: given.b, b: given.a } : given;
  const { rows, cols } = workgroupTile(spec.config);
  const tilesM = Math.ceil(shape.m / rows);
  const tilesN = Math.ceil(shape.n / cols);
  const totalTiles = tilesM * tilesN * shape.batch;
  const grid: [number, number, number] = spec.claimTiles
    ? [Math.min(totalTiles, CLAIM_WORKGROUPS), 1, 1]
    : splitGrid(totalTiles, gpu.limit('maxComputeWorkgroupsPerDimension'));
  const inputs = buffers.epilogueInputs ?? [];
  const expected = spec.epilogue?.inputs.length ?? 0;
  if (inputs.length !== expected)
    throw new RangeError(`matmul: the epilogue reads ${expected} inputs, ${inputs.length} buffers were given`);
  const { inner, a, b, c } = operandLayouts(shape, spec.storeTransposed === true);
  const needs = (name: string, buffer: GPUBuffer, elements: number): void => {
    if (buffer.size < elements * 4)
      throw new RangeError(`matmul: buffer ${name} holds ${buffer.size} bytes, needs ${elements * 4}`);
  };
  needs('A', buffers.a, a.extent);
  needs('B', buffers.b, b.extent);
  needs('C', buffers.c, c.extent);
  const second = spec.epilogue?.second ? buffers.c2 : undefined;
  if (spec.epilogue?.second && !second)
    throw new RangeError('matmul: the epilogue stores a second result, no buffer given');
  if (second) needs('C2', second, c.extent);
  if (spec.sums && !buffers.sums) throw new RangeError('matmul: the kernel stores row sums, no buffer given');
  if (!spec.sums && buffers.sums) throw new RangeError('matmul: a row-sums buffer was given to a kernel without them');
  if (buffers.sums) needs('sums', buffers.sums, outer.batch * outer.m);
  const params = new Uint32Array(MATMUL_PARAM_WORDS);
  params.set([
    shape.m,
    shape.n,
    shape.k,
    tilesM,
    tilesM * tilesN,
    totalTiles,
    grid[0],
    grid[1],
    a.outer,
    b.outer,
    c.outer,
    a.row,
    b.row,
    c.row,
    inner,
    a.inner,
    b.inner,
    c.inner,
    a.base,
    b.base,
    c.base,
    // claimLast: the dispatch's last claim, one per workgroup past the tiles.
    totalTiles + grid[0] * grid[1] * grid[2] - 1,
  ]);
  const uniform = gpu.upload(`${label.kernel}:params`, params, BufferUsage.UNIFORM);
  const bindGroup = gpu.device.createBindGroup({
    label: label.kernel,
    layout: pipeline.getBindGroupLayout(0),
    entries: [
      uniform,
      buffers.a,
      buffers.b,
      buffers.c,
      ...inputs,
      ...(second ? [second] : []),
      ...(buffers.sums ? [buffers.sums] : []),
      ...(spec.claimTiles ? [gpu.tileCounter()] : []),
    ].map((buffer, binding) => ({
      binding,
      resource: { buffer },
    })),
  });
  return {
    label,
    grid,
    encode(pass) {
      pass.setPipeline(pipeline);
      pass.setBindGroup(0, bindGroup);
      pass.dispatchWorkgroups(grid[0], grid[1], grid[2]);
    },
    dispose() {
      uniform.destroy();
    },
  };
}

/**
 * Every matrix's layout for the kernel problem `shape` (C as stored: transposed when the kernel stores the transpose),
 * with the elements its buffer must hold. Matrices without a layout are contiguous: a batch-1 operand is broadcast.
 */
export function operandLayouts(
  shape: MatmulShape,
  storeTransposed: boolean,
): { inner: number; a: Extent; b: Extent; c: Extent } {
  const inner = shape.layout?.inner ?? 1;
  if (!Number.isInteger(inner) || inner < 1 || shape.batch % inner !== 0)
    throw new RangeError(`matmul: the inner batch ${inner} does not divide the batch ${shape.batch}`);
  const resolve = (given: StridedMatrix | undefined, batch: number, rows: number, cols: number): Extent => {
    const m =
      given ??
      (batch === 1
        ? { base: 0, outer: 0, inner: 0, row: cols }
        : { base: 0, outer: inner * rows * cols, inner: rows * cols, row: cols });
    for (const x of [m.base, m.outer, m.inner, m.row])
      if (!Number.isInteger(x) || x < 0) throw new RangeError(`matmul: strides must be non-negative integers`);
    if (m.row < cols && rows > 1) throw new RangeError(`matmul: rows of ${cols} elements overlap at stride ${m.row}`);
    const last = m.base + (shape.batch / inner - 1) * m.outer + (inner - 1) * m.inner + (rows - 1) * m.row + cols;
    return { ...m, extent: last };
  };
  const [ar, ac] = shape.transposeA ? [shape.k, shape.m] : [shape.m, shape.k];
  const [br, bc] = shape.transposeB ? [shape.n, shape.k] : [shape.k, shape.n];
  const [cr, cc] = storeTransposed ? [shape.n, shape.m] : [shape.m, shape.n];
  return {
    inner,
    a: resolve(shape.layout?.a, shape.batchA, ar, ac),
    b: resolve(shape.layout?.b, shape.batchB, br, bc),
    c: resolve(shape.layout?.c, shape.batch, cr, cc),
  };
}

/** A matrix's layout and the elements its buffer must hold. */
export interface Extent extends StridedMatrix {
  readonly extent: number;
}

/** Encodes `bound` `times` times in one compute pass of one command encoder and submits it. */
export function submitMatmul(gpu: GpuDevice, bound: BoundMatmul, times = 1): void {
  const device = gpu.device;
  const encoder = device.createCommandEncoder({ label: bound.label.kernel });
  const pass = encoder.beginComputePass({ label: bound.label.kernel });
  for (let i = 0; i < times; i++) bound.encode(pass);
  pass.end();
  device.queue.submit([encoder.finish()]);
}

export interface RunMatmulOptions {
  readonly config: MatmulConfig;
  readonly epilogue?: MatmulEpilogue;
  /** Store the row sums of op(A) too (`MatmulBuffers.sums`). */
  readonly rowSums?: boolean;
}

/** Prepares, binds and submits one matmul inside the device's error scopes (errors name the kernel). */
export async function runMatmul(
  gpu: GpuDevice,
  shape: MatmulShape,
  buffers: MatmulBuffers,
  options: RunMatmulOptions,
): Promise<void> {
  const prepared = await prepareMatmul(gpu, shape, options.config, options.epilogue, options.rowSums);
  const bound = await gpu.scoped(prepared.label, () => prepared.bind(buffers));
  try {
    await gpu.scoped(prepared.label, () => {
      submitMatmul(gpu, bound);
    });
  } finally {
    bound.dispose();
  }
}

/** Host data in, host data out: uploads A, B (and epilogue inputs), runs the matmul, reads C back. */
export async function matmulOnHost(
  gpu: GpuDevice,
  shape: MatmulShape,
  a: Float32Array,
  b: Float32Array,
  options: RunMatmulOptions & { readonly epilogueInputs?: readonly Float32Array[] },
): Promise<Float32Array> {
  const owned: GPUBuffer[] = [];
  try {
    const aBuffer = gpu.upload('matmul:A', a, BufferUsage.STORAGE);
    owned.push(aBuffer);
    const bBuffer = gpu.upload('matmul:B', b, BufferUsage.STORAGE);
    owned.push(bBuffer);
    // C as laid out (contiguous [batch, M, N] without a layout): every element the view can reach, the rest zero.
    const elements = operandLayouts(shape, false).c.extent;
    const cBuffer = gpu.createBuffer('matmul:C', elements * 4, BufferUsage.STORAGE | BufferUsage.COPY_SRC);
    owned.push(cBuffer);
    const epilogueInputs = (options.epilogueInputs ?? []).map((data, i) => {
      const buffer = gpu.upload(`matmul:epilogue${i}`, data, BufferUsage.STORAGE);
      owned.push(buffer);
      return buffer;
    });
    await runMatmul(gpu, shape, { a: aBuffer, b: bBuffer, c: cBuffer, epilogueInputs }, options);
    return await gpu.readFloat32(cBuffer, elements);
  } finally {
    for (const buffer of owned) buffer.destroy();
  }
}
