/**
 * Conversions between typed arrays and safetensors `Tensor`s (little-endian bytes), including float16 and bfloat16
 * encoding with round-to-nearest-even, so weights can be stored at lower precision and read back as float32.
 */
import { dtypeSize, numelOf, type SafeDType, type Tensor } from './safetensors.js';

const f32Scratch = new Float32Array(1);
const u32Scratch = new Uint32Array(f32Scratch.buffer);

/** The IEEE binary16 bits nearest to x (round to nearest, ties to even; overflow to infinity; NaN stays NaN). */
export function float32ToF16Bits(x: number): number {
  f32Scratch[0] = x;
  const bits = u32Scratch[0] as number;
  const sign = (bits >>> 16) & 0x8000;
  const exp = (bits >>> 23) & 0xff;
  const mant = bits & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 | (mant >>> 13) : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign; // below half the smallest subnormal: rounds to zero
    const m = mant | 0x800000;
    const shift = 14 - e;
    const half = 1 << (shift - 1);
    const rest = m & ((1 << shift) - 1);
    let out = m >>> shift;
    if (rest > half || (rest === half && (out & 1) === 1)) out++;
    return sign | out;
  }
  let out = (e << 10) | (mant >>> 13);
  const rest = mant & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && (out & 1) === 1)) out++; // may carry into the exponent: still correct
  return sign | out;
}

/** The value of binary16 bits. */
export function f16BitsToFloat32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant ? NaN : sign * Infinity;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

/** The bfloat16 bits nearest to x (the top half of its float32 bits, rounded to nearest even). */
export function float32ToBf16Bits(x: number): number {
  f32Scratch[0] = x;
  const bits = u32Scratch[0] as number;
  if ((bits & 0x7f800000) === 0x7f800000 && bits & 0x7fffff) return (bits >>> 16) | 0x40; // quiet NaN
  return ((bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16) & 0xffff;
}

export function bf16BitsToFloat32(h: number): number {
  u32Scratch[0] = (h & 0xffff) << 16;
  return f32Scratch[0] as number;
}

function viewOf(t: Tensor): DataView {
  return new DataView(t.data.buffer, t.data.byteOffset, t.data.byteLength);
}

/** A float tensor (F32, F16, BF16 or F64) from float values. */
export function floatTensor(
  shape: readonly number[],
  values: ArrayLike<number>,
  dtype: 'F32' | 'F16' | 'BF16' | 'F64' = 'F32',
): Tensor {
  const n = numelOf(shape);
  if (values.length !== n) throw new RangeError(`${values.length} values for shape [${shape.join(', ')}]`);
  const data = new Uint8Array(n * dtypeSize(dtype));
  const view = new DataView(data.buffer);
  for (let i = 0; i < n; i++) {
    const v = values[i] as number;
    switch (dtype) {
      case 'F32':
        view.setFloat32(4 * i, v, true);
        break;
      case 'F64':
        view.setFloat64(8 * i, v, true);
        break;
      case 'F16':
        view.setUint16(2 * i, float32ToF16Bits(v), true);
        break;
      case 'BF16':
        view.setUint16(2 * i, float32ToBf16Bits(v), true);
        break;
    }
  }
  return { dtype, shape: [...shape], data };
}

/** An integer tensor (I32, I64, U32, I16, U16, I8, U8 or BOOL) from integer values. */
export function intTensor(shape: readonly number[], values: ArrayLike<number>, dtype: SafeDType = 'I32'): Tensor {
  const n = numelOf(shape);
  if (values.length !== n) throw new RangeError(`${values.length} values for shape [${shape.join(', ')}]`);
  const data = new Uint8Array(n * dtypeSize(dtype));
  const view = new DataView(data.buffer);
  for (let i = 0; i < n; i++) setInt(view, i, dtype, values[i] as number);
  return { dtype, shape: [...shape], data };
}

function setInt(view: DataView, i: number, dtype: SafeDType, v: number): void {
  switch (dtype) {
    case 'I64':
      view.setBigInt64(8 * i, BigInt(Math.trunc(v)), true);
      return;
    case 'U64':
      view.setBigUint64(8 * i, BigInt(Math.trunc(v)), true);
      return;
    case 'I32':
      view.setInt32(4 * i, v, true);
      return;
    case 'U32':
      view.setUint32(4 * i, v, true);
      return;
    case 'I16':
      view.setInt16(2 * i, v, true);
      return;
    case 'U16':
      view.setUint16(2 * i, v, true);
      return;
    case 'I8':
      view.setInt8(i, v);
      return;
    case 'U8':
      view.setUint8(i, v);
      return;
    case 'BOOL':
      view.setUint8(i, v ? 1 : 0);
      return;
    case 'F64':
    case 'F32':
    case 'F16':
    case 'BF16':
      throw new RangeError(`intTensor: ${dtype} is a float dtype; use floatTensor`);
  }
}

/** Element i of a tensor as a JavaScript number (64-bit integers beyond 2^53 lose precision). */
export function elementAt(t: Tensor, i: number): number {
  const view = viewOf(t);
  switch (t.dtype) {
    case 'F64':
      return view.getFloat64(8 * i, true);
    case 'F32':
      return view.getFloat32(4 * i, true);
    case 'F16':
      return f16BitsToFloat32(view.getUint16(2 * i, true));
    case 'BF16':
      return bf16BitsToFloat32(view.getUint16(2 * i, true));
    case 'I64':
      return Number(view.getBigInt64(8 * i, true));
    case 'U64':
      return Number(view.getBigUint64(8 * i, true));
    case 'I32':
      return view.getInt32(4 * i, true);
    case 'U32':
      return view.getUint32(4 * i, true);
    case 'I16':
      return view.getInt16(2 * i, true);
    case 'U16':
      return view.getUint16(2 * i, true);
    case 'I8':
      return view.getInt8(i);
    case 'U8':
    case 'BOOL':
      return view.getUint8(i);
  }
}

/** All elements as float32 (converting any dtype). */
export function toFloat32(t: Tensor): Float32Array {
  const n = numelOf(t.shape);
  if (t.dtype === 'F32' && t.data.byteOffset % 4 === 0 && littleEndianHost) {
    return new Float32Array(t.data.buffer.slice(t.data.byteOffset, t.data.byteOffset + 4 * n));
  }
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = elementAt(t, i);
  return out;
}

/** All elements as int32 (integer dtypes; 64-bit values must fit). */
export function toInt32(t: Tensor): Int32Array {
  const n = numelOf(t.shape);
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) out[i] = elementAt(t, i);
  return out;
}

/** A float32 tensor sharing nothing with `values` (its bytes are copied). */
export function f32(shape: readonly number[], values: Float32Array): Tensor {
  if (values.length !== numelOf(shape)) throw new RangeError(`${values.length} values for shape [${shape.join(', ')}]`);
  if (!littleEndianHost) return floatTensor(shape, values, 'F32');
  return { dtype: 'F32', shape: [...shape], data: new Uint8Array(values.slice().buffer) };
}

export const littleEndianHost = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
