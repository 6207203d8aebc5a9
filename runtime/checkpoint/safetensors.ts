/**
 * The `.safetensors` format (Hugging Face), read and written without dependencies, so a vitm checkpoint loads in
 * PyTorch/timm (`safetensors.torch.load_file`) and a timm checkpoint loads in vitm.
 *
 * Layout:
 *
 *   8 bytes    N, the header length, unsigned 64-bit little-endian
 *   N bytes    the header: UTF-8 JSON, starting with `{`, optionally padded at the end with spaces (0x20)
 *   the rest   the byte buffer: every tensor's elements, little-endian, row-major (C order)
 *
 * The header maps each tensor name to `{ "dtype": "F32", "shape": [768, 3072], "data_offsets": [begin, end] }`
 * (offsets into the byte buffer, end exclusive) and may hold `"__metadata__"`, a map of strings to strings. The
 * tensors must cover the byte buffer exactly: no holes, no overlaps, no trailing bytes.
 *
 * The writer orders tensors by decreasing element size and then by name (as the reference implementation does) and
 * pads the header with spaces to a multiple of 8 bytes, so every tensor starts 8-byte aligned in the file and can be
 * viewed in place as a typed array. The reader validates everything above and reports a malformed, truncated or
 * corrupt file as VT6011, naming the file and the problem.
 */
import { VitmRuntimeError } from '../errors.js';

export const SAFETENSORS_DTYPES = [
  'F64',
  'F32',
  'F16',
  'BF16',
  'I64',
  'I32',
  'I16',
  'I8',
  'U64',
  'U32',
  'U16',
  'U8',
  'BOOL',
] as const;
export type SafeDType = (typeof SAFETENSORS_DTYPES)[number];

export function dtypeSize(dtype: SafeDType): number {
  switch (dtype) {
    case 'F64':
    case 'I64':
    case 'U64':
      return 8;
    case 'F32':
    case 'I32':
    case 'U32':
      return 4;
    case 'F16':
    case 'BF16':
    case 'I16':
    case 'U16':
      return 2;
    case 'I8':
    case 'U8':
    case 'BOOL':
      return 1;
  }
}

/** One tensor: its dtype, shape and raw little-endian bytes (`numel * dtypeSize` of them). */
export interface Tensor {
  readonly dtype: SafeDType;
  readonly shape: readonly number[];
  readonly data: Uint8Array;
}

export type TensorMap = ReadonlyMap<string, Tensor>;

export interface SafetensorsContents {
  readonly tensors: Map<string, Tensor>;
  readonly metadata: Record<string, string>;
}

/** The largest header the reader accepts (as in the reference implementation): guards against a corrupt length. */
export const MAX_HEADER_BYTES = 100_000_000;

export function numelOf(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

export function safetensorsError(file: string, problem: string): VitmRuntimeError {
  return new VitmRuntimeError(
    'VT6011',
    `malformed .safetensors file ${file}: ${problem}`,
    'the file is truncated or damaged; use an earlier checkpoint of the run (vitm keeps the last few), or re-export it',
  );
}

/** Checks a tensor's shape and byte length (RangeError: a caller's bug, not a file problem). */
export function checkTensor(name: string, t: Tensor): void {
  if (!t.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw new RangeError(`tensor '${name}': bad shape [${t.shape.join(', ')}]`);
  }
  const expected = numelOf(t.shape) * dtypeSize(t.dtype);
  if (t.data.byteLength !== expected) {
    throw new RangeError(
      `tensor '${name}': ${t.data.byteLength} bytes for ${t.dtype} [${t.shape.join(', ')}], which needs ${expected}`,
    );
  }
}

/** Serialises tensors and string metadata to the bytes of a `.safetensors` file. */
export function encodeSafetensors(
  tensors: TensorMap | Readonly<Record<string, Tensor>>,
  metadata: Readonly<Record<string, string>> = {},
): Uint8Array {
  const entries: [string, Tensor][] =
    tensors instanceof Map ? [...(tensors as TensorMap)] : Object.entries(tensors as Readonly<Record<string, Tensor>>);
  for (const [name, t] of entries) {
    if (name === '__metadata__') throw new RangeError("'__metadata__' is reserved and cannot name a tensor");
    checkTensor(name, t);
  }
  entries.sort(([na, a], [nb, b]) => dtypeSize(b.dtype) - dtypeSize(a.dtype) || (na < nb ? -1 : na > nb ? 1 : 0));
  // No prototype: a tensor may be called `__proto__`, which must stay an ordinary key.
  const header = Object.create(null) as Record<string, unknown>;
  if (Object.keys(metadata).length > 0) header.__metadata__ = { ...metadata };
  let offset = 0;
  for (const [name, t] of entries) {
    header[name] = { dtype: t.dtype, shape: [...t.shape], data_offsets: [offset, offset + t.data.byteLength] };
    offset += t.data.byteLength;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const padded = Math.ceil((8 + json.length) / 8) * 8 - 8;
  const out = new Uint8Array(8 + padded + offset);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, BigInt(padded), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + padded);
  let at = 8 + padded;
  for (const [, t] of entries) {
    out.set(t.data, at);
    at += t.data.byteLength;
  }
  return out;
}

function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

/**
 * Parses and validates the bytes of a `.safetensors` file. Tensor data are views into `bytes` (no copy): copy them
 * (or the file's bytes) before mutating. `file` names the file in errors.
 */
export function decodeSafetensors(bytes: Uint8Array, file: string): SafetensorsContents {
  const bad = (problem: string): never => {
    throw safetensorsError(file, problem);
  };
  if (bytes.length < 8) bad(`truncated: ${bytes.length} bytes, shorter than the 8-byte header length`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const declared = view.getBigUint64(0, true);
  if (declared > BigInt(MAX_HEADER_BYTES)) bad(`the header length ${declared} is implausible (corrupt file?)`);
  const headerLength = Number(declared);
  if (8 + headerLength > bytes.length) {
    bad(`truncated: the header needs ${headerLength} bytes, only ${bytes.length - 8} follow the length`);
  }
  const headerBytes = bytes.subarray(8, 8 + headerLength);
  if (headerBytes[0] !== 0x7b) bad('the header does not start with `{`');
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(headerBytes));
  } catch (error) {
    bad(`the header is not valid UTF-8 JSON (${(error as Error).message})`);
  }
  if (!isRecord(header)) return bad('the header is not a JSON object');

  const buffer = bytes.subarray(8 + headerLength);
  const metadata: Record<string, string> = {};
  const tensors = new Map<string, Tensor>();
  const spans: { name: string; begin: number; end: number }[] = [];
  for (const [name, entry] of Object.entries(header)) {
    if (name === '__metadata__') {
      if (!isRecord(entry)) bad('__metadata__ is not an object');
      for (const [k, v] of Object.entries(entry as Record<string, unknown>)) {
        if (typeof v !== 'string') bad(`__metadata__ value for '${k}' is not a string`);
        Object.defineProperty(metadata, k, { value: v, enumerable: true, writable: true, configurable: true });
      }
      continue;
    }
    if (!isRecord(entry)) return bad(`the entry for tensor '${name}' is not an object`);
    const dtype = entry.dtype;
    if (typeof dtype !== 'string' || !(SAFETENSORS_DTYPES as readonly string[]).includes(dtype)) {
      bad(`tensor '${name}' has an unknown dtype ${JSON.stringify(dtype)}`);
    }
    const shape = entry.shape;
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && (d as number) >= 0)) {
      return bad(`tensor '${name}' has a bad shape ${JSON.stringify(shape)}`);
    }
    const offsets = entry.data_offsets;
    if (
      !Array.isArray(offsets) ||
      offsets.length !== 2 ||
      !offsets.every((o) => Number.isSafeInteger(o) && (o as number) >= 0) ||
      (offsets[0] as number) > (offsets[1] as number)
    ) {
      return bad(`tensor '${name}' has bad data_offsets ${JSON.stringify(offsets)}`);
    }
    const [begin, end] = offsets as [number, number];
    const dims = shape as number[];
    const expected = numelOf(dims) * dtypeSize(dtype as SafeDType);
    if (end - begin !== expected) {
      bad(`tensor '${name}' spans ${end - begin} bytes but ${dtype as string} [${dims.join(', ')}] needs ${expected}`);
    }
    spans.push({ name, begin, end });
    tensors.set(name, { dtype: dtype as SafeDType, shape: dims, data: new Uint8Array(0) });
  }

  spans.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let covered = 0;
  for (const s of spans) {
    if (s.begin < covered) bad(`tensor '${s.name}' overlaps the tensor before it`);
    if (s.begin > covered) bad(`a hole in the byte buffer before tensor '${s.name}' (bytes ${covered}-${s.begin})`);
    covered = s.end;
  }
  if (covered > buffer.length)
    bad(`truncated: the tensors need ${covered} bytes of data, the file has ${buffer.length}`);
  if (covered < buffer.length) bad(`${buffer.length - covered} trailing bytes after the last tensor`);
  for (const s of spans) {
    const t = tensors.get(s.name) as Tensor;
    tensors.set(s.name, { ...t, data: buffer.subarray(s.begin, s.end) });
  }
  return { tensors, metadata };
}

/** VT6015: a tensor a model needs is absent from a checkpoint, or has another dtype or shape. */
export function expectTensor(
  contents: SafetensorsContents,
  file: string,
  name: string,
  dtype: SafeDType,
  shape: readonly number[],
): Tensor {
  const t = contents.tensors.get(name);
  const fix = 'load a checkpoint saved from this model (same .vitm model and hyperparameters)';
  if (!t) throw new VitmRuntimeError('VT6015', `checkpoint ${file} has no tensor '${name}'`, fix);
  if (t.dtype !== dtype || t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
    throw new VitmRuntimeError(
      'VT6015',
      `tensor '${name}' in checkpoint ${file} is ${t.dtype} [${t.shape.join(', ')}], the model expects ${dtype} [${shape.join(', ')}]`,
      fix,
    );
  }
  return t;
}
