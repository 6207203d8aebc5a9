/**
 * The IDX file format (MNIST, Fashion-MNIST), optionally gzip-compressed.
 *
 * Layout (all integers big-endian):
 *
 *   bytes 0-1  zero
 *   byte  2    element type: 0x08 u8, 0x09 i8, 0x0B i16, 0x0C i32, 0x0D f32, 0x0E f64
 *   byte  3    number of dimensions d (>= 1)
 *   then       d sizes, u32 each
 *   then       the elements, row-major, exactly prod(sizes) of them
 *
 * Any deviation (bad magic, unknown type, too few or too many bytes, a broken gzip stream) is error VT6010 naming
 * the file; a missing file is VT6009 (see `fashion.ts` for the set-up hint).
 */
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { VitmRuntimeError } from '../errors.js';

export const IDX_TYPES = ['u8', 'i8', 'i16', 'i32', 'f32', 'f64'] as const;
export type IdxType = (typeof IDX_TYPES)[number];

const TYPE_CODES: Readonly<Record<IdxType, number>> = {
  u8: 0x08,
  i8: 0x09,
  i16: 0x0b,
  i32: 0x0c,
  f32: 0x0d,
  f64: 0x0e,
};

function typeOfCode(code: number): IdxType | undefined {
  return IDX_TYPES.find((t) => TYPE_CODES[t] === code);
}

function elementSize(type: IdxType): number {
  switch (type) {
    case 'u8':
    case 'i8':
      return 1;
    case 'i16':
      return 2;
    case 'i32':
    case 'f32':
      return 4;
    case 'f64':
      return 8;
  }
}

/** The elements of an IDX file, converted to the host's typed array for their type. */
export type IdxData = Uint8Array | Int8Array | Int16Array | Int32Array | Float32Array | Float64Array;

export interface IdxArray {
  readonly type: IdxType;
  readonly dims: readonly number[];
  readonly data: IdxData;
}

export function idxError(file: string, problem: string): VitmRuntimeError {
  return new VitmRuntimeError(
    'VT6010',
    `malformed IDX file ${file}: ${problem}`,
    'the file is damaged or is not an IDX file; reinstall the data set (`npm run setup`, or `apt-get install --reinstall dataset-fashion-mnist`)',
  );
}

/** Parses an uncompressed IDX buffer. `file` names it in errors. */
export function parseIdx(bytes: Uint8Array, file: string): IdxArray {
  if (bytes.length < 4) throw idxError(file, `${bytes.length} bytes is shorter than the 4-byte magic number`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (view.getUint16(0) !== 0) {
    throw idxError(file, `bad magic number 0x${view.getUint32(0).toString(16).padStart(8, '0')} (must start 0x0000)`);
  }
  const type = typeOfCode(view.getUint8(2));
  if (!type) throw idxError(file, `unknown element type 0x${view.getUint8(2).toString(16).padStart(2, '0')}`);
  const rank = view.getUint8(3);
  if (rank === 0) throw idxError(file, 'zero dimensions');
  const headerBytes = 4 + 4 * rank;
  if (bytes.length < headerBytes) {
    throw idxError(
      file,
      `truncated header: ${rank} dimensions need ${headerBytes} bytes, the file has ${bytes.length}`,
    );
  }
  const dims: number[] = [];
  let count = 1;
  for (let i = 0; i < rank; i++) {
    const d = view.getUint32(4 + 4 * i);
    dims.push(d);
    count *= d;
  }
  const size = elementSize(type);
  const expected = headerBytes + count * size;
  if (bytes.length !== expected) {
    const what = bytes.length < expected ? 'truncated' : 'trailing bytes';
    throw idxError(
      file,
      `${what}: dimensions [${dims.join(', ')}] of ${type} need ${expected} bytes, the file has ${bytes.length}`,
    );
  }
  return { type, dims, data: decodeElements(view, headerBytes, count, type) };
}

function decodeElements(view: DataView, offset: number, count: number, type: IdxType): IdxData {
  switch (type) {
    case 'u8':
      return new Uint8Array(view.buffer, view.byteOffset + offset, count).slice();
    case 'i8':
      return new Int8Array(view.buffer, view.byteOffset + offset, count).slice();
    case 'i16': {
      const out = new Int16Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getInt16(offset + 2 * i);
      return out;
    }
    case 'i32': {
      const out = new Int32Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getInt32(offset + 4 * i);
      return out;
    }
    case 'f32': {
      const out = new Float32Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getFloat32(offset + 4 * i);
      return out;
    }
    case 'f64': {
      const out = new Float64Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getFloat64(offset + 8 * i);
      return out;
    }
  }
}

/** True when the bytes start with the gzip magic number (1f 8b). */
export function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

/** Parses IDX bytes, gunzipping them first when they are gzip-compressed. */
export function decodeIdx(bytes: Uint8Array, file: string): IdxArray {
  if (!isGzip(bytes)) return parseIdx(bytes, file);
  let raw: Uint8Array;
  try {
    raw = gunzipSync(bytes);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw idxError(file, `the gzip stream is broken (${reason})`);
  }
  return parseIdx(raw, file);
}

/**
 * Reads an IDX file (plain or gzip). A missing file raises `missing(file)` when given (so a data set can name its
 * own set-up command), else VT6009 with a generic hint.
 */
export function readIdxFile(file: string, missing?: (file: string) => VitmRuntimeError): IdxArray {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      throw missing ? missing(file) : new VitmRuntimeError('VT6009', `data file not found: ${file}`);
    }
    throw new VitmRuntimeError('VT6009', `cannot read data file ${file}: ${(error as Error).message}`, undefined, {
      cause: error,
    });
  }
  return decodeIdx(bytes, file);
}

/** Encodes an array as IDX bytes (uncompressed): used to write fixtures and synthetic data sets in the format. */
export function encodeIdx(type: IdxType, dims: readonly number[], data: ArrayLike<number>): Uint8Array {
  const count = dims.reduce((a, b) => a * b, 1);
  if (data.length !== count) throw new RangeError(`encodeIdx: ${data.length} elements for dims [${dims.join(', ')}]`);
  if (dims.length === 0 || dims.length > 255) throw new RangeError('encodeIdx: 1 to 255 dimensions');
  const header = 4 + 4 * dims.length;
  const size = elementSize(type);
  const out = new Uint8Array(header + count * size);
  const view = new DataView(out.buffer);
  view.setUint8(2, TYPE_CODES[type]);
  view.setUint8(3, dims.length);
  dims.forEach((d, i) => {
    view.setUint32(4 + 4 * i, d);
  });
  for (let i = 0; i < count; i++) {
    const v = data[i] as number;
    const at = header + i * size;
    switch (type) {
      case 'u8':
        view.setUint8(at, v);
        break;
      case 'i8':
        view.setInt8(at, v);
        break;
      case 'i16':
        view.setInt16(at, v);
        break;
      case 'i32':
        view.setInt32(at, v);
        break;
      case 'f32':
        view.setFloat32(at, v);
        break;
      case 'f64':
        view.setFloat64(at, v);
        break;
    }
  }
  return out;
}
