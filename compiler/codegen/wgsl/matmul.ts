/**
 * The WGSL matmul kernel family: `C[b] = epilogue(op(A[b]) x op(B[b]))` for f32 tensors, with
 * `op(A)` of shape [M, K] and `op(B)` of shape [K, N], `op` being the identity or a transpose read in place.
 *
 * Two families, because the hardware they run on wants opposite things:
 *
 * - `register`: no workgroup memory and no barriers. Each invocation owns a TM x TN block of C held in registers
 *   (TN in vec4 columns) and streams A and B straight from storage, four reduction steps per iteration (their
 *   products summed before one write of each accumulator), with vec4 loads along each operand's contiguous axis
 *   where the layout allows it. Software rasterisers such as llvmpipe run a workgroup as SIMD lanes on one CPU
 *   thread, where a barrier ends the vectorised region and workgroup memory is ordinary memory; there, this family
 *   is several times faster than a tiled one. Where the device has
 *   subgroups of a known size (`MatmulConfig.subgroup`), the lanes split each step's A loads and pass the values
 *   round with `subgroupBroadcast`: llvmpipe turns every storage load whose address is not a constant into a loop
 *   over the lanes, and this leaves one such load (a vec4 of B) per lane and step.
 * - `broadcast`: also barrier-free, shaped for SIMD-across-invocations compilers. A workgroup is one row of `wgX`
 *   invocations that share their TM rows, so every A address is uniform across the workgroup (a compiler that sees
 *   it can issue one scalar load and broadcast it; llvmpipe does so only for addresses built from constants), and
 *   each invocation owns TN scalar columns strided by `wgX` (neighbouring lanes read neighbouring B elements). Per
 *   reduction step a SIMD group then issues TN lane-varying loads (gathers on a CPU) for TM x TN fused
 *   multiply-adds, and TM x TN accumulators stay within a CPU's vector register file.
 * - `workgroup`: the classic GPU kernel. A workgroup cooperatively stages a BK-deep slab of A and B in workgroup
 *   memory (loads coalesced along the contiguous axis), synchronises, and each invocation then accumulates its
 *   TM x TN register block from the shared slab.
 *
 * Which one wins, and with which tile, is measured per device (runtime/webgpu/tuning.ts), never assumed.
 *
 * Ragged edges (M, N, K not multiples of any tile) cost nothing in the hot loop: in the register family, row and
 * column indices are clamped once, before the reduction, so out-of-range invocations compute duplicate values that
 * the guarded store drops; a K remainder below 4 runs in a separate scalar tail loop. The workgroup family zero-fills
 * out-of-range slab elements while staging, outside the inner product loop.
 *
 * The kernel is specialised on the layout (transposes, vec4 alignment) and the tile; the sizes themselves come from a
 * uniform, so one pipeline serves every shape of its class. Grids beyond 65,535 workgroups are linearised over a 3-D
 * dispatch: the kernel recovers its tile from `workgroup_id` and the dispatch's x and y extents. A kernel that claims
 * its tiles (`MatmulKernelSpec.claimTiles`) takes tile numbers from a counter instead, in a loop.
 */

import {
  canClaimTiles,
  checkConfig,
  checkEpilogue,
  matmulKernelName,
  workgroupTile,
  type MatmulKernelSpec,
} from './matmul-spec.js';
import { indexA, indexB, subgroupA } from './matmul-loads.js';

export * from './matmul-spec.js';

/**
 * The column inputs' values for the element at (row, col) of the kernel's product, as WGSL argument text: read in
 * place (clamped, the store being guarded), at the original column, which is the kernel's row when it stores the
 * transpose.
 */
function columnArgs(spec: MatmulKernelSpec, row: string, col: string): string {
  const at = spec.storeTransposed ? `min(${row}, mm_p.M - 1u)` : `min(${col}, mm_p.N - 1u)`;
  return (spec.epilogue?.columns ?? []).map((name) => `, ${name}[${at}]`).join('');
}

/** The element inputs' values for the element at (row, col), read in place at the element's index in the product. */
function elementArgs(spec: MatmulKernelSpec, row: string, col: string): string {
  const i = `mm_ebase + ${productIndex(spec, `min(${row}, mm_p.M - 1u)`, `min(${col}, mm_p.N - 1u)`)}`;
  return (spec.epilogue?.elements ?? []).map((name) => `, ${name}[(${i}) >> 2u][(${i}) & 3u]`).join('');
}

/** The offset in C's batch of the kernel's element (row, col), at C's row stride. */
function storeIndex(spec: MatmulKernelSpec, row: string, col: string): string {
  return spec.storeTransposed ? `${col} * mm_p.ldc + ${row}` : `${row} * mm_p.ldc + ${col}`;
}

/** The offset of the kernel's element (row, col) in a contiguous batch of the product (epilogue element inputs). */
function productIndex(spec: MatmulKernelSpec, row: string, col: string): string {
  return spec.storeTransposed ? `${col} * mm_p.M + ${row}` : `${row} * mm_p.N + ${col}`;
}

const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

const indent = (text: string): string =>
  text
    .split('\n')
    .map((line) => (line === '' ? line : `  ${line}`))
    .join('\n');

/** Declarations shared by both families: parameters, bindings, scalar accessors, tile recovery and the store. */
function prelude(spec: MatmulKernelSpec): string {
  const epilogueInputs = spec.epilogue?.inputs ?? [];
  const elements = spec.epilogue?.elements ?? [];
  const bindings = epilogueInputs.map(
    (name, i) =>
      `@group(0) @binding(${4 + i}) var<storage, read> ${name}: array<${elements.includes(name) ? 'vec4<f32>' : 'f32'}>;`,
  );
  const elemA = spec.vecA ? 'vec4<f32>' : 'f32';
  const elemB = spec.vecB ? 'vec4<f32>' : 'f32';
  const scalar = (name: string, vec: boolean): string =>
    vec
      ? `fn mm_${name}(i: u32) -> f32 { return mm_${name.toUpperCase()}[i >> 2u][i & 3u]; }`
      : `fn mm_${name}(i: u32) -> f32 { return mm_${name.toUpperCase()}[i]; }`;
  const at = storeIndex(spec, 'row', 'col');
  const coords = spec.storeTransposed ? 'col, row' : 'row, col';
  const passed = [...(spec.epilogue?.columns ?? []), ...elements];
  const first = `epilogue(value, batch, ${coords}${passed.map((n) => `, mm_e_${n}`).join('')})`;
  const store = !spec.epilogue
    ? `mm_C[mm_cbase + ${at}] = value;`
    : spec.epilogue.second
      ? `let mm_r = ${first};\n    mm_C[mm_cbase + ${at}] = mm_r;\n    mm_C2[mm_cbase + ${at}] = epilogue2(mm_r);`
      : `mm_C[mm_cbase + ${at}] = ${first};`;
  const cType = spec.vecC ? 'vec4<f32>' : 'f32';
  const second = spec.epilogue?.second
    ? `@group(0) @binding(${4 + epilogueInputs.length}) var<storage, read_write> mm_C2: array<${cType}>;\n${spec.epilogue.second.wgsl}`
    : '';
  let next = 4 + epilogueInputs.length + (spec.epilogue?.second ? 1 : 0);
  const sums =
    spec.sums === undefined ? '' : `@group(0) @binding(${next++}) var<storage, read_write> mm_S: array<f32>;`;
  const claim = spec.claimTiles
    ? `@group(0) @binding(${next}) var<storage, read_write> mm_claim: array<atomic<u32>>;`
    : '';
  const storeParams = passed.map((n) => `, mm_e_${n}: f32`).join('');
  return `struct MmParams {
  M: u32, N: u32, K: u32, tilesM: u32,
  tilesPerBatch: u32, totalTiles: u32, groupsX: u32, groupsY: u32,
  strideA: u32, strideB: u32, strideC: u32, lda: u32,
  ldb: u32, ldc: u32, inner: u32, innerA: u32,
  innerB: u32, innerC: u32, baseA: u32, baseB: u32,
  baseC: u32, claimLast: u32, pad1: u32, pad2: u32,
}

@group(0) @binding(0) var<uniform> mm_p: MmParams;
@group(0) @binding(1) var<storage, read> mm_A: array<${elemA}>;
@group(0) @binding(2) var<storage, read> mm_B: array<${elemB}>;
@group(0) @binding(3) var<storage, read_write> mm_C: array<${cType}>;
${bindings.join('\n')}
${second}${sums === '' ? '' : `\n${sums}`}${claim === '' ? '' : `\n${claim}`}

${scalar('a', spec.vecA)}
${scalar('b', spec.vecB)}
${spec.epilogue ? spec.epilogue.wgsl : ''}

var<private> mm_cbase: u32;
var<private> mm_ebase: u32;
${
  spec.vecC
    ? ''
    : `
fn mm_store(batch: u32, row: u32, col: u32, value: f32${storeParams}) {
  if (row < mm_p.M && col < mm_p.N) {
    ${store}
  }
}
`
}`;
}

/**
 * The shared head of `main`: the linear tile index, early exit of the padding workgroups, batch offsets. A kernel
 * that claims its tiles (`MatmulKernelSpec.claimTiles`) claims its tile here instead, inside the loop over
 * claimed tiles that wraps its body.
 */
function tileHead(claim = false): string {
  const tile = claim
    ? `  var mm_claimed = 0u;
  if (mm_lane == 0u) { mm_claimed = atomicAdd(&mm_claim[0], 1u); }
  let mm_tile = subgroupBroadcast(mm_claimed, 0u);
  if (mm_tile >= mm_p.totalTiles) {
    // The dispatch's last claim: every workgroup has made its one claim past the tiles, so the counter can restart.
    if (mm_lane == 0u && mm_tile == mm_p.claimLast) { atomicStore(&mm_claim[0], 0u); }
    return;
  }`
    : `  let mm_tile = wid.x + mm_p.groupsX * (wid.y + mm_p.groupsY * wid.z);
  if (mm_tile >= mm_p.totalTiles) { return; }`;
  return `${tile}
  let batch = mm_tile / mm_p.tilesPerBatch;
  let mm_inBatch = mm_tile % mm_p.tilesPerBatch;
  let mm_tileRow = mm_inBatch % mm_p.tilesM;
  let mm_tileCol = mm_inBatch / mm_p.tilesM;
  let mm_bo = batch / mm_p.inner;
  let mm_bi = batch % mm_p.inner;
  let mm_offA = mm_p.baseA + mm_bo * mm_p.strideA + mm_bi * mm_p.innerA;
  let mm_offB = mm_p.baseB + mm_bo * mm_p.strideB + mm_bi * mm_p.innerB;
  mm_cbase = mm_p.baseC + mm_bo * mm_p.strideC + mm_bi * mm_p.innerC;
  mm_ebase = batch * mm_p.M * mm_p.N;`;
}

/** The guarded stores of the accumulators `acc_i_v` for rows `row_i` and column groups `col_v`. */
function stores(spec: MatmulKernelSpec, tm: number, vn: number): string {
  const lines: string[] = [];
  const columns = spec.epilogue?.columns ?? [];
  // Column inputs: one load per column (per row when the transpose is stored) for the whole tile.
  if (spec.storeTransposed) {
    for (const i of range(tm))
      for (const name of columns) lines.push(`  let mm_e_${name}_${i} = ${name}[min(row_${i}, mm_p.M - 1u)];`);
  } else {
    for (const v of range(vn))
      for (const c of range(4))
        for (const name of columns)
          lines.push(`  let mm_e_${name}_${v}_${c} = ${name}[min(col_${v} + ${c}u, mm_p.N - 1u)];`);
  }
  // Element inputs: one vec4 per row and column group where the lane's 4 columns are contiguous in C.
  const elements = spec.epilogue?.elements ?? [];
  if (!spec.storeTransposed)
    for (const i of range(tm))
      for (const v of range(vn))
        for (const name of elements)
          lines.push(
            `  let mm_x_${name}_${i}_${v} = ${name}[(mm_ebase + min(row_${i}, mm_p.M - 1u) * mm_p.N + min(col_${v}, mm_p.N - 4u)) >> 2u];`,
          );
  if (spec.vecC) {
    // col_v is a multiple of 4 and so is N: the lane's four columns are all in range or all out.
    for (const i of range(tm))
      for (const v of range(vn)) {
        const value = spec.epilogue
          ? `vec4<f32>(${range(4)
              .map(
                (c) =>
                  `epilogue(acc_${i}_${v}[${c}], batch, row_${i}, col_${v} + ${c}u${columns.map((name) => `, mm_e_${name}_${v}_${c}`).join('')}${elements.map((name) => `, mm_x_${name}_${i}_${v}[${c}]`).join('')})`,
              )
              .join(', ')})`
          : `acc_${i}_${v}`;
        const at = `(mm_cbase + row_${i} * mm_p.ldc + col_${v}) >> 2u`;
        const both = spec.epilogue?.second
          ? `let mm_r = ${value}; mm_C[${at}] = mm_r; mm_C2[${at}] = vec4<f32>(${range(4)
              .map((c) => `epilogue2(mm_r[${c}])`)
              .join(', ')});`
          : `mm_C[${at}] = ${value};`;
        lines.push(`  if (row_${i} < mm_p.M && col_${v} < mm_p.N) { ${both} }`);
      }
    return lines.join('\n');
  }
  for (const i of range(tm))
    for (const v of range(vn))
      for (const c of range(4)) {
        const args = columns
          .map((name) => (spec.storeTransposed ? `, mm_e_${name}_${i}` : `, mm_e_${name}_${v}_${c}`))
          .join('');
        const col = `col_${v} + ${c}u`;
        const own = spec.storeTransposed
          ? elementArgs(spec, `row_${i}`, col)
          : elements.map((name) => `, mm_x_${name}_${i}_${v}[${c}]`).join('');
        lines.push(`  mm_store(batch, row_${i}, ${col}, acc_${i}_${v}[${c}]${args}${own});`);
      }
  return lines.join('\n');
}

/**
 * The operand sums of `MatmulKernelSpec.sums`: their accumulators (`rs_i` per row, or `cs_v` per column group as
 * vec4s, or scalar `cs_j` per column in the broadcast family), and their stores by the tiles of the first column
 * (row sums) or row (column sums) of tiles, one lane per value (`first`: the condition that picks it).
 */
function sumDeclarations(spec: MatmulKernelSpec, rows: number, cols: number, vec: boolean): string[] {
  if (spec.sums === 'rows') return range(rows).map((i) => `  var rs_${i} = 0.0;`);
  if (spec.sums === 'cols') return range(cols).map((v) => `  var cs_${v} = ${vec ? 'vec4<f32>(0.0)' : '0.0'};`);
  return [];
}

/**
 * `rs_i += a` for the tile's rows (`spec.config.tm`), or `cs_v += b` for its `cols` column groups: the values (WGSL
 * expressions) of one reduction step or group of steps.
 */
function sumUpdates(
  spec: MatmulKernelSpec,
  rowTerms: (i: number) => string[],
  cols: number,
  colTerms: (v: number) => string[],
): string[] {
  const total = (terms: string[]): string =>
    terms.length === 4 ? `((${terms[0]} + ${terms[1]}) + (${terms[2]} + ${terms[3]}))` : terms.join(' + ');
  if (spec.sums === 'rows') return range(spec.config.tm).map((i) => `    rs_${i} = rs_${i} + ${total(rowTerms(i))};`);
  if (spec.sums === 'cols') return range(cols).map((v) => `    cs_${v} = cs_${v} + ${total(colTerms(v))};`);
  return [];
}

function sumStores(
  spec: MatmulKernelSpec,
  rows: number,
  cols: { count: number; width: number; col: (v: number) => string },
  first: { rows: string; cols: string },
): string[] {
  if (spec.sums === 'rows') {
    const lines = range(rows).map((i) => `    if (row_${i} < mm_p.M) { mm_S[batch * mm_p.M + row_${i}] = rs_${i}; }`);
    return [`  if (mm_tileCol == 0u && ${first.rows}) {`, ...lines, '  }'];
  }
  if (spec.sums === 'cols') {
    const lines: string[] = [];
    for (const v of range(cols.count))
      for (const c of range(cols.width)) {
        const col = `${cols.col(v)}${cols.width > 1 ? ` + ${c}u` : ''}`;
        const value = cols.width > 1 ? `cs_${v}[${c}]` : `cs_${v}`;
        lines.push(`    if (${col} < mm_p.N) { mm_S[batch * mm_p.N + ${col}] = ${value}; }`);
      }
    return [`  if (mm_tileRow == 0u && ${first.cols}) {`, ...lines, '  }'];
  }
  return [];
}

/**
 * The register family. Invocation (lx, ly) of a workgroup owns rows `rowBase + ly*TM + i` and, for each vec4 group
 * v, columns `colBase + 4*(v*wgX + lx) .. +3`: neighbouring invocations touch neighbouring vec4s of B and C, which
 * keeps SIMD lanes (llvmpipe) or warps (GPUs) on the same cache lines.
 */
function registerKernel(spec: MatmulKernelSpec): string {
  const { wgX, wgY, tm, tn } = spec.config;
  const vn = tn / 4;
  const { rows, cols } = workgroupTile(spec.config);
  const out: string[] = [];
  const sg = spec.config.subgroup;
  const laneArg = sg === undefined ? '' : ', @builtin(subgroup_invocation_id) mm_lane: u32';
  const claim = spec.claimTiles === true;
  out.push(`${tileHead(claim)}
  let mm_rowBase = mm_tileRow * ${rows}u${wgY === 1 ? '' : ` + lid.y * ${tm}u`};
  let mm_colBase = mm_tileCol * ${cols}u;`);
  // Unclamped indices (for the store) and clamped ones (for loads: always in bounds, so no check in the loop).
  for (const i of range(tm)) {
    out.push(`  let row_${i} = mm_rowBase + ${i}u;`);
    // With subgroup loads, A is read at the lanes' own rows (`subgroupA`), not at these.
    if (sg === undefined) out.push(`  let rc_${i} = min(row_${i}, mm_p.M - 1u);`);
  }
  for (const v of range(vn)) {
    out.push(`  let col_${v} = mm_colBase + ${4 * v * wgX}u + lid.x * 4u;`);
    for (const c of range(4)) out.push(`  let cc_${v}_${c} = min(col_${v} + ${c}u, mm_p.N - 1u);`);
  }
  // A transposed and vec4-bound: four consecutive rows come in one vec4 (M % 4 == 0 there, so a clamped base
  // rounded down to a multiple of 4 stays in bounds).
  const aRowGroups = sg === undefined && spec.transposeA && spec.vecA && tm % 4 === 0;
  if (aRowGroups) for (const g of range(tm / 4)) out.push(`  let rg_${g} = min(row_${4 * g}, mm_p.M - 4u);`);
  if (spec.vecB && !spec.transposeB) for (const v of range(vn)) out.push(`  let cg_${v} = min(col_${v}, mm_p.N - 4u);`);
  for (const i of range(tm)) for (const v of range(vn)) out.push(`  var acc_${i}_${v} = vec4<f32>(0.0);`);
  out.push(...sumDeclarations(spec, tm, vn, true));
  const shared = sg === undefined ? undefined : subgroupA(spec, sg);
  if (shared) out.push(...shared.setup);
  // Row sums with shared A loads: per-lane sums of the loaded values, gathered per row after the loop.
  const partials = spec.sums === 'rows' && shared ? shared.partial : undefined;
  if (partials) partials.loaded.forEach((_, g) => out.push(`  var sp_${g} = ${partials.type}(0.0);`));
  out.push(`  let mm_k4 = mm_p.K & ~3u;
  for (var k = 0u; k < mm_k4; k = k + 4u) {`);
  // a_i_kk: scalar A[row_i, k + kk].
  const aVal = (i: number, kk: number): string => `a_${i}_${kk}`;
  if (shared) {
    out.push(...shared.loads);
  } else if (!spec.transposeA && spec.vecA) {
    for (const i of range(tm)) out.push(`    let av_${i} = mm_A[(${indexA(spec, `rc_${i}`, 'k')}) >> 2u];`);
  } else if (aRowGroups) {
    for (const g of range(tm / 4))
      for (const kk of range(4))
        out.push(`    let ag_${g}_${kk} = mm_A[(${indexA(spec, `rg_${g}`, `k + ${kk}u`)}) >> 2u];`);
  }
  const aExpr = (i: number, kk: number): string => {
    if (shared) return shared.value(i, kk);
    if (!spec.transposeA && spec.vecA) return `av_${i}[${kk}]`;
    if (aRowGroups) return `ag_${Math.floor(i / 4)}_${kk}[${i % 4}]`;
    return `mm_a(${indexA(spec, `rc_${i}`, `k + ${kk}u`)})`;
  };
  for (const i of range(tm)) for (const kk of range(4)) out.push(`    let ${aVal(i, kk)} = ${aExpr(i, kk)};`);
  // b_kk_v: vec4 of B[k + kk, col_v .. col_v + 3].
  if (spec.transposeB && spec.vecB) {
    for (const v of range(vn))
      for (const c of range(4)) out.push(`    let bt_${v}_${c} = mm_B[(${indexB(spec, 'k', `cc_${v}_${c}`)}) >> 2u];`);
  }
  const bExpr = (kk: number, v: number): string => {
    if (spec.transposeB && spec.vecB)
      return `vec4<f32>(${range(4)
        .map((c) => `bt_${v}_${c}[${kk}]`)
        .join(', ')})`;
    if (spec.vecB) return `mm_B[(${indexB(spec, `k + ${kk}u`, `cg_${v}`)}) >> 2u]`;
    return `vec4<f32>(${range(4)
      .map((c) => `mm_b(${indexB(spec, `k + ${kk}u`, `cc_${v}_${c}`)})`)
      .join(', ')})`;
  };
  // The four steps' products are summed first and added to the accumulator once: on SIMD-across-invocations
  // compilers (llvmpipe) every write of a loop-carried variable is a blend with the execution mask plus a spill
  // store, which four chained fma into the accumulator paid four times.
  for (const kk of range(4)) for (const v of range(vn)) out.push(`    let b_${kk}_${v} = ${bExpr(kk, v)};`);
  if (partials) partials.loaded.forEach((name, g) => out.push(`    sp_${g} = sp_${g} + ${name};`));
  else
    out.push(
      ...sumUpdates(
        spec,
        (i) => range(4).map((kk) => aVal(i, kk)),
        vn,
        (v) => range(4).map((kk) => `b_${kk}_${v}`),
      ),
    );
  for (const i of range(tm))
    for (const v of range(vn)) {
      let sum = `vec4<f32>(${aVal(i, 0)}) * b_0_${v}`;
      for (const kk of [1, 2, 3]) sum = `fma(vec4<f32>(${aVal(i, kk)}), b_${kk}_${v}, ${sum})`;
      out.push(`    acc_${i}_${v} = acc_${i}_${v} + ${sum};`);
    }
  out.push(`  }`);
  // The K remainder (fewer than 4 steps), with scalar accessors.
  out.push(`  for (var k = mm_k4; k < mm_p.K; k = k + 1u) {`);
  for (const v of range(vn))
    out.push(
      `    let b_${v} = vec4<f32>(${range(4)
        .map((c) => `mm_b(${indexB(spec, 'k', `cc_${v}_${c}`)})`)
        .join(', ')});`,
    );
  if (sg !== undefined)
    for (const g of range(Math.ceil(tm / sg))) out.push(`    let at_${g} = mm_a(${indexA(spec, `rt_${g}`, 'k')});`);
  for (const i of range(tm)) {
    const a =
      sg === undefined
        ? `mm_a(${indexA(spec, `rc_${i}`, 'k')})`
        : `subgroupBroadcast(at_${Math.floor(i / sg)}, ${i % sg}u)`;
    out.push(`    let a_${i} = ${a};`);
    for (const v of range(vn)) out.push(`    acc_${i}_${v} = fma(vec4<f32>(a_${i}), b_${v}, acc_${i}_${v});`);
  }
  out.push(
    ...sumUpdates(
      spec,
      (i) => [`a_${i}`],
      vn,
      (v) => [`b_${v}`],
    ),
  );
  out.push(`  }`);
  out.push(stores(spec, tm, vn));
  // The gathering broadcasts run in uniform control flow, before the stores' lane test.
  if (partials) for (const i of range(tm)) out.push(`  rs_${i} = rs_${i} + ${partials.rowSum(i)};`);
  out.push(
    ...sumStores(
      spec,
      tm,
      { count: vn, width: 4, col: (v) => `col_${v}` },
      { rows: 'lid.x == 0u', cols: 'lid.y == 0u' },
    ),
  );
  const body = out.join('\n');
  return `@compute @workgroup_size(${wgX}, ${wgY})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>${laneArg}) {
${claim ? `  loop {\n${indent(body)}\n  }` : body}
}`;
}

/**
 * The workgroup family. The slab `mm_As[kk][r]` (BK x rows, row-fastest) and `mm_Bs[kk][c]` (BK x cols, as vec4
 * along c) is filled by all invocations with loads whose consecutive invocations read consecutive addresses of the
 * operand's contiguous axis; out-of-range elements are stored as zeros, so the inner loop needs no checks.
 */
function workgroupKernel(spec: MatmulKernelSpec): string {
  const { wgX, wgY, tm, tn, bk } = spec.config;
  const vn = tn / 4;
  const { rows, cols } = workgroupTile(spec.config);
  const threads = wgX * wgY;
  const perA = (bk * rows) / threads;
  const perB = (bk * cols) / threads;
  // Decompose slab element e into (kk, r) so that consecutive e walk the operand's contiguous axis.
  const aCoord = spec.transposeA ? { kk: `e / ${rows}u`, r: `e % ${rows}u` } : { kk: `e % ${bk}u`, r: `e / ${bk}u` };
  const bCoord = spec.transposeB ? { kk: `e % ${bk}u`, c: `e / ${bk}u` } : { kk: `e / ${cols}u`, c: `e % ${cols}u` };
  const out: string[] = [];
  out.push(`var<workgroup> mm_As: array<f32, ${bk * rows}>;
var<workgroup> mm_Bs: array<f32, ${bk * cols}>;

@compute @workgroup_size(${wgX}, ${wgY})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>,
        @builtin(local_invocation_index) lidx: u32) {
${tileHead()}
  let mm_rowTile = mm_tileRow * ${rows}u;
  let mm_colTile = mm_tileCol * ${cols}u;`);
  for (const i of range(tm)) out.push(`  let row_${i} = mm_rowTile + lid.y * ${tm}u + ${i}u;`);
  for (const v of range(vn)) out.push(`  let col_${v} = mm_colTile + ${4 * v * wgX}u + lid.x * 4u;`);
  for (const i of range(tm)) for (const v of range(vn)) out.push(`  var acc_${i}_${v} = vec4<f32>(0.0);`);
  out.push(...sumDeclarations(spec, tm, vn, true));
  out.push(`  for (var k0 = 0u; k0 < mm_p.K; k0 = k0 + ${bk}u) {
    for (var j = 0u; j < ${perA}u; j = j + 1u) {
      let e = j * ${threads}u + lidx;
      let kk = ${aCoord.kk};
      let r = ${aCoord.r};
      let gr = mm_rowTile + r;
      let gk = k0 + kk;
      var v = 0.0;
      if (gr < mm_p.M && gk < mm_p.K) { v = mm_a(${indexA(spec, 'gr', 'gk')}); }
      mm_As[kk * ${rows}u + r] = v;
    }
    for (var j = 0u; j < ${perB}u; j = j + 1u) {
      let e = j * ${threads}u + lidx;
      let kk = ${bCoord.kk};
      let c = ${bCoord.c};
      let gc = mm_colTile + c;
      let gk = k0 + kk;
      var v = 0.0;
      if (gc < mm_p.N && gk < mm_p.K) { v = mm_b(${indexB(spec, 'gk', 'gc')}); }
      mm_Bs[kk * ${cols}u + c] = v;
    }
    workgroupBarrier();
    for (var kk = 0u; kk < ${bk}u; kk = kk + 1u) {`);
  for (const i of range(tm)) out.push(`      let a_${i} = mm_As[kk * ${rows}u + lid.y * ${tm}u + ${i}u];`);
  for (const v of range(vn)) {
    const base = `kk * ${cols}u + ${4 * v * wgX}u + lid.x * 4u`;
    out.push(
      `      let b_${v} = vec4<f32>(${range(4)
        .map((c) => `mm_Bs[${base} + ${c}u]`)
        .join(', ')});`,
    );
  }
  for (const i of range(tm))
    for (const v of range(vn)) out.push(`      acc_${i}_${v} = fma(vec4<f32>(a_${i}), b_${v}, acc_${i}_${v});`);
  // Out-of-range slab elements are zeros, which add nothing to a sum.
  out.push(
    ...sumUpdates(
      spec,
      (i) => [`a_${i}`],
      vn,
      (v) => [`b_${v}`],
    ).map((line) => `  ${line}`),
  );
  out.push(`    }
    workgroupBarrier();
  }`);
  out.push(stores(spec, tm, vn));
  out.push(
    ...sumStores(
      spec,
      tm,
      { count: vn, width: 4, col: (v) => `col_${v}` },
      { rows: 'lid.x == 0u', cols: 'lid.y == 0u' },
    ),
  );
  out.push(`}`);
  return out.join('\n');
}

function kernelBody(spec: MatmulKernelSpec): string {
  switch (spec.config.family) {
    case 'register':
      return registerKernel(spec);
    case 'broadcast':
      return broadcastKernel(spec);
    case 'workgroup':
      return workgroupKernel(spec);
  }
}

/**
 * The broadcast family: rows `tileRow*TM + i` are the same for the whole workgroup (no `local_invocation_id` in any
 * A address), columns are `colBase + j*wgX + lid.x`. A is read as vec4 along K (or along M when transposed) where
 * bound as vec4, B element by element (or as vec4 along K when transposed).
 */
function broadcastKernel(spec: MatmulKernelSpec): string {
  const { wgX, tm, tn } = spec.config;
  const { rows, cols } = workgroupTile(spec.config);
  const out: string[] = [];
  out.push(`@compute @workgroup_size(${wgX}, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
${tileHead()}
  let mm_rowBase = mm_tileRow * ${rows}u;
  let mm_colBase = mm_tileCol * ${cols}u + lid.x;`);
  for (const i of range(tm)) {
    out.push(`  let row_${i} = mm_rowBase + ${i}u;`);
    out.push(`  let rc_${i} = min(row_${i}, mm_p.M - 1u);`);
  }
  for (const j of range(tn)) {
    out.push(`  let col_${j} = mm_colBase + ${j * wgX}u;`);
    out.push(`  let cc_${j} = min(col_${j}, mm_p.N - 1u);`);
  }
  const aRowGroups = spec.transposeA && spec.vecA && tm % 4 === 0;
  if (aRowGroups) for (const g of range(tm / 4)) out.push(`  let rg_${g} = min(row_${4 * g}, mm_p.M - 4u);`);
  for (const i of range(tm)) for (const j of range(tn)) out.push(`  var acc_${i}_${j} = 0.0;`);
  out.push(...sumDeclarations(spec, tm, tn, false));
  out.push(`  let mm_k4 = mm_p.K & ~3u;
  for (var k = 0u; k < mm_k4; k = k + 4u) {`);
  if (!spec.transposeA && spec.vecA) {
    for (const i of range(tm)) out.push(`    let av_${i} = mm_A[(${indexA(spec, `rc_${i}`, 'k')}) >> 2u];`);
  } else if (aRowGroups) {
    for (const g of range(tm / 4))
      for (const kk of range(4))
        out.push(`    let ag_${g}_${kk} = mm_A[(${indexA(spec, `rg_${g}`, `k + ${kk}u`)}) >> 2u];`);
  }
  const aExpr = (i: number, kk: number): string => {
    if (!spec.transposeA && spec.vecA) return `av_${i}[${kk}]`;
    if (aRowGroups) return `ag_${Math.floor(i / 4)}_${kk}[${i % 4}]`;
    return `mm_a(${indexA(spec, `rc_${i}`, `k + ${kk}u`)})`;
  };
  const bVec = spec.transposeB && spec.vecB;
  if (bVec) for (const j of range(tn)) out.push(`    let bt_${j} = mm_B[(${indexB(spec, 'k', `cc_${j}`)}) >> 2u];`);
  for (const kk of range(4)) {
    for (const i of range(tm)) out.push(`    let a_${i}_${kk} = ${aExpr(i, kk)};`);
    for (const j of range(tn))
      out.push(`    let b_${kk}_${j} = ${bVec ? `bt_${j}[${kk}]` : `mm_b(${indexB(spec, `k + ${kk}u`, `cc_${j}`)})`};`);
    for (const i of range(tm))
      for (const j of range(tn)) out.push(`    acc_${i}_${j} = fma(a_${i}_${kk}, b_${kk}_${j}, acc_${i}_${j});`);
  }
  out.push(
    ...sumUpdates(
      spec,
      (i) => range(4).map((kk) => `a_${i}_${kk}`),
      tn,
      (j) => range(4).map((kk) => `b_${kk}_${j}`),
    ),
  );
  out.push(`  }
  for (var k = mm_k4; k < mm_p.K; k = k + 1u) {`);
  for (const j of range(tn)) out.push(`    let b_${j} = mm_b(${indexB(spec, 'k', `cc_${j}`)});`);
  for (const i of range(tm)) {
    out.push(`    let a_${i} = mm_a(${indexA(spec, `rc_${i}`, 'k')});`);
    for (const j of range(tn)) out.push(`    acc_${i}_${j} = fma(a_${i}, b_${j}, acc_${i}_${j});`);
  }
  out.push(
    ...sumUpdates(
      spec,
      (i) => [`a_${i}`],
      tn,
      (j) => [`b_${j}`],
    ),
  );
  out.push(`  }`);
  for (const i of range(tm))
    for (const j of range(tn))
      out.push(
        `  mm_store(batch, row_${i}, col_${j}, acc_${i}_${j}${columnArgs(spec, `row_${i}`, `col_${j}`)}${elementArgs(spec, `row_${i}`, `col_${j}`)});`,
      );
  out.push(
    ...sumStores(spec, tm, { count: tn, width: 1, col: (j) => `col_${j}` }, { rows: 'lid.x == 0u', cols: 'true' }),
  );
  out.push(`}`);
  return out.join('\n');
}

/** The WGSL source of one kernel of the family (entry point `main`). */
export function generateMatmulWgsl(spec: MatmulKernelSpec): string {
  checkConfig(spec.config);
  if (spec.epilogue) checkEpilogue(spec.epilogue);
  if (spec.vecC && (spec.config.family === 'broadcast' || spec.storeTransposed))
    throw new RangeError('matmul: vec4 stores need the register or workgroup family and C stored as computed');
  if (spec.claimTiles && !canClaimTiles(spec.config))
    throw new RangeError('matmul: claiming tiles needs a register tile of one subgroup per workgroup');
  const body = kernelBody(spec);
  // A claimed tile number is the same in every lane of the workgroup's one subgroup, so the subgroup operations
  // after the claim run in uniform control flow, which WGSL's workgroup-level analysis cannot see.
  const enable =
    spec.config.subgroup === undefined
      ? ''
      : `enable subgroups;\n${spec.claimTiles ? 'diagnostic(off, subgroup_uniformity);\n' : ''}\n`;
  return `// ${matmulKernelName(spec)} (generated by vitm)\n${enable}${prelude(spec)}\n${body}\n`;
}
