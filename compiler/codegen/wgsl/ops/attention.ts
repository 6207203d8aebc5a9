/**
 * Fused attention: `softmax(Q K^T * scale) V` as one kernel, for devices whose subgroups all have one known size.
 *
 * The pattern, as the stdlib's `Attention` and any model written the same way produce it:
 *
 *     S = matmul(Q, K, transposeB)       single use
 *     X = mul(S, c)                      optional; c a scalar `full`; single use
 *     P = softmax(X, axis: last)         single use
 *     O = matmul(P, V)
 *     T = transpose(O, perm)             optional (the heads' merge), when it is O's only use and keeps the last axis
 *
 * Q, K and V are read where they lie: through reshapes that only drop or add axes of size 1 and through the
 * `slice(transpose(qkv))` split into heads (compose.ts), so the split's copies are not made; O is written straight
 * into T's layout. Neither the scores nor the probabilities are ever stored.
 *
 * The kernel: one workgroup of S invocations (one subgroup, S its size) per batch index (image and head) and block of
 * S * R query rows, R rows per invocation (`attentionRowsPerLane`). For each key the lanes split the loads of the key's
 * K and V rows (one vec4 per lane and round) and `subgroupBroadcast` hands every value to every lane, where all R rows
 * read it: on llvmpipe a storage load whose address is not a constant costs a loop over the lanes, so the subgroup
 * loads each K and V value once per block instead of once per lane and row. Keys go in blocks of 8 with an online
 * softmax: the block's scores, their running maximum, one rescaling of the accumulators per block, `exp2` of each
 * score less the maximum (the scale folded with log2 e into Q). Each row's result is the accumulated sum over the
 * sum of the weights, as softmax then matmul compute it, with the sums in a different order.
 */

import type { Equation, EquationOf, Graph, Value } from '../../../ir/graph.js';
import type { BufferRef, WgslKernel } from '../../kernel.js';
import { f32Bits, Params, sizeOf, splitGrid, stridesOf, type DeviceCaps } from './common.js';
import type { LayoutCompositions } from './compose.js';
import { transposeStrides } from './layout.js';

/** A strided f32 view: element `base + sum(batch[i] * index[i]) + row * r + c` for the matrix row r, column c. */
export interface AttentionView {
  readonly buffer: BufferRef;
  readonly base: number;
  readonly batch: readonly number[];
  readonly row: number;
}

/** The problem: sizes and the scale of the scores. */
export interface AttentionProblem {
  /** The batch axes' sizes (shared by Q, K, V and the result). */
  readonly batch: readonly number[];
  /** Query rows, keys, the width of Q and K, the width of V. */
  readonly n: number;
  readonly m: number;
  readonly d: number;
  readonly dv: number;
  readonly scale: number;
}

export interface AttentionSpec extends AttentionProblem {
  readonly q: AttentionView;
  readonly k: AttentionView;
  readonly v: AttentionView;
  readonly out: AttentionView;
  /** The subgroup size: the invocations per workgroup. */
  readonly lanes: number;
  /** Query rows per invocation (default 1): the subgroup's loads of each key's K and V rows serve them all. */
  readonly rowsPerLane?: number;
}

/** The widest Q/K and V rows the kernel takes (its loads and dot products are unrolled over them). */
export const MAX_ATTENTION_WIDTH = 128;

/**
 * The most query rows one invocation takes. The kernel is unrolled over them (a 16-row kernel is about 2,000 lines
 * of WGSL, compiled by llvmpipe in about 0.13 s).
 */
export const MAX_ATTENTION_ROWS_PER_LANE = 16;

/**
 * Query rows per invocation for `n` rows and subgroups of `lanes`: as few blocks of rows as the cap allows, the rows
 * spread evenly over them. Every block loads each key's K and V rows once (on llvmpipe the loads, not the arithmetic,
 * bound this kernel), so fewer, taller blocks load less: at n = 50 with 8 lanes, one block of 7 rows per lane instead
 * of seven blocks of one measured about 1.4 times faster, and at n = 197 two blocks of 13 about 1.7 times.
 */
export function attentionRowsPerLane(n: number, lanes: number): number {
  const blocks = Math.ceil(n / (lanes * MAX_ATTENTION_ROWS_PER_LANE));
  return Math.max(1, Math.ceil(n / (lanes * blocks)));
}

/** Keys per online-softmax block. */
const KEY_BLOCK = 8;

const sameBuffer = (a: BufferRef, b: BufferRef): boolean =>
  a.kind === b.kind && (a.kind === 'value' ? a.id === (b as typeof a).id : a.index === (b as typeof a).index);

/** The fused kernel for `spec` (vec4 access: every view's base and strides multiples of 4; checked). */
export function attentionKernel(spec: AttentionSpec, caps: DeviceCaps): WgslKernel {
  const { n, m, d, dv, lanes: S } = spec;
  const R = spec.rowsPerLane ?? 1;
  const views = [spec.q, spec.k, spec.v, spec.out];
  const aligned = (x: number): boolean => x % 4 === 0;
  if (d % 4 !== 0 || dv % 4 !== 0 || !views.every((w) => aligned(w.base) && aligned(w.row) && w.batch.every(aligned)))
    throw new RangeError('attention kernel: widths, bases and strides must be multiples of 4');
  if (n < 1 || m < 1 || S < 1) throw new RangeError('attention kernel: empty problem');
  if (!Number.isInteger(R) || R < 1) throw new RangeError('attention kernel: rowsPerLane must be a positive integer');
  const d4 = d / 4;
  const dv4 = dv / 4;
  const slots = d4 + dv4;
  const rounds = Math.ceil(slots / S);
  const blocks = Math.ceil(n / (S * R));
  const batches = sizeOf(spec.batch);
  const workgroups = blocks * batches;

  // Distinct input buffers (Q, K and V are often three views of one projection).
  const inputs: BufferRef[] = [];
  const nameOf = (b: BufferRef): string => {
    let i = inputs.findIndex((x) => sameBuffer(x, b));
    if (i < 0) {
      inputs.push(b);
      i = inputs.length - 1;
    }
    return `in${i}`;
  };
  const qName = nameOf(spec.q.buffer);
  const kName = nameOf(spec.k.buffer);
  const vName = nameOf(spec.v.buffer);
  const kvShared = kName === vName;

  const lines: string[] = [];
  const emit = (s: string): number => lines.push(s);
  emit(`  let wg = (wid.z * nwg.y + wid.y) * nwg.x + wid.x;`);
  emit(`  if (wg >= vitm_params.w[0].x) { return; }`);
  emit(`  let qb = wg % ${blocks}u;`);
  emit(`  var rest = wg / ${blocks}u;`);
  emit(`  var oq = ${spec.q.base}u;`);
  emit(`  var ok = ${spec.k.base}u;`);
  emit(`  var ov = ${spec.v.base}u;`);
  emit(`  var oo = ${spec.out.base}u;`);
  for (let a = spec.batch.length - 1; a >= 0; a--) {
    const size = spec.batch[a] as number;
    if (size === 1) continue;
    const st = (w: AttentionView): number => w.batch[a] as number;
    emit(`  { let c = rest % ${size}u; rest = rest / ${size}u;`);
    emit(
      `    oq += c * ${st(spec.q)}u; ok += c * ${st(spec.k)}u; ov += c * ${st(spec.v)}u; oo += c * ${st(spec.out)}u; }`,
    );
  }
  // Rows qb * S * R + rho * S + lid for rho < R: each per-row name carries its rho.
  const rows = Array.from({ length: R }, (_, rho) => rho);
  for (const rho of rows) {
    emit(`  let row${rho} = qb * ${S * R}u + ${rho * S}u + lid;`);
    emit(`  let qr${rho} = (oq + min(row${rho}, ${n - 1}u) * ${spec.q.row}u) >> 2u;`);
  }
  // Scores in base 2: q * scale * log2(e), so exp(x * scale) = exp2(q' . k).
  const c = Math.fround(spec.scale * Math.LOG2E);
  for (const rho of rows) {
    for (let i = 0; i < d4; i++)
      emit(`  let q${rho}_${i} = ${qName}[qr${rho} + ${i}u] * bitcast<f32>(${f32Bits(c)}u);`);
    for (let i = 0; i < dv4; i++) emit(`  var acc${rho}_${i} = vec4<f32>(0.0);`);
    emit(`  var mx${rho} = -3.0e38;`);
    emit(`  var l${rho} = 0.0;`);
  }
  // Each lane's share of a key's loads: slot t = r * S + lane is K's vec4 t, or V's vec4 t - d/4; idle lanes
  // (t beyond both rows) read K's first vec4 and nobody takes it.
  for (let r = 0; r < rounds; r++) {
    emit(`  let t${r} = ${r * S}u + lane;`);
    emit(`  var sb${r} = ok;`);
    emit(`  var ss${r} = ${spec.k.row}u;`);
    if (!kvShared) emit(`  var sk${r} = true;`);
    emit(`  if (t${r} < ${d4}u) { sb${r} = ok + 4u * t${r}; }`);
    const toV = kvShared ? '' : ` sk${r} = false;`;
    emit(`  else if (t${r} < ${slots}u) { sb${r} = ov + 4u * (t${r} - ${d4}u); ss${r} = ${spec.v.row}u;${toV} }`);
  }
  const load = (r: number, key: string): string => {
    const at = `(sb${r} + (${key}) * ss${r}) >> 2u`;
    if (kvShared) return `${kName}[${at}]`;
    return `select(${vName}[min(${at}, arrayLength(&${vName}) - 1u)], ${kName}[min(${at}, arrayLength(&${kName}) - 1u)], sk${r})`;
  };
  const slot = (u: number, t: number): string => `subgroupBroadcast(x${u}_${Math.floor(t / S)}, ${t % S}u)`;
  const block = (key: (u: number) => string, count: number, indent: string): void => {
    const e = (s: string): number => emit(indent + s);
    for (let u = 0; u < count; u++) for (let r = 0; r < rounds; r++) e(`let x${u}_${r} = ${load(r, key(u))};`);
    // Key by key, each broadcast once for all rows and then dropped: the scores, ...
    for (let u = 0; u < count; u++) {
      for (let i = 0; i < d4; i++) e(`let k${u}_${i} = ${slot(u, i)};`);
      for (const rho of rows) {
        const terms = Array.from({ length: d4 }, (_, i) => `dot(q${rho}_${i}, k${u}_${i})`);
        e(`let s${rho}_${u} = ${terms.join(' + ')};`);
      }
    }
    for (const rho of rows) {
      const scores = Array.from({ length: count }, (_, u) => `s${rho}_${u}`);
      e(`let mn${rho} = max(mx${rho}, ${scores.reduce((a, b) => `max(${a}, ${b})`)});`);
      e(`let corr${rho} = exp2(mx${rho} - mn${rho});`);
      e(`mx${rho} = mn${rho};`);
      for (let u = 0; u < count; u++) e(`let p${rho}_${u} = exp2(s${rho}_${u} - mn${rho});`);
      e(`l${rho} = l${rho} * corr${rho} + ${scores.map((_, u) => `p${rho}_${u}`).join(' + ')};`);
      for (let i = 0; i < dv4; i++) e(`acc${rho}_${i} = acc${rho}_${i} * corr${rho};`);
    }
    // ... then the weighted V rows.
    for (let u = 0; u < count; u++) {
      for (let i = 0; i < dv4; i++) e(`let v${u}_${i} = ${slot(u, d4 + i)};`);
      for (const rho of rows)
        for (let i = 0; i < dv4; i++) e(`acc${rho}_${i} = acc${rho}_${i} + p${rho}_${u} * v${u}_${i};`);
    }
  };
  const full = Math.floor(m / KEY_BLOCK) * KEY_BLOCK;
  if (full > 0) {
    emit(`  for (var j = 0u; j < ${full}u; j += ${KEY_BLOCK}u) {`);
    block((u) => `j + ${u}u`, KEY_BLOCK, '    ');
    emit(`  }`);
  }
  if (m > full) {
    emit(`  {`);
    block((u) => `${full + u}u`, m - full, '    ');
    emit(`  }`);
  }
  for (const rho of rows) {
    emit(`  if (row${rho} < ${n}u) {`);
    emit(`    let inv = 1.0 / l${rho};`);
    emit(`    let o = (oo + row${rho} * ${spec.out.row}u) >> 2u;`);
    for (let i = 0; i < dv4; i++) emit(`    out[o + ${i}u] = acc${rho}_${i} * inv;`);
    emit(`  }`);
  }

  const params = new Params();
  params.push(workgroups);
  const words = params.finish();
  const name = `attention[f32:sg${S}${R > 1 ? `:r${R}` : ''}:n${n}:m${m}:d${d}:dv${dv}${kvShared ? ':kv' : ''}]`;
  const decls = inputs
    .map((_, i) => `@group(0) @binding(${i + 1}) var<storage, read> in${i}: array<vec4<f32>>;`)
    .concat(`@group(0) @binding(${inputs.length + 1}) var<storage, read_write> out: array<vec4<f32>>;`)
    .join('\n');
  const wgsl = `enable subgroups;

// ${name}
struct Params { w: array<vec4<u32>, ${words.length / 4}> }
@group(0) @binding(0) var<uniform> vitm_params: Params;
${decls}

@compute @workgroup_size(${S})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32, @builtin(subgroup_invocation_id) lane: u32) {
${lines.join('\n')}
}
`;
  return {
    kind: 'wgsl',
    name,
    wgsl,
    entryPoint: 'main',
    params: words,
    bindings: [
      ...inputs.map((buffer) => ({ buffer, access: 'read' as const })),
      { buffer: spec.out.buffer, access: 'read_write' },
    ],
    grid: splitGrid(workgroups, caps.maxWorkgroupsPerDimension),
  };
}

/** A view of a value not yet bound to a buffer: the value whose buffer it reads, and its layout. */
interface PendingView {
  readonly source: Value;
  readonly base: number;
  readonly batch: readonly number[];
  readonly row: number;
}

/** One attention found in a graph: its equations, operands and layout, resolved to buffers when lowered. */
export interface AttentionMatch extends AttentionProblem {
  /** The equation whose result the kernel writes (O, or T when the heads' merge is folded in). */
  readonly anchor: Equation;
  /** Every equation the kernel computes or reads through (none of them is lowered on its own). */
  readonly covered: readonly Equation[];
  readonly q: PendingView;
  readonly k: PendingView;
  readonly v: PendingView;
  /** The result's batch and row strides in the anchor's buffer. */
  readonly out: { readonly batch: readonly number[]; readonly row: number };
}

/**
 * The attentions of `graph` the fused kernel computes, by anchor result id. `uses` counts graph outputs too, so a
 * value read elsewhere (the probabilities kept for a backward pass, say) is never folded away: training graphs keep
 * their separate kernels.
 */
export function findAttentions(
  graph: Graph,
  uses: ReadonlyMap<number, number>,
  layouts: LayoutCompositions,
  shapeOf: (v: Value) => number[],
  groupOf: (id: number) => readonly Equation[] | undefined,
): Map<number, AttentionMatch> {
  const defs = new Map<number, Equation>();
  const consumers = new Map<number, Equation[]>();
  for (const eq of graph.equations) {
    defs.set(eq.out.id, eq);
    for (const a of eq.args) {
      const list = consumers.get(a.id);
      if (list) list.push(eq);
      else consumers.set(a.id, [eq]);
    }
  }
  const single = (v: Value): boolean => uses.get(v.id) === 1;
  const f32 = (v: Value): boolean => v.type.dtype === 'f32';
  const result = new Map<number, AttentionMatch>();
  const claimed = new Set<number>();

  /** Reads `v` through single-use reshapes (size-1 axes only) and a split of heads; the equations passed. */
  const view = (v: Value): { view: PendingView; through: Equation[] } => {
    const shape = shapeOf(v);
    const contiguous = (): { view: PendingView; through: Equation[] } => {
      const st = stridesOf(shape);
      return { view: { source: v, base: 0, batch: st.slice(0, -2), row: st[st.length - 2] ?? 0 }, through: [] };
    };
    const def = defs.get(v.id);
    if (!def || !single(v) || claimed.has(v.id)) return contiguous();
    if (def.op === 'reshape') {
      const src = def.args[0];
      if (!src) return contiguous();
      const inner = stridedSource(src);
      if (!inner) return contiguous();
      const kept = squeezeMap(shapeOf(src), shape);
      if (!kept) return contiguous();
      const strides = kept.map((i) => (i < 0 ? 0 : (inner.strides[i] as number)));
      return {
        view: {
          source: inner.source,
          base: inner.base,
          batch: strides.slice(0, -2),
          row: strides[shape.length - 2] ?? 0,
        },
        through: [def, ...inner.through],
      };
    }
    return contiguous();
  };
  /** `src` as a strided view: a slice of a split of heads (every use of the transpose a slice), or its own buffer. */
  const stridedSource = (
    src: Value,
  ): { source: Value; base: number; strides: readonly number[]; through: Equation[] } | undefined => {
    const def = defs.get(src.id);
    const transpose = layouts.sliceOfTranspose.get(src.id);
    if (def?.op === 'slice' && transpose && single(src) && !claimed.has(src.id)) {
      const x = transpose.args[0];
      if (!x) return undefined;
      const strides = transposeStrides(shapeOf(x), transpose.attrs.perm);
      const slice = def;
      return { source: x, base: slice.attrs.start * (strides[slice.attrs.axis] ?? 0), strides, through: [def] };
    }
    return { source: src, base: 0, strides: stridesOf(shapeOf(src)), through: [] };
  };

  for (const eq of graph.equations) {
    if (eq.op !== 'matmul') continue;
    const o = eq;
    if (o.attrs.transposeA || o.attrs.transposeB) continue;
    const [p, v] = o.args;
    if (!p || !v || !f32(p) || !f32(v) || !f32(o.out) || !single(p)) continue;
    const softmax = defs.get(p.id);
    if (softmax?.op !== 'softmax') continue;
    const x = softmax.args[0];
    const rank = shapeOf(p).length;
    if (!x || softmax.attrs.axis !== rank - 1 || rank < 2 || !single(x)) continue;
    let scores = defs.get(x.id);
    let scale = 1;
    const scaleEqs: Equation[] = [];
    if (scores?.op === 'mul') {
      const group = groupOf(x.id);
      // The group computing X: the product times a constant (the constant may be a member, inlined as a literal).
      if (group?.some((g) => g !== scores && g.op !== 'full')) continue;
      const constant = scores.args
        .map((a) => defs.get(a.id))
        .find((e) => e?.op === 'full' && sizeOf(shapeOf(e.out)) === 1);
      const product = scores.args.find((a) => defs.get(a.id)?.op === 'matmul');
      if (!constant || !product || scores.args.length !== 2) continue;
      scale = (constant as EquationOf<'full'>).attrs.value;
      if (!Number.isFinite(scale)) continue;
      scaleEqs.push(scores);
      if (!single(product)) continue;
      scores = defs.get(product.id);
    }
    if (scores?.op !== 'matmul') continue;
    const s = scores;
    if (s.attrs.transposeA || !s.attrs.transposeB) continue;
    const [q, k] = s.args;
    if (!q || !k || !f32(q) || !f32(k)) continue;
    const qs = shapeOf(q);
    const ks = shapeOf(k);
    const vs = shapeOf(v);
    const batch = qs.slice(0, -2);
    const same = (a: readonly number[]): boolean => a.length === qs.length && batch.every((b, i) => a[i] === b);
    if (!same(ks) || !same(vs) || shapeOf(s.out).length !== qs.length) continue;
    const n = qs[rank - 2] as number;
    const d = qs[rank - 1] as number;
    const m = ks[rank - 2] as number;
    const dv = vs[rank - 1] as number;
    if (ks[rank - 1] !== d || vs[rank - 2] !== m) continue;
    if (d % 4 !== 0 || dv % 4 !== 0 || d > MAX_ATTENTION_WIDTH || dv > MAX_ATTENTION_WIDTH) continue;
    // The result: straight into the heads' merge when that is O's only use and keeps the rows' last axis.
    let anchor: Equation = o;
    let out = { batch: stridesOf(shapeOf(o.out)).slice(0, -2), row: dv };
    const readers = consumers.get(o.out.id) ?? [];
    const t = readers[0];
    if (single(o.out) && t?.op === 'transpose' && !layouts.skipped.has(t.out.id)) {
      const perm = t.attrs.perm;
      if (perm[rank - 1] === rank - 1) {
        const tStrides = stridesOf(shapeOf(t.out));
        const strides = perm.map((_, i) => tStrides[perm.indexOf(i)] as number);
        anchor = t;
        out = { batch: strides.slice(0, -2), row: strides[rank - 2] as number };
      }
    }
    const qv = view(q);
    const kv = view(k);
    const vv = view(v);
    const fits = (w: PendingView): boolean =>
      w.base % 4 === 0 && w.row % 4 === 0 && w.batch.every((b) => b % 4 === 0) && f32(w.source);
    if (![qv.view, kv.view, vv.view].every(fits) || !out.batch.every((b) => b % 4 === 0) || out.row % 4 !== 0) continue;
    const covered = [
      s,
      ...scaleEqs,
      softmax,
      o,
      ...(anchor === o ? [] : [anchor]),
      ...qv.through,
      ...kv.through,
      ...vv.through,
    ];
    for (const e of covered) claimed.add(e.out.id);
    result.set(anchor.out.id, {
      anchor,
      covered,
      batch,
      n,
      m,
      d,
      dv,
      scale,
      q: qv.view,
      k: kv.view,
      v: vv.view,
      out,
    });
  }
  return result;
}

/**
 * For a reshape from `from` to `to` that only drops or inserts axes of size 1: for each axis of `to`, the axis of
 * `from` it is (-1 for an inserted axis of size 1); else undefined.
 */
export function squeezeMap(from: readonly number[], to: readonly number[]): number[] | undefined {
  const map: number[] = [];
  let i = 0;
  for (const size of to) {
    while (i < from.length && from[i] === 1 && size !== 1) i++;
    if (i < from.length && from[i] === size) {
      map.push(i);
      i++;
    } else if (size === 1) map.push(-1);
    else return undefined;
  }
  while (i < from.length && from[i] === 1) i++;
  return i === from.length ? map : undefined;
}
