import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { ImageShape } from '../../runtime/data/dataset.js';
import { Rng } from '../../runtime/data/rng.js';
import {
  addNoise,
  applyTransforms,
  checkTransforms,
  flipHorizontal,
  invert,
  rot90,
  shiftImage,
  type Transform,
} from '../../runtime/data/transforms.js';
import { VitmRuntimeError } from '../../runtime/errors.js';

/** A random image in [0, 1] with its shape; `square` forces height = width. */
function arbImage(square: boolean): fc.Arbitrary<{ shape: ImageShape; img: Float32Array }> {
  return fc
    .record({
      channels: fc.integer({ min: 1, max: 3 }),
      height: fc.integer({ min: 1, max: 9 }),
      width: fc.integer({ min: 1, max: 9 }),
    })
    .map((s) => (square ? { ...s, width: s.height } : s))
    .chain((shape) => {
      const n = shape.channels * shape.height * shape.width;
      return fc
        .array(fc.float({ min: 0, max: 1, noNaN: true }), { minLength: n, maxLength: n })
        .map((values) => ({ shape, img: Float32Array.from(values) }));
    });
}

const at = (img: Float32Array, s: ImageShape, c: number, y: number, x: number): number =>
  img[(c * s.height + y) * s.width + x] as number;

describe('transforms', () => {
  it('rot90 four times is the identity; k and k+4 agree; k=1 then k=-1 is the identity', () => {
    fc.assert(
      fc.property(arbImage(true), fc.integer({ min: -8, max: 8 }), ({ shape, img }, k) => {
        let out = img;
        for (let i = 0; i < 4; i++) out = rot90(out, shape, 1);
        expect(out).toEqual(img);
        expect(rot90(img, shape, k)).toEqual(rot90(img, shape, k + 4));
        expect(rot90(rot90(img, shape, 1), shape, -1)).toEqual(img);
      }),
    );
  });

  it('rot90 by one quarter turn is counter-clockwise: the top-right pixel goes to the top-left', () => {
    const shape = { channels: 1, height: 3, width: 3 };
    const img = Float32Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect([...rot90(img, shape, 1)]).toEqual([3, 6, 9, 2, 5, 8, 1, 4, 7]);
    expect([...rot90(img, shape, 2)]).toEqual([9, 8, 7, 6, 5, 4, 3, 2, 1]);
  });

  it('flipping twice is the identity, and a flip mirrors columns', () => {
    fc.assert(
      fc.property(arbImage(false), ({ shape, img }) => {
        const f = flipHorizontal(img, shape);
        expect(flipHorizontal(f, shape)).toEqual(img);
        expect(at(f, shape, 0, 0, 0)).toBe(at(img, shape, 0, 0, shape.width - 1));
      }),
    );
  });

  it('inverting twice is the identity (exactly, for 8-bit pixel values)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 64 }), (pixels) => {
        const img = Float32Array.from(pixels, (p) => p / 255);
        expect(invert(invert(img)).map((v) => Math.round(v * 255))).toEqual(Float32Array.from(pixels));
        expect(invert(img)[0]).toBeCloseTo(1 - (pixels[0] as number) / 255, 6);
      }),
    );
  });

  it('a shift preserves the shape, moves pixels and fills the uncovered band with the background', () => {
    fc.assert(
      fc.property(
        arbImage(false),
        fc.integer({ min: -3, max: 3 }),
        fc.integer({ min: -3, max: 3 }),
        ({ shape, img }, dy, dx) => {
          const out = shiftImage(img, shape, dy, dx, 0.25);
          expect(out.length).toBe(img.length);
          for (let c = 0; c < shape.channels; c++) {
            for (let y = 0; y < shape.height; y++) {
              for (let x = 0; x < shape.width; x++) {
                const sy = y - dy;
                const sx = x - dx;
                const inside = sy >= 0 && sy < shape.height && sx >= 0 && sx < shape.width;
                expect(at(out, shape, c, y, x)).toBe(inside ? at(img, shape, c, sy, sx) : 0.25);
              }
            }
          }
        },
      ),
    );
  });

  it('noise is reproducible by seed, differs across seeds, is clipped to [0, 1] and has the asked spread', () => {
    const img = new Float32Array(4096).fill(0.5);
    const a = addNoise(img, 0.1, Rng.of(3, 'noise'));
    expect(addNoise(img, 0.1, Rng.of(3, 'noise'))).toEqual(a);
    expect(addNoise(img, 0.1, Rng.of(4, 'noise'))).not.toEqual(a);
    const mean = a.reduce((s, v) => s + v, 0) / a.length;
    const sd = Math.sqrt(a.reduce((s, v) => s + (v - mean) ** 2, 0) / a.length);
    expect(mean).toBeCloseTo(0.5, 2);
    expect(sd).toBeGreaterThan(0.09);
    expect(sd).toBeLessThan(0.11);
    const loud = addNoise(img, 5, Rng.of(1));
    expect(Math.min(...loud)).toBe(0);
    expect(Math.max(...loud)).toBe(1);
  });

  it('a random pipeline is reproducible from the same stream', () => {
    const pipeline: Transform[] = [{ kind: 'flip' }, { kind: 'shift', max: 2 }, { kind: 'noise', std: 0.05 }];
    fc.assert(
      fc.property(arbImage(false), fc.integer(), ({ shape, img }, seed) => {
        expect(applyTransforms(img, shape, pipeline, Rng.of(seed))).toEqual(
          applyTransforms(img, shape, pipeline, Rng.of(seed)),
        );
      }),
    );
  });

  it('invalid transforms are VT6014 (odd quarter turns of a non-square image, bad parameters)', () => {
    const shape = { channels: 1, height: 4, width: 6 };
    const bad: Transform[] = [
      { kind: 'rot90', k: 1 },
      { kind: 'flip', p: 2 },
      { kind: 'shift', max: -1 },
      { kind: 'noise', std: -0.1 },
    ];
    for (const t of bad) {
      expect(() => {
        checkTransforms([t], shape);
      }).toThrow(VitmRuntimeError);
    }
    expect(() => {
      checkTransforms([{ kind: 'rot90', k: 2 }, { kind: 'invert' }], shape);
    }).not.toThrow();
  });
});
