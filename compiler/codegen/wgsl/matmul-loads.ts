/**
 * What the matmul kernels read: the index expressions of op(A) and op(B) elements, and the A values a subgroup shares
 * (`MatmulConfig.subgroup`). The generator is ./matmul.ts.
 */
import type { MatmulKernelSpec } from './matmul-spec.js';

const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

/**
 * Index expressions of logical A[row, k] and B[k, col] (element offsets, batch offset included), with `row`/`col`/`k`
 * as WGSL expressions.
 */
export function indexA(spec: MatmulKernelSpec, row: string, k: string): string {
  return spec.transposeA ? `mm_offA + (${k}) * mm_p.lda + ${row}` : `mm_offA + ${row} * mm_p.lda + (${k})`;
}
export function indexB(spec: MatmulKernelSpec, k: string, col: string): string {
  return spec.transposeB ? `mm_offB + ${col} * mm_p.ldb + (${k})` : `mm_offB + (${k}) * mm_p.ldb + ${col}`;
}

/**
 * A loads shared by the lanes of a subgroup (register family, wgY = 1, so every lane needs the same TM x 4 values of
 * A per reduction step). The values are numbered and lane s of load group g loads value g*S + s, as one vec4 where
 * the layout allows it; `value(i, kk)` then takes A[row_i, k + kk] from its lane with `subgroupBroadcast`. Lanes past
 * the last value load a clamped duplicate. `setup` goes before the reduction loop, `loads` at the top of its body;
 * `rt_g` (row of lane s in group g, for the scalar K remainder) is set up too.
 */
export function subgroupA(
  spec: MatmulKernelSpec,
  sg: number,
): {
  setup: string[];
  loads: string[];
  value: (i: number, kk: number) => string;
  /** Row sums (`MatmulKernelSpec.sums`): each lane adds up what it loads, `rowSum` gathers a row's total at the end. */
  partial: { type: string; loaded: string[]; rowSum: (i: number) => string };
} {
  const { tm } = spec.config;
  const setup: string[] = [];
  const loads: string[] = [];
  const lane = (g: number, count: number): string => `min(${g * sg}u + mm_lane, ${count - 1}u)`;
  for (const g of range(Math.ceil(tm / sg)))
    setup.push(`  let rt_${g} = min(mm_rowBase + ${lane(g, tm)}, mm_p.M - 1u);`);
  if (!spec.transposeA && spec.vecA) {
    // Value i is the vec4 A[row_i, k .. k + 3].
    for (const g of range(Math.ceil(tm / sg)))
      loads.push(`    let sav_${g} = mm_A[(${indexA(spec, `rt_${g}`, 'k')}) >> 2u];`);
    for (const i of range(tm))
      loads.push(`    let sa_${i} = subgroupBroadcast(sav_${Math.floor(i / sg)}, ${i % sg}u);`);
    const groups = range(Math.ceil(tm / sg));
    return {
      setup,
      loads,
      value: (i, kk) => `sa_${i}[${kk}]`,
      partial: {
        type: 'vec4<f32>',
        loaded: groups.map((g) => `sav_${g}`),
        rowSum: (i) => `dot(subgroupBroadcast(sp_${Math.floor(i / sg)}, ${i % sg}u), vec4<f32>(1.0))`,
      },
    };
  }
  if (spec.transposeA && spec.vecA && tm % 4 === 0) {
    // Value c = 4q + kk is the vec4 A[row_4q .. row_4q + 3, k + kk] (contiguous in the stored [K, M]).
    for (const g of range(Math.ceil(tm / sg))) {
      setup.push(`  let sq_${g} = ${lane(g, tm)};`);
      setup.push(`  let srq_${g} = min(mm_rowBase + (sq_${g} >> 2u) * 4u, mm_p.M - 4u);`);
      loads.push(`    let sag_${g} = mm_A[(${indexA(spec, `srq_${g}`, `k + (sq_${g} & 3u)`)}) >> 2u];`);
    }
    for (const c of range(tm))
      loads.push(`    let sa_${c} = subgroupBroadcast(sag_${Math.floor(c / sg)}, ${c % sg}u);`);
    const part = (c: number): string => `subgroupBroadcast(sp_${Math.floor(c / sg)}, ${c % sg}u)[`;
    return {
      setup,
      loads,
      value: (i, kk) => `sa_${4 * Math.floor(i / 4) + kk}[${i % 4}]`,
      partial: {
        type: 'vec4<f32>',
        loaded: range(Math.ceil(tm / sg)).map((g) => `sag_${g}`),
        rowSum: (i) =>
          range(4)
            .map((kk) => `${part(4 * Math.floor(i / 4) + kk)}${i % 4}]`)
            .join(' + '),
      },
    };
  }
  // Any layout, element by element: value c = 4i + kk is A[row_i, k + kk].
  for (const g of range(Math.ceil((4 * tm) / sg))) {
    setup.push(`  let sc_${g} = ${lane(g, 4 * tm)};`);
    setup.push(`  let src_${g} = min(mm_rowBase + (sc_${g} >> 2u), mm_p.M - 1u);`);
    loads.push(`    let sas_${g} = mm_a(${indexA(spec, `src_${g}`, `k + (sc_${g} & 3u)`)});`);
  }
  const value = (i: number, kk: number): string =>
    `subgroupBroadcast(sas_${Math.floor((4 * i + kk) / sg)}, ${(4 * i + kk) % sg}u)`;
  return {
    setup,
    loads,
    value,
    partial: {
      type: 'f32',
      loaded: range(Math.ceil((4 * tm) / sg)).map((g) => `sas_${g}`),
      rowSum: (i) =>
        range(4)
          .map((kk) => `subgroupBroadcast(sp_${Math.floor((4 * i + kk) / sg)}, ${(4 * i + kk) % sg}u)`)
          .join(' + '),
    },
  };
}
