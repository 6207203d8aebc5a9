/** Host-side encoding of tensor elements into the storage layout of their dtype (what buffers hold). */

import { byteSize, type DType } from '../../../types/shape.js';

/** The bytes of a literal tensor in its dtype's storage layout. */
export function encodeValues(values: readonly number[], dtype: DType): Uint8Array {
  const n = values.length;
  switch (dtype) {
    case 'f32':
      return new Uint8Array(Float32Array.from(values).buffer);
    case 'i32':
      return new Uint8Array(Int32Array.from(values, (v) => Math.trunc(v) | 0).buffer);
    case 'u32':
      return new Uint8Array(Uint32Array.from(values, (v) => Math.trunc(v) >>> 0).buffer);
    case 'bool':
      return new Uint8Array(Uint32Array.from(values, (v) => (v !== 0 ? 1 : 0)).buffer);
    case 'f16': {
      const bytes = new Uint8Array(n * byteSize('f16'));
      const view = new DataView(bytes.buffer);
      values.forEach((v, i) => {
        view.setUint16(i * 2, f16Bits(v), true);
      });
      return bytes;
    }
  }
}

/** The IEEE half-precision bits of `x` (round to nearest even). */
export function f16Bits(x: number): number {
  const f = new Float32Array([x]);
  const u = new Uint32Array(f.buffer)[0] as number;
  const sign = (u >>> 16) & 0x8000;
  const exp = (u >>> 23) & 0xff;
  let mant = u & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant !== 0 ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    const half = 1 << (shift - 1);
    let r = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    if (rem > half || (rem === half && (r & 1) === 1)) r++;
    return sign | r;
  }
  let r = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (r & 1) === 1)) r++;
  return sign | r;
}
