import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { VitmRuntimeError } from '../../runtime/errors.js';
import { IDX_TYPES, decodeIdx, encodeIdx, parseIdx, readIdxFile, type IdxType } from '../../runtime/data/idx.js';

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    if (error instanceof VitmRuntimeError) return `${error.code}: ${error.message}`;
    throw error;
  }
  return undefined;
}

const ranges: Record<IdxType, fc.Arbitrary<number>> = {
  u8: fc.integer({ min: 0, max: 255 }),
  i8: fc.integer({ min: -128, max: 127 }),
  i16: fc.integer({ min: -32768, max: 32767 }),
  i32: fc.integer(),
  f32: fc.float({ noNaN: true }).map(Math.fround),
  f64: fc.double({ noNaN: true }),
};

describe('IDX files', () => {
  it('parses a hand-written header: magic, type, big-endian dimensions', () => {
    // 2 images of 2x3 u8, written byte by byte from the format description.
    const bytes = Uint8Array.of(
      0,
      0,
      0x08,
      3,
      0,
      0,
      0,
      2,
      0,
      0,
      0,
      2,
      0,
      0,
      0,
      3,
      ...Array.from({ length: 12 }, (_, i) => i * 20),
    );
    const arr = parseIdx(bytes, 'hand.idx');
    expect(arr.type).toBe('u8');
    expect(arr.dims).toEqual([2, 2, 3]);
    expect([...arr.data]).toEqual(Array.from({ length: 12 }, (_, i) => i * 20));
  });

  it('round-trips every element type and shape, plain and gzipped', () => {
    const arb = fc
      .tuple(fc.constantFrom(...IDX_TYPES), fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 1, maxLength: 3 }))
      .chain(([type, dims]) => {
        const n = dims.reduce((a, b) => a * b, 1);
        return fc.tuple(fc.constant(type), fc.constant(dims), fc.array(ranges[type], { minLength: n, maxLength: n }));
      });
    fc.assert(
      fc.property(arb, ([type, dims, values]) => {
        const bytes = encodeIdx(type, dims, values);
        for (const input of [bytes, gzipSync(bytes)]) {
          const arr = decodeIdx(input, 'x.idx');
          expect(arr.type).toBe(type);
          expect(arr.dims).toEqual(dims);
          expect([...arr.data]).toEqual(values);
        }
      }),
    );
  });

  it('reports every malformation as VT6010 naming the file', () => {
    const good = encodeIdx('u8', [2, 2], [1, 2, 3, 4]);
    const cases: [string, Uint8Array, RegExp][] = [
      ['too short', Uint8Array.of(0, 0), /shorter than the 4-byte magic/],
      ['bad magic', Uint8Array.of(1, 2, 8, 1, 0, 0, 0, 0), /bad magic number 0x01020801/],
      ['unknown type', Uint8Array.of(0, 0, 0x07, 1, 0, 0, 0, 0), /unknown element type 0x07/],
      ['zero dimensions', Uint8Array.of(0, 0, 0x08, 0), /zero dimensions/],
      ['truncated header', good.subarray(0, 9), /truncated header/],
      [
        'truncated data',
        good.subarray(0, good.length - 1),
        /truncated: dimensions \[2, 2\] of u8 need 16 bytes, the file has 15/,
      ],
      ['trailing bytes', Uint8Array.of(...good, 9), /trailing bytes/],
      ['broken gzip', gzipSync(good).subarray(0, 12), /gzip stream is broken/],
    ];
    for (const [what, bytes, message] of cases) {
      const result = codeOf(() => decodeIdx(bytes, '/data/broken.gz'));
      expect(result, what).toMatch(/^VT6010: malformed IDX file \/data\/broken\.gz: /);
      expect(result, what).toMatch(message);
    }
  });

  it('a truncated gzipped file on disk is VT6010, a missing one VT6009', () => {
    const dir = mkdtempSync(join(tmpdir(), 'vitm-idx-'));
    const path = join(dir, 'cut.gz');
    const full = gzipSync(encodeIdx('u8', [100, 28, 28], new Uint8Array(78400).fill(7)));
    writeFileSync(path, full.subarray(0, full.length >> 1));
    expect(codeOf(() => readIdxFile(path))).toMatch(/^VT6010: .*cut\.gz/);
    expect(codeOf(() => readIdxFile(join(dir, 'absent.gz')))).toMatch(/^VT6009: data file not found: .*absent\.gz/);
  });
});
