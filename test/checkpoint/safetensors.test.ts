import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  SAFETENSORS_DTYPES,
  decodeSafetensors,
  dtypeSize,
  encodeSafetensors,
  expectTensor,
  numelOf,
  type Tensor,
} from '../../runtime/checkpoint/safetensors.js';
import {
  bf16BitsToFloat32,
  f16BitsToFloat32,
  f32,
  float32ToBf16Bits,
  float32ToF16Bits,
  floatTensor,
  intTensor,
  toFloat32,
  toInt32,
} from '../../runtime/checkpoint/tensor.js';
import { VitmRuntimeError } from '../../runtime/errors.js';

const arbTensor: fc.Arbitrary<Tensor> = fc
  .tuple(fc.constantFrom(...SAFETENSORS_DTYPES), fc.array(fc.integer({ min: 0, max: 4 }), { maxLength: 3 }))
  .chain(([dtype, shape]) => {
    const n = numelOf(shape) * dtypeSize(dtype);
    return fc.uint8Array({ minLength: n, maxLength: n }).map((data) => ({ dtype, shape, data }));
  });

const arbName = fc.string({ minLength: 1, maxLength: 12 }).filter((s) => s !== '__metadata__');
const arbTensors = fc.dictionary(arbName, arbTensor, { maxKeys: 6 });
const arbMetadata = fc.dictionary(fc.string({ maxLength: 8 }), fc.string({ maxLength: 16 }), { maxKeys: 4 });

function failure(fn: () => unknown): VitmRuntimeError | undefined {
  try {
    fn();
  } catch (error) {
    if (error instanceof VitmRuntimeError) return error;
    throw error;
  }
  return undefined;
}

/**
 * An independent minimal reader written from the format description: u64 LE header length, JSON header, raw
 * little-endian tensor bytes at data_offsets relative to the end of the header.
 */
function minimalRead(bytes: Uint8Array): { header: Record<string, unknown>; data: (name: string) => Uint8Array } {
  const n = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  const header = JSON.parse(Buffer.from(bytes.subarray(8, 8 + n)).toString('utf8')) as Record<string, unknown>;
  return {
    header,
    data: (name) => {
      const [b, e] = (header[name] as { data_offsets: [number, number] }).data_offsets;
      return bytes.subarray(8 + n + b, 8 + n + e);
    },
  };
}

describe('safetensors', () => {
  it('round-trips any tensors, dtypes and metadata', () => {
    fc.assert(
      fc.property(arbTensors, arbMetadata, (tensors, metadata) => {
        const bytes = encodeSafetensors(tensors, metadata);
        const back = decodeSafetensors(bytes, 'x.safetensors');
        expect(back.metadata).toEqual(metadata);
        expect([...back.tensors.keys()].sort()).toEqual(Object.keys(tensors).sort());
        for (const [name, t] of Object.entries(tensors)) {
          const u = back.tensors.get(name) as Tensor;
          expect(u.dtype).toBe(t.dtype);
          expect(u.shape).toEqual(t.shape);
          expect(Buffer.from(u.data).equals(Buffer.from(t.data))).toBe(true);
        }
      }),
    );
  });

  it('pads the header to 8 bytes with spaces and aligns every tensor to its element size', () => {
    fc.assert(
      fc.property(arbTensors, (tensors) => {
        const bytes = encodeSafetensors(tensors);
        const { header } = minimalRead(bytes);
        const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
        expect((8 + n) % 8).toBe(0);
        const text = Buffer.from(bytes.subarray(8, 8 + n)).toString('utf8');
        expect(text.startsWith('{')).toBe(true);
        const padding = text.slice(text.trimEnd().length);
        expect(text.trimEnd().endsWith('}')).toBe(true);
        expect(padding).toMatch(/^ {0,7}$/);
        for (const name of Object.keys(tensors)) {
          const entry = header[name] as { dtype: string; data_offsets: [number, number] };
          expect((8 + n + entry.data_offsets[0]) % dtypeSize(tensors[name]?.dtype ?? 'U8')).toBe(0);
        }
      }),
    );
  });

  it('writes bytes an independent reader understands: dtype, shape, offsets and little-endian values', () => {
    const weight = Float32Array.from({ length: 12 }, (_, i) => i * 0.5 - 3);
    const bytes = encodeSafetensors(
      {
        'head.weight': f32([3, 4], weight),
        'head.bias': floatTensor([3], [1, -2, 0.5], 'F16'),
        step: intTensor([1], [7], 'I64'),
      },
      { format: 'pt' },
    );
    const { header, data } = minimalRead(bytes);
    expect(header.__metadata__).toEqual({ format: 'pt' });
    expect(header['head.weight']).toMatchObject({ dtype: 'F32', shape: [3, 4] });
    const w = data('head.weight');
    const view = new DataView(w.buffer, w.byteOffset, w.byteLength);
    expect(Array.from({ length: 12 }, (_, i) => view.getFloat32(4 * i, true))).toEqual([...weight]);
    const b = data('head.bias');
    expect([...b]).toEqual([0x00, 0x3c, 0x00, 0xc0, 0x00, 0x38]); // 1, -2, 0.5 in binary16, little-endian
    expect(data('step')[0]).toBe(7);
    // The 8-byte tensor is first, then the 4-byte one, then the 2-byte one (reference writer's order).
    const offsets = ['step', 'head.weight', 'head.bias'].map(
      (k) => (header[k] as { data_offsets: number[] }).data_offsets,
    );
    expect(offsets).toEqual([
      [0, 8],
      [8, 56],
      [56, 62],
    ]);
  });

  it('converts float16 and bfloat16 exactly for every representable value, rounding to nearest even', () => {
    const wrong: string[] = [];
    for (let h = 0; h < 0x10000; h++) {
      const v = f16BitsToFloat32(h);
      const back = float32ToF16Bits(v);
      if (Number.isNaN(v) ? !Number.isNaN(f16BitsToFloat32(back)) : back !== h) wrong.push(`f16 ${h}`);
      const b = bf16BitsToFloat32(h);
      const bBack = float32ToBf16Bits(b);
      if (Number.isNaN(b) ? !Number.isNaN(bf16BitsToFloat32(bBack)) : bBack !== h) wrong.push(`bf16 ${h}`);
    }
    expect(wrong).toEqual([]);
    expect(float32ToF16Bits(1 + 2 ** -11)).toBe(0x3c00); // a tie: to even (1.0)
    expect(float32ToF16Bits(1 + 3 * 2 ** -11)).toBe(0x3c02); // a tie: to even (1 + 2^-9)
    expect(float32ToF16Bits(70000)).toBe(0x7c00); // overflow: infinity
    expect(float32ToF16Bits(2 ** -25)).toBe(0); // half the smallest subnormal: ties to even zero
    expect(float32ToF16Bits(2 ** -24)).toBe(1);
  });

  it('reads back typed values: toFloat32 from any float dtype, toInt32 from integer dtypes', () => {
    fc.assert(
      fc.property(
        fc.array(fc.float({ noNaN: true, min: -1000, max: 1000 }), { minLength: 1, maxLength: 20 }),
        (values) => {
          const a = Float32Array.from(values);
          expect(toFloat32(f32([a.length], a))).toEqual(a);
          expect(toFloat32(floatTensor([a.length], a, 'F64'))).toEqual(a);
          const h = toFloat32(floatTensor([a.length], a, 'F16'));
          h.forEach((v, i) => {
            expect(Math.abs(v - (a[i] as number))).toBeLessThanOrEqual(Math.abs(a[i] as number) * 2 ** -11 + 2 ** -25);
          });
        },
      ),
    );
    expect([...toInt32(intTensor([3], [-5, 0, 2 ** 31 - 1], 'I64'))]).toEqual([-5, 0, 2 ** 31 - 1]);
    expect([...toInt32(intTensor([2], [200, 3], 'U8'))]).toEqual([200, 3]);
  });

  it('reports truncated files as VT6011 whatever the cut', () => {
    const bytes = encodeSafetensors(
      { a: f32([2, 3], new Float32Array(6).fill(1)), b: intTensor([4], [1, 2, 3, 4]) },
      { k: 'v' },
    );
    for (let cut = 0; cut < bytes.length; cut++) {
      const e = failure(() => decodeSafetensors(bytes.subarray(0, cut), 'cut.safetensors'));
      expect(e?.code, `cut at ${cut}`).toBe('VT6011');
      expect(e?.message).toContain('cut.safetensors');
    }
  });

  it('reports each kind of corruption as VT6011 with the problem named', () => {
    const encodeHeader = (header: unknown, data = new Uint8Array(0), raw?: string): Uint8Array => {
      const json = Buffer.from(raw ?? JSON.stringify(header));
      const out = new Uint8Array(8 + json.length + data.length);
      new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
      out.set(json, 8);
      out.set(data, 8 + json.length);
      return out;
    };
    const t = (dtype: string, shape: number[], offsets: number[]): unknown => ({ dtype, shape, data_offsets: offsets });
    const huge = new Uint8Array(16);
    new DataView(huge.buffer).setBigUint64(0, 2n ** 40n, true);
    const cases: [string, Uint8Array, RegExp][] = [
      ['implausible length', huge, /implausible/],
      ['not an object', encodeHeader(null, undefined, '[1, 2]   '), /does not start with `\{`/],
      ['bad JSON', encodeHeader(null, undefined, '{"a": '), /not valid UTF-8 JSON/],
      ['unknown dtype', encodeHeader({ a: t('F8', [1], [0, 1]) }, new Uint8Array(1)), /unknown dtype "F8"/],
      ['bad shape', encodeHeader({ a: t('U8', [-1], [0, 1]) }, new Uint8Array(1)), /bad shape/],
      ['bad offsets', encodeHeader({ a: t('U8', [1], [1, 0]) }, new Uint8Array(1)), /bad data_offsets/],
      [
        'size mismatch',
        encodeHeader({ a: t('F32', [2], [0, 4]) }, new Uint8Array(4)),
        /spans 4 bytes but F32 \[2\] needs 8/,
      ],
      ['overlap', encodeHeader({ a: t('U8', [2], [0, 2]), b: t('U8', [2], [1, 3]) }, new Uint8Array(3)), /overlaps/],
      ['hole', encodeHeader({ a: t('U8', [1], [1, 2]) }, new Uint8Array(2)), /a hole in the byte buffer/],
      ['trailing', encodeHeader({ a: t('U8', [1], [0, 1]) }, new Uint8Array(3)), /2 trailing bytes/],
      ['metadata', encodeHeader({ __metadata__: { k: 1 } }), /__metadata__ value for 'k' is not a string/],
    ];
    for (const [what, bytes, message] of cases) {
      const e = failure(() => decodeSafetensors(bytes, 'bad.safetensors'));
      expect(e?.code, what).toBe('VT6011');
      expect(e?.message, what).toMatch(message);
      expect(e?.hint).toContain('earlier checkpoint');
    }
  });

  it('random damage is either harmless or VT6011, never another exception', () => {
    const bytes = encodeSafetensors(
      { w: f32([4, 4], new Float32Array(16).fill(0.25)), n: intTensor([2], [3, 4]) },
      { a: 'b' },
    );
    fc.assert(
      fc.property(fc.nat({ max: bytes.length - 1 }), fc.integer({ min: 1, max: 255 }), (at, xor) => {
        const damaged = bytes.slice();
        damaged[at] = (damaged[at] as number) ^ xor;
        const e = failure(() => decodeSafetensors(damaged, 'd.safetensors'));
        if (e) expect(e.code).toBe('VT6011');
      }),
      { numRuns: 500 },
    );
  });

  it('expectTensor: a missing tensor or another shape or dtype is VT6015', () => {
    const contents = decodeSafetensors(
      encodeSafetensors({ 'head.weight': f32([2, 3], new Float32Array(6)) }),
      'm.safetensors',
    );
    expect(expectTensor(contents, 'm.safetensors', 'head.weight', 'F32', [2, 3]).shape).toEqual([2, 3]);
    expect(failure(() => expectTensor(contents, 'm.safetensors', 'head.bias', 'F32', [2]))?.code).toBe('VT6015');
    const wrong = failure(() => expectTensor(contents, 'm.safetensors', 'head.weight', 'F32', [3, 2]));
    expect(wrong?.message).toMatch(/is F32 \[2, 3\], the model expects F32 \[3, 2\]/);
    expect(failure(() => expectTensor(contents, 'm.safetensors', 'head.weight', 'F16', [2, 3]))?.code).toBe('VT6015');
  });
});

describe('safetensors names', () => {
  it('a tensor or metadata key called __proto__ is an ordinary name', () => {
    const tensors = Object.defineProperty({}, '__proto__', {
      value: f32([1], Float32Array.of(2)),
      enumerable: true,
    }) as Record<string, Tensor>;
    const metadata = Object.defineProperty({}, '__proto__', { value: 'x', enumerable: true }) as Record<string, string>;
    const back = decodeSafetensors(encodeSafetensors(tensors, metadata), 'p.safetensors');
    expect([...back.tensors.keys()]).toEqual(['__proto__']);
    expect(Object.keys(back.metadata)).toEqual(['__proto__']);
  });
});
