/**
 * Random ops in WGSL: Philox4x32-10 with u32 arithmetic only, bit-identical to `runtime/reference/philox.ts`
 * (spec/ir.md, "Random numbers"). Element i of a random op uses counter (i, 0, 0, 0) and key (seed, salt).
 *
 * - random_uniform: `(w0 >> 8) * 2^-24`, exact in f32: every bit equals the reference.
 * - random_normal: Box-Muller on the same bits; the u1, u2 are exact, `sqrt`, `log` and `cos` are the device's (a few
 *   f32 ulps, not bit-identical across devices, as the spec says).
 * - random_permutation: by ranks, two kernels: the keys w0 of all n elements into a scratch buffer, then one
 *   invocation per element counting the (key, index) pairs below its own and writing its index at that rank.
 *   O(n^2), no sort and no barriers; exact.
 */

import type { DType } from '../../../types/shape.js';
import type { BufferRef, WgslKernel } from '../../kernel.js';
import { assembleKernel, narrow, Params, type DeviceCaps, type StorageVar } from './common.js';

/** `mulhilo` (the 64-bit product's high and low words) from 16-bit partial products, then ten Philox rounds. */
export const PHILOX_WGSL = /* wgsl */ `
fn mulhilo(a: u32, b: u32) -> vec2<u32> {
  let al = a & 0xffffu;
  let ah = a >> 16u;
  let bl = b & 0xffffu;
  let bh = b >> 16u;
  let ll = al * bl;
  let lh = al * bh;
  let hl = ah * bl;
  let hh = ah * bh;
  let mid = (ll >> 16u) + (lh & 0xffffu) + (hl & 0xffffu);
  let hi = hh + (lh >> 16u) + (hl >> 16u) + (mid >> 16u);
  return vec2<u32>(hi, a * b);
}
fn philox(counter: vec4<u32>, key: vec2<u32>) -> vec4<u32> {
  var c = counter;
  var k = key;
  for (var r = 0u; r < 10u; r++) {
    if (r > 0u) { k = k + vec2<u32>(0x9E3779B9u, 0xBB67AE85u); }
    let p0 = mulhilo(0xD2511F53u, c.x);
    let p1 = mulhilo(0xCD9E8D57u, c.z);
    c = vec4<u32>(p1.x ^ c.y ^ k.x, p1.y, p0.x ^ c.w ^ k.y, p0.y);
  }
  return c;
}
`;

interface Tensor {
  readonly buffer: BufferRef;
  readonly dtype: DType;
}

function seedLoad(seed: Tensor): string {
  return seed.dtype === 'i32' ? 'bitcast<u32>(seed[0])' : seed.dtype === 'u32' ? 'seed[0]' : 'vf2u(f32(seed[0]))';
}

/** random_uniform or random_normal: `elements` draws into `out`. */
export function randomFloatKernel(
  kind: 'uniform' | 'normal',
  seed: Tensor,
  salt: number,
  out: Tensor,
  elements: number,
  caps: DeviceCaps,
): WgslKernel {
  const params = new Params();
  const saltAt = params.push(salt >>> 0);
  const value =
    kind === 'uniform'
      ? 'f32(w.x >> 8u) * 5.9604644775390625e-8'
      : 'sqrt(-2.0 * log(f32((w.x >> 8u) + 1u) * 5.9604644775390625e-8)) * cos(6.283185307179586 * (f32(w.y >> 8u) * 5.9604644775390625e-8))';
  const body = `  let w = philox(vec4<u32>(gi, 0u, 0u, 0u), vec2<u32>(${seedLoad(seed)}, prm(${saltAt}u)));
  out[gi] = ${narrow(value, out.dtype)};`;
  const storage: StorageVar[] = [
    { name: 'seed', dtype: seed.dtype, buffer: seed.buffer, access: 'read' },
    { name: 'out', dtype: out.dtype, buffer: out.buffer, access: 'read_write' },
  ];
  return assembleKernel(
    { name: `random_${kind}[${out.dtype}]`, storage, body, functions: PHILOX_WGSL, threads: elements, params },
    caps,
  );
}

/** The Philox key word w0 of each of `n` elements into `keys` (u32). */
export function permutationKeysKernel(
  seed: Tensor,
  salt: number,
  keys: BufferRef,
  n: number,
  caps: DeviceCaps,
): WgslKernel {
  const params = new Params();
  const saltAt = params.push(salt >>> 0);
  const body = `  keys[gi] = philox(vec4<u32>(gi, 0u, 0u, 0u), vec2<u32>(${seedLoad(seed)}, prm(${saltAt}u))).x;`;
  const storage: StorageVar[] = [
    { name: 'seed', dtype: seed.dtype, buffer: seed.buffer, access: 'read' },
    { name: 'keys', dtype: 'u32', buffer: keys, access: 'read_write' },
  ];
  return assembleKernel(
    { name: 'random_permutation_keys', storage, body, functions: PHILOX_WGSL, threads: n, params },
    caps,
  );
}

/** `perm[rank(i)] = i` with rank(i) = #{j : (key_j, j) < (key_i, i)}. */
export function permutationRankKernel(keys: BufferRef, out: Tensor, n: number, caps: DeviceCaps): WgslKernel {
  const params = new Params();
  const nAt = params.push(n);
  const body = `  let mine = keys[gi];
  var rank = 0u;
  for (var j = 0u; j < prm(${nAt}u); j++) {
    let other = keys[j];
    if (other < mine || (other == mine && j < gi)) { rank++; }
  }
  out[rank] = i32(gi);`;
  const storage: StorageVar[] = [
    { name: 'keys', dtype: 'u32', buffer: keys, access: 'read' },
    { name: 'out', dtype: out.dtype, buffer: out.buffer, access: 'read_write' },
  ];
  return assembleKernel({ name: 'random_permutation_ranks', storage, body, threads: n, params }, caps);
}
