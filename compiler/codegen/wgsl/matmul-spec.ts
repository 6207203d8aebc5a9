/**
 * The matmul kernel family's vocabulary: tile configurations, epilogues, strided layouts and the specialisation a
 * kernel is generated for, with their validation and names. The generator is compiler/codegen/wgsl/matmul.ts.
 */

export type MatmulFamily = 'register' | 'broadcast' | 'workgroup';

/** A tile configuration: what the tuner chooses between. */
export interface MatmulConfig {
  readonly family: MatmulFamily;
  /** Workgroup size along N (x) and along M (y). */
  readonly wgX: number;
  readonly wgY: number;
  /** Rows of C per invocation (a multiple of 4 lets a transposed A be read as vec4). */
  readonly tm: number;
  /** Columns of C per invocation: a multiple of 4 (one vec4 accumulator per 4 columns) except in `broadcast`. */
  readonly tn: number;
  /** Depth of the workgroup-memory slab (`workgroup` family only; a multiple of 4). */
  readonly bk: number;
  /**
   * Register family only: the device's subgroup size S (all its subgroups exactly that size). The lanes of a subgroup
   * then share the A loads of a reduction step: lane s loads the s-th of the tile's A values (or vec4s), and
   * `subgroupBroadcast` hands each value to every lane, so a step costs TM/S lane-varying A loads instead of TM.
   * Needs wgY = 1 (every invocation of a workgroup owns the same rows, however invocations form subgroups) and
   * wgX a multiple of S (whole subgroups).
   */
  readonly subgroup?: number;
  /**
   * Computes the transpose, `C^T = op(B)^T op(A)^T`, and stores it transposed: A and B exchange roles, so the tile's
   * rows run along N and its columns along M. For a problem with fewer columns than a workgroup covers and more rows
   * (attention's [50 x 50] x [50 x 16], say), where the plain tile would leave lanes idle.
   */
  readonly swap?: boolean;
}

/**
 * An elementwise epilogue fused into the store: `wgsl` must declare
 * `fn epilogue(value: f32, batch: u32, row: u32, col: u32) -> f32` and may read the read-only f32 storage arrays
 * named in `inputs` (declared by the generator, bound after A, B and C in that order). Identifiers starting with
 * `mm_` are reserved for the kernel.
 */
export interface MatmulEpilogue {
  readonly wgsl: string;
  readonly inputs: readonly string[];
  /**
   * Inputs (a subset of `inputs`) read at the product's column alone, `name[col]` (a bias, say). The kernel loads
   * each of their values once per column it owns, not once per element, and passes them to `epilogue` as extra f32
   * arguments after `col`, in this order: `fn epilogue(value: f32, batch: u32, row: u32, col: u32, <name>: f32...)`.
   */
  readonly columns?: readonly string[];
  /**
   * Inputs (a subset of `inputs`, none of them a column input) laid out as the product itself: [batch, M, N],
   * contiguous, N a multiple of 4 (a residual, say, or the pre-activation of a gradient). They are bound as vec4
   * arrays; where a lane's accumulators are vec4s of one row, the kernel loads each such vec4 once, and passes the
   * element's value to `epilogue` after the column inputs:
   * `fn epilogue(value: f32, batch: u32, row: u32, col: u32, <column>: f32..., <element>: f32...)`.
   */
  readonly elements?: readonly string[];
  /**
   * A second result: `wgsl` declares `fn epilogue2(value: f32) -> f32`, applied to each stored element, and the
   * kernel stores it too, laid out as C, in the buffer bound after the epilogue inputs (`mm_C2`). The activation of a
   * linear layer whose pre-activation a backward pass reads, say: both come from one pass.
   */
  readonly second?: { readonly wgsl: string };
}

/**
 * An operand or the result read or written in place: stored element (r, c) of batch b (r, c the stored matrix's row
 * and column, so K and M for a transposed A) at `base + (b / inner) * outer + (b % inner) * innerStride + r * row + c`,
 * `inner` being the layout's. A head of a fused projection, say, read where the projection left it.
 */
export interface StridedMatrix {
  readonly base: number;
  /** Elements between outer batches (0 broadcasts one matrix over the batch). */
  readonly outer: number;
  /** Elements between inner batches. */
  readonly inner: number;
  /** Elements between stored rows. */
  readonly row: number;
}

/** Strided operands: the batch index split as (b / inner, b % inner), and the matrices given a layout here. */
export interface MatmulLayout {
  readonly inner: number;
  readonly a?: StridedMatrix;
  readonly b?: StridedMatrix;
  readonly c?: StridedMatrix;
}

/** Whether every offset of `m` is a multiple of 4 (its rows can be read as vec4s when their length is). */
export function alignedMatrix(m: StridedMatrix | undefined): boolean {
  return m === undefined || [m.base, m.outer, m.inner, m.row].every((x) => x % 4 === 0);
}

/** Everything the WGSL text depends on. Sizes are not here: they are uniforms. */
export interface MatmulKernelSpec {
  readonly config: MatmulConfig;
  /** A is stored [K, M] (read as its transpose). */
  readonly transposeA: boolean;
  /** B is stored [N, K] (read as its transpose). */
  readonly transposeB: boolean;
  /**
   * Bind A as vec4: every stored row starts at a multiple of 4 and, read transposed (rows along M), M is a multiple
   * of 4 too. Along K a shorter last group is read by the scalar remainder loop, so a K that is not a multiple of 4
   * only needs a row stride that is (a strided layout's).
   */
  readonly vecA: boolean;
  /** Bind B as vec4: as `vecA`, with N in M's place (rows along N when B is not transposed). */
  readonly vecB: boolean;
  /**
   * N is a multiple of 4 and C is stored as computed (register and workgroup families, not `storeTransposed`): C is
   * bound as vec4 and each lane stores its four columns of a row as one vec4, where a scalar store each cost a guarded
   * store of its own (on llvmpipe, a loop over the lanes with a bounds check per component either way, so four
   * components per loop cost less than one).
   */
  readonly vecC?: boolean;
  readonly epilogue?: MatmulEpilogue;
  /**
   * The kernel computes the transpose of the result (`MatmulConfig.swap`; the other fields describe that swapped
   * problem): element (row, col) is stored at C[col, row], and the epilogue is asked for (col, row).
   */
  readonly storeTransposed?: boolean;
  /**
   * Sums of an operand over the reduction, stored beside the product in the buffer bound last (`mm_S`): `rows`, the
   * sum over k of op(A)[row, k] for every row (laid out [batch, M]); `cols`, of op(B)[k, col] for every column
   * ([batch, N]). The values are the ones the product reads anyway, so a sum costs an add per value and one
   * accumulator per row or column: a linear layer's bias gradient (the column sums of the output gradient, which its
   * weight gradient reads) needs no reduction kernel of its own. The tiles of the first column (`rows`) or row
   * (`cols`) of tiles store them.
   */
  readonly sums?: 'rows' | 'cols';
  /**
   * The workgroups claim their tiles from a counter instead of taking the tile of their workgroup id: a workgroup
   * loops, its first lane taking the next tile number with `atomicAdd` on `mm_claim[0]` (the storage buffer bound
   * after everything else) and broadcasting it, until the numbers run out. llvmpipe (a CPU implementation) hands
   * each of its threads a fixed share of a dispatch's workgroups, so a thread whose core is shared with other work
   * leaves the others idle at the end of every dispatch; claimed tiles go to whichever thread is free. Every
   * workgroup makes exactly one claim past the last tile, so a dispatch of G workgroups over T tiles takes the
   * numbers 0 .. T + G - 1, and the workgroup that draws T + G - 1 (`MmParams.claimLast`) sets the counter back to 0
   * for the next dispatch. Needs a workgroup of exactly one subgroup (`subgroup` = wgX, wgY = 1).
   */
  readonly claimTiles?: boolean;
}

/** Whether `config` can claim its tiles (`MatmulKernelSpec.claimTiles`): one subgroup per workgroup. */
export function canClaimTiles(config: MatmulConfig): boolean {
  return (
    config.family === 'register' && config.subgroup !== undefined && config.wgY === 1 && config.wgX === config.subgroup
  );
}

/**
 * Workgroups dispatched by a kernel that claims its tiles: enough to keep every thread of a CPU implementation busy
 * (llvmpipe runs at most 32), few enough that those finding no tile left cost nothing.
 */
export const CLAIM_WORKGROUPS = 64;

/** The storage buffers every matmul kernel binds: A, B, C (which leaves room for 5 epilogue inputs in 8). */
export const MATMUL_FIXED_STORAGE_BUFFERS = 3;

export const MATMUL_ENTRY_POINT = 'main';

/**
 * Layout of the uniform block, in u32 words, in the order of the WGSL struct `MmParams`:
 * M, N, K, tilesM, tilesPerBatch (tilesM * tilesN), totalTiles, groupsX, groupsY, then the operands' layout: strideA,
 * strideB, strideC (elements between outer batches; 0 broadcasts a batch-1 operand), lda, ldb, ldc (elements between
 * stored rows), inner (the batch index splits into batch / inner and batch % inner), innerA, innerB, innerC (elements
 * between inner batches), baseA, baseB, baseC (the first element), claimLast (the last tile number a kernel that
 * claims its tiles draws in one dispatch: `MatmulKernelSpec.claimTiles`), and two words of padding. A contiguous
 * operand has inner = 1, inner stride 0 and its row length as its row stride; a strided view (a head of a fused projection, say)
 * is read or written in place.
 */
export const MATMUL_PARAM_WORDS = 24;

export function matmulKernelName(spec: MatmulKernelSpec): string {
  const c = spec.config;
  const layout = `${spec.transposeA ? 't' : 'n'}${spec.transposeB ? 't' : 'n'}`;
  const vec = `${spec.vecA ? 'v' : 's'}${spec.vecB ? 'v' : 's'}${spec.vecC ? 'v' : 's'}`;
  const tile = `${c.wgY}x${c.wgX}_${c.tm}x${c.tn}` + (c.family === 'workgroup' ? `_k${c.bk}` : '');
  const sg = c.subgroup === undefined ? '' : `_sg${c.subgroup}`;
  const sw = spec.storeTransposed ? '_sw' : '';
  return (
    `matmul_${c.family}_${layout}${vec}_${tile}${sg}${sw}` +
    (spec.epilogue ? '_epi' : '') +
    (spec.epilogue?.second ? '2' : '') +
    (spec.sums === undefined ? '' : spec.sums === 'rows' ? '_rs' : '_cs') +
    (spec.claimTiles ? '_cl' : '')
  );
}

/** Rows and columns of C one workgroup covers. */
export function workgroupTile(config: MatmulConfig): { rows: number; cols: number } {
  return { rows: config.wgY * config.tm, cols: config.wgX * config.tn };
}

/** Bytes of workgroup memory the kernel declares (0 for the register family). */
export function workgroupStorageBytes(config: MatmulConfig): number {
  switch (config.family) {
    case 'register':
    case 'broadcast':
      return 0;
    case 'workgroup': {
      const { rows, cols } = workgroupTile(config);
      return config.bk * (rows + cols) * 4;
    }
  }
}

/** Throws a RangeError describing the first way `config` is malformed (not device-specific). */
export function checkConfig(config: MatmulConfig): void {
  const positive = (name: string, v: number): void => {
    if (!Number.isInteger(v) || v < 1) throw new RangeError(`matmul config: ${name} must be a positive integer`);
  };
  positive('wgX', config.wgX);
  positive('wgY', config.wgY);
  positive('tm', config.tm);
  positive('tn', config.tn);
  positive('bk', config.bk);
  if (config.subgroup !== undefined) {
    positive('subgroup', config.subgroup);
    if (config.family !== 'register') throw new RangeError('matmul config: subgroup loads are for the register family');
    if (config.wgY !== 1) throw new RangeError('matmul config: subgroup loads need wgY = 1');
    if (config.wgX % config.subgroup !== 0)
      throw new RangeError('matmul config: subgroup loads need wgX to be a multiple of the subgroup size');
  }
  if (config.family === 'broadcast') {
    if (config.wgY !== 1) throw new RangeError('matmul config: the broadcast family needs wgY = 1');
    return;
  }
  if (config.tn % 4 !== 0) throw new RangeError('matmul config: tn must be a multiple of 4');
  if (config.family === 'workgroup') {
    const threads = config.wgX * config.wgY;
    const { rows, cols } = workgroupTile(config);
    if (config.bk % 4 !== 0) throw new RangeError('matmul config: bk must be a multiple of 4');
    if ((config.bk * rows) % threads !== 0 || (config.bk * cols) % threads !== 0)
      throw new RangeError('matmul config: the slab must divide evenly among the workgroup invocations');
  }
}

const IDENT = /^[A-Za-z][A-Za-z0-9_]*$/;

export function checkEpilogue(epilogue: MatmulEpilogue): void {
  for (const name of epilogue.inputs) {
    if (!IDENT.test(name) || name.startsWith('mm_'))
      throw new RangeError(`matmul epilogue input '${name}' is not a valid identifier outside the mm_ prefix`);
  }
  if (new Set(epilogue.inputs).size !== epilogue.inputs.length)
    throw new RangeError('matmul epilogue inputs must have distinct names');
  for (const name of epilogue.columns ?? [])
    if (!epilogue.inputs.includes(name))
      throw new RangeError(`matmul epilogue column input '${name}' is not one of its inputs`);
  for (const name of epilogue.elements ?? [])
    if (!epilogue.inputs.includes(name) || epilogue.columns?.includes(name))
      throw new RangeError(`matmul epilogue element input '${name}' is not one of its other inputs`);
}
