/**
 * Shared pieces of the WGSL op kernels: storage and arithmetic types per dtype, the uniform parameter block, the
 * scalar helper functions (NaN-safe and overflow-safe forms), launch-grid splitting and kernel assembly.
 *
 * Conventions every generated kernel follows:
 * - binding 0 is a uniform block of u32 words read through `prm(i)`; sizes, strides and float attributes (as bits)
 *   live there, so one pipeline serves every size of its specialisation (rank, dtypes and layout flags are baked);
 * - storage buffers follow at bindings 1.., read-only inputs first, the written buffer(s) last; at most
 *   `MAX_STORAGE_BINDINGS` (8, what many browsers allow) per kernel;
 * - one invocation per output element (or per row / group), workgroups of `WORKGROUP_SIZE`, the linear invocation
 *   index recovered from a 3-D grid so launches beyond 65,535 workgroups fit;
 * - floats are computed in f32 whatever their storage (f16 values are widened on load and rounded on store), i32 in
 *   i32, u32 and bool (stored as u32 0/1) in u32.
 */

import type { DType } from '../../../types/shape.js';
import type { BufferRef, KernelBinding, WgslKernel } from '../../kernel.js';

export const WORKGROUP_SIZE = 64;
/** The most storage buffers a kernel binds: many browsers allow only 8 per shader stage. */
export const MAX_STORAGE_BINDINGS = 8;

/** What the lowering needs to know about the device. */
export interface DeviceCaps {
  readonly maxWorkgroupsPerDimension: number;
  /** Whether `shader-f16` is enabled (f16 tensors need it). */
  readonly shaderF16: boolean;
  /**
   * The subgroup size when the device has the `subgroups` feature and all its subgroups have that one size (what
   * kernels sharing loads through `subgroupBroadcast` rely on); undefined otherwise.
   */
  readonly subgroupSize?: number;
}

/** The WGSL element type of a dtype's storage. */
export function storageType(dtype: DType): string {
  switch (dtype) {
    case 'f32':
      return 'f32';
    case 'f16':
      return 'f16';
    case 'i32':
      return 'i32';
    case 'u32':
    case 'bool':
      return 'u32';
  }
}

/** The WGSL type a dtype's values are computed in. */
export type ArithType = 'f32' | 'i32' | 'u32';

export function arithType(dtype: DType): ArithType {
  switch (dtype) {
    case 'f32':
    case 'f16':
      return 'f32';
    case 'i32':
      return 'i32';
    case 'u32':
    case 'bool':
      return 'u32';
  }
}

/** `expr` (of storage type) widened to the arithmetic type. */
export function widen(expr: string, dtype: DType): string {
  return dtype === 'f16' ? `f32(${expr})` : expr;
}

/** `expr` (of arithmetic type) narrowed to the storage type. */
export function narrow(expr: string, dtype: DType): string {
  return dtype === 'f16' ? `f16(${expr})` : expr;
}

/** A WGSL literal of `value` in the arithmetic type of `dtype` (non-finite floats through the helpers). */
export function literal(value: number, dtype: DType): string {
  const t = arithType(dtype);
  if (t === 'i32') return `i32(${Math.trunc(value) | 0})`;
  if (t === 'u32') return `${dtype === 'bool' ? (value !== 0 ? 1 : 0) : Math.trunc(value) >>> 0}u`;
  // A value that rounds to an infinite f32 (1e39, say) cannot be a constant expression either.
  const rounded = Math.fround(value);
  if (Number.isNaN(rounded)) return 'vnan()';
  if (rounded === Infinity) return 'vinf()';
  if (rounded === -Infinity) return '(-vinf())';
  // f32 bits keep every value exact (a decimal literal could round differently in the shader compiler).
  return `bitcast<f32>(${f32Bits(value)}u)`;
}

const f32View = new Float32Array(1);
const u32View = new Uint32Array(f32View.buffer);

/** The bit pattern of `x` rounded to f32. */
export function f32Bits(x: number): number {
  f32View[0] = x;
  return u32View[0] as number;
}

/** Collects the u32 words of a kernel's uniform block. */
export class Params {
  private readonly words: number[] = [];

  /** Appends a word; returns its index for `prm(index)`. */
  push(word: number): number {
    if (!Number.isInteger(word) || word < 0 || word > 0xffffffff)
      throw new RangeError(`a kernel parameter must be a u32, got ${word}`);
    this.words.push(word);
    return this.words.length - 1;
  }

  pushAll(words: readonly number[]): number {
    const at = this.words.length;
    for (const w of words) this.push(w);
    return at;
  }

  /** The word at `index`. */
  at(index: number): number {
    const word = this.words[index];
    if (word === undefined) throw new RangeError(`no kernel parameter ${index}`);
    return word;
  }

  /** The words, padded to a multiple of 4 (the uniform block is an array of vec4). */
  finish(): number[] {
    const out = [...this.words];
    while (out.length === 0 || out.length % 4 !== 0) out.push(0);
    return out;
  }
}

/**
 * Scalar helpers shared by all kernels. Non-finite constants come from a private variable (a constant expression
 * that evaluates to inf or NaN is a shader-creation error in WGSL); NaN tests look at the bits, which no
 * fast-math rewriting can fold away.
 */
export const PRELUDE = /* wgsl */ `
var<private> vitm_bits: vec2<u32> = vec2<u32>(0x7f800000u, 0x7fc00000u);
fn vinf() -> f32 { return bitcast<f32>(vitm_bits.x); }
fn vnan() -> f32 { return bitcast<f32>(vitm_bits.y); }
fn visnan(x: f32) -> bool { return (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u; }
fn visfinite(x: f32) -> bool { return (bitcast<u32>(x) & 0x7f800000u) != 0x7f800000u; }
fn vb(c: bool) -> u32 { return select(0u, 1u, c); }
fn vexp(x: f32) -> f32 { return select(exp(min(x, 89.0)), x, visnan(x)); }
fn vlog(x: f32) -> f32 {
  if (x < 0.0) { return vnan(); }
  if (x == 0.0) { return -vinf(); }
  return log(x);
}
fn vsqrt(x: f32) -> f32 { return select(sqrt(x), vnan(), x < 0.0); }
fn vrsqrt(x: f32) -> f32 {
  if (x < 0.0) { return vnan(); }
  if (x == 0.0) { return vinf(); }
  return inverseSqrt(x);
}
fn vtanh(x: f32) -> f32 { return select(tanh(x), sign(x), abs(x) > 10.0); }
fn vsigmoid(x: f32) -> f32 {
  let e = exp(-abs(x));
  return select(e / (1.0 + e), 1.0 / (1.0 + e), x >= 0.0);
}
// asin on [0, 0.5] by Cephes' asinf polynomial (about 1 ulp); acos by the half-angle identities, since built-in
// acos may be far less accurate (Vulkan only bounds it through atan2).
fn vasin_small(x: f32) -> f32 {
  let z = x * x;
  let p = (((4.2163199048e-2 * z + 2.4181311049e-2) * z + 4.5470025998e-2) * z + 7.4953002686e-2) * z + 1.6666752422e-1;
  return x + x * z * p;
}
fn vacos(x: f32) -> f32 {
  if (!(abs(x) <= 1.0)) { return vnan(); }
  if (x > 0.5) { return 2.0 * vasin_small(sqrt(0.5 * (1.0 - x))); }
  if (x < -0.5) { return 3.141592653589793 - 2.0 * vasin_small(sqrt(0.5 * (1.0 + x))); }
  return 1.5707963267948966 - vasin_small(x);
}
fn vmaxf(a: f32, b: f32) -> f32 { return select(max(a, b), vnan(), visnan(a) || visnan(b)); }
fn vminf(a: f32, b: f32) -> f32 { return select(min(a, b), vnan(), visnan(a) || visnan(b)); }
fn vpow(x: f32, y: f32) -> f32 {
  if (visnan(x) || visnan(y)) { return vnan(); }
  if (y == 0.0) { return 1.0; }
  if (x == 0.0) { return select(vinf(), 0.0, y > 0.0); }
  let m = exp2(y * log2(abs(x)));
  if (x > 0.0) { return m; }
  if (trunc(y) != y) { return vnan(); }
  let odd = abs(y) < 16777216.0 && (i32(abs(y)) & 1) == 1;
  return select(m, -m, odd);
}
// erfc(z) for z >= 0 by the Chebyshev fit of Numerical Recipes' erfcc (relative error < 1.2e-7 everywhere).
fn verfc_pos(z: f32) -> f32 {
  let t = 1.0 / (1.0 + 0.5 * z);
  let p = -1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 + t * (0.27886807
    + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277))))))));
  return t * exp(-z * z + p);
}
// erf below |x| = 0.5: the Taylor series 2/sqrt(pi) sum (-1)^n x^(2n+1) / (n! (2n+1)), seven terms in Horner form
// (the first omitted term is below 5e-10 there).
fn verf_series(x: f32) -> f32 {
  let x2 = x * x;
  return x * (1.1283791670955126 + x2 * (-0.37612638903183754 + x2 * (0.11283791670955126 + x2 * (-0.026866170645131252
    + x2 * (0.005223977625442188 + x2 * (-0.0008548327023450852 + x2 * 0.00012055332981789664))))));
}
// erf: the series below |x| = 0.5; above, 1 - erfc(|x|) with the sign, whose absolute error is below 1.2e-7
// erfc(0.5) < 6e-8 plus rounding. Both are computed and one selected: SIMD lanes on either side of 0.5 then pay for
// one exp and one division, not for two divergent branches.
fn verf(x: f32) -> f32 {
  let a = abs(x);
  let tail = sign(x) * (1.0 - verfc_pos(min(a, 10.0)));
  return select(select(tail, verf_series(x), a < 0.5), x, visnan(x));
}
// Phi(x) = 0.5 erfc(-x / sqrt 2), through erfc on both sides: 0.5 erfc(z) for z >= 0, 1 - 0.5 erfc(-z) below, where
// 0.5 erfc(-z) <= 0.5 cannot cancel. Phi's relative error is then erfc's (< 1.2e-7), so gelu(x) = x Phi(x) keeps its
// relative accuracy for large negative x, and the lanes of a SIMD group pay for one exp and one division.
fn vphi(x: f32) -> f32 {
  let z = -x * 0.7071067811865476;
  let h = 0.5 * verfc_pos(min(abs(z), 20.0));
  return select(1.0 - h, h, z >= 0.0);
}
fn vgelu(x: f32) -> f32 { return select(x * vphi(x), x, visnan(x)); }
fn vgelu_tanh(x: f32) -> f32 { return 0.5 * x * (1.0 + vtanh(0.7978845608028654 * (x + 0.044715 * x * x * x))); }
// gelu'(x) = Phi(x) + x phi(x) with one exp: Phi(-|x|) = 0.5 erfc(|x| / sqrt 2) by Abramowitz and Stegun 7.1.26
// (absolute error below 7.5e-8 in Phi), whose factor exp(-x^2 / 2) is phi's. The clamp keeps x phi(x) at 0, not
// inf * 0, for huge |x| (phi(20) < 6e-88).
fn vgelu_grad(x: f32) -> f32 {
  let c = clamp(x, -20.0, 20.0);
  let e = exp(-0.5 * c * c);
  let t = 1.0 / (1.0 + 0.23164188 * abs(c));
  let q = 0.5 * e * t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
  return select(select(q, 1.0 - q, x >= 0.0) + 0.3989422804014327 * c * e, x, visnan(x));
}
// The tanh form's derivative 0.5 (1 + t) + 0.5 x (1 - t^2) u' with t = tanh(u) through e = exp(-2|u|):
// 0.5 (1 + t) = 1 / (1 + e) or e / (1 + e), 1 - t^2 = 4 e / (1 + e)^2, so neither cancels where |t| nears 1.
fn vgelu_tanh_grad(x: f32) -> f32 {
  let c = clamp(x, -10.0, 10.0);
  let u = 0.7978845608028654 * (c + 0.044715 * c * c * c);
  let e = exp(-2.0 * abs(u));
  let r = 1.0 / (1.0 + e);
  let du = 0.7978845608028654 * (1.0 + 0.134145 * c * c);
  return select(select(e * r, r, u >= 0.0) + 2.0 * c * e * r * r * du, x, visnan(x));
}
// Float to integer: truncation toward zero wrapping modulo 2^32; non-finite gives 0.
fn vf2u(x: f32) -> u32 {
  if (!visfinite(x)) { return 0u; }
  let t = trunc(x);
  if (abs(t) < 2147483648.0) { return bitcast<u32>(i32(t)); }
  // |t| >= 2^31 is a multiple of 2^8, so the remainder below is exact in f32.
  let r = t - 4294967296.0 * floor(t / 4294967296.0);
  return u32(r);
}
fn vidiv(a: i32, b: i32) -> i32 {
  if (b == 0) { return 0; }
  if (b == -1) { return bitcast<i32>(0u - bitcast<u32>(a)); }
  return a / b;
}
fn vudiv(a: u32, b: u32) -> u32 { return select(a / b, 0u, b == 0u); }
`;

/** Splits `total` workgroups over (x, y, z), each within `maxPerDim`. */
export function splitGrid(total: number, maxPerDim: number): [number, number, number] {
  if (total <= maxPerDim) return [Math.max(1, total), 1, 1];
  const rest = Math.ceil(total / maxPerDim);
  if (rest <= maxPerDim) return [maxPerDim, rest, 1];
  const z = Math.ceil(rest / maxPerDim);
  if (z > maxPerDim) throw new RangeError(`${total} workgroups exceed the device's grid`);
  return [maxPerDim, maxPerDim, z];
}

/** One storage binding of a kernel under construction: the WGSL variable name, element dtype and buffer. */
export interface StorageVar {
  readonly name: string;
  readonly dtype: DType;
  readonly buffer: BufferRef;
  readonly access: 'read' | 'read_write';
  /** Declared as an array of vec4 of the element type (the buffer's length is a multiple of 4 elements). */
  readonly vec4?: boolean;
  /** Declared as an array of vec2 (the buffer's length is even): lines of an even length not a multiple of 4. */
  readonly vec2?: boolean;
}

export interface KernelSource {
  readonly name: string;
  readonly storage: readonly StorageVar[];
  /** Statements run once per invocation with `gi` (the linear invocation index, below `threads`) in scope. */
  readonly body: string;
  /** Extra module-scope functions. */
  readonly functions?: string;
  /** Invocations to launch; those at or beyond it return at once. */
  readonly threads: number;
  readonly params: Params;
}

/**
 * Assembles a kernel: the uniform block, the storage declarations, the prelude, and an entry point that computes
 * `gi` from a grid of up to three dimensions and returns past `threads` (stored as the uniform's last word).
 */
export function assembleKernel(src: KernelSource, caps: DeviceCaps): WgslKernel {
  if (src.storage.length > MAX_STORAGE_BINDINGS)
    throw new RangeError(
      `kernel ${src.name} binds ${src.storage.length} storage buffers; at most ${MAX_STORAGE_BINDINGS}`,
    );
  if (src.storage.some((s) => s.dtype === 'f16') && !caps.shaderF16)
    throw new RangeError(`kernel ${src.name} needs f16 storage, and the device has no 'shader-f16'`);
  const threadsAt = src.params.push(src.threads);
  const words = src.params.finish();
  const constant = (text: string): string =>
    text
      .replace(/\bprmf\((\d+)u\)/g, (_, i: string) => `bitcast<f32>(${src.params.at(Number(i))}u)`)
      .replace(/\bprm\((\d+)u\)/g, (_, i: string) => `${src.params.at(Number(i))}u`);
  const decls = src.storage
    .map((s, i) => {
      const element = s.vec4
        ? `vec4<${storageType(s.dtype)}>`
        : s.vec2
          ? `vec2<${storageType(s.dtype)}>`
          : storageType(s.dtype);
      return `@group(0) @binding(${i + 1}) var<storage, ${s.access}> ${s.name}: array<${element}>;`;
    })
    .join('\n');
  const f16 = src.storage.some((s) => s.dtype === 'f16') ? 'enable f16;\n' : '';
  const wgsl = `${f16}// ${src.name}
struct Params { w: array<vec4<u32>, ${words.length / 4}> }
@group(0) @binding(0) var<uniform> vitm_params: Params;
fn prm(i: u32) -> u32 { return vitm_params.w[i >> 2u][i & 3u]; }
fn prmf(i: u32) -> f32 { return bitcast<f32>(prm(i)); }
${decls}
${PRELUDE}
${constant(src.functions ?? '')}
@compute @workgroup_size(${WORKGROUP_SIZE})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let gi = ((wid.z * nwg.y + wid.y) * nwg.x + wid.x) * ${WORKGROUP_SIZE}u + lid;
  if (gi >= prm(${threadsAt}u)) { return; }
${constant(src.body)}
}
`;
  const grid = splitGrid(Math.ceil(src.threads / WORKGROUP_SIZE), caps.maxWorkgroupsPerDimension);
  const bindings: KernelBinding[] = src.storage.map((s) => ({ buffer: s.buffer, access: s.access }));
  return { kind: 'wgsl', name: src.name, wgsl, entryPoint: 'main', params: words, bindings, grid };
}

/** Row-major strides of a concrete shape. */
export function stridesOf(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length).fill(1);
  for (let i = shape.length - 2; i >= 0; i--) s[i] = (s[i + 1] as number) * (shape[i + 1] as number);
  return s;
}

export function sizeOf(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** `shape` split around `axis` as [outer, size, inner]. */
export function aroundAxis(shape: readonly number[], axis: number): [number, number, number] {
  return [sizeOf(shape.slice(0, axis)), shape[axis] ?? 1, sizeOf(shape.slice(axis + 1))];
}

/**
 * WGSL statements declaring `u32` offsets `names[k]` of element `index` of an iteration space of `rank` axes, whose
 * sizes are at `prm(dimsAt + a)` and operand k's strides at `prm(stridesAt[k] + a)`. Unrolled over the rank.
 */
export function offsetsCode(
  index: string,
  rank: number,
  dimsAt: number,
  names: readonly string[],
  stridesAt: readonly number[],
  indent = '  ',
): string {
  const lines = names.map((n) => `${indent}var ${n} = 0u;`);
  if (rank > 0) lines.push(`${indent}var rem_${names[0] ?? 'x'} = ${index};`);
  const rem = `rem_${names[0] ?? 'x'}`;
  for (let a = rank - 1; a >= 0; a--) {
    lines.push(`${indent}{ let c = ${rem} % prm(${dimsAt + a}u); ${rem} = ${rem} / prm(${dimsAt + a}u);`);
    names.forEach((n, k) => lines.push(`${indent}  ${n} += c * prm(${(stridesAt[k] as number) + a}u);`));
    lines.push(`${indent}}`);
  }
  return lines.join('\n');
}

/** NumPy broadcast strides of an operand of shape `arg` read at positions of `out` (0 along broadcast axes). */
export function broadcastStrides(arg: readonly number[], out: readonly number[]): number[] {
  const lead = out.length - arg.length;
  const s = stridesOf(arg);
  return out.map((_, i) => {
    const j = i - lead;
    return j < 0 || arg[j] === 1 ? 0 : (s[j] as number);
  });
}
