import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  labelHistogram,
  randomSplit,
  selectClasses,
  subset,
  takePerClass,
  validateDataset,
  type ImageDataset,
} from '../../runtime/data/dataset.js';
import { VitmRuntimeError } from '../../runtime/errors.js';

/** A tiny data set whose every image is filled with its own index (mod 256), so identity survives selection. */
function tagged(labels: readonly number[], classes: number): ImageDataset {
  const size = 4;
  const pixels = new Uint8Array(labels.length * size);
  labels.forEach((_, i) => pixels.fill(i % 256, i * size, (i + 1) * size));
  return validateDataset({
    name: 'tagged',
    shape: { channels: 1, height: 2, width: 2 },
    classes,
    pixels,
    labels: Int32Array.from(labels),
  });
}

/** The original indices of a selection's images (images are filled with their index). */
const idsOf = (ds: ImageDataset): number[] => Array.from(ds.labels, (_, k) => ds.pixels[k * 4] as number);

const arbLabels = fc.array(fc.integer({ min: 0, max: 4 }), { minLength: 0, maxLength: 200 });

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    if (error instanceof VitmRuntimeError) return error.code;
    throw error;
  }
  return undefined;
}

describe('selections', () => {
  it('selectClasses keeps exactly the listed classes, in order, relabelled by position', () => {
    fc.assert(
      fc.property(arbLabels, fc.uniqueArray(fc.integer({ min: 0, max: 4 }), { minLength: 1 }), (labels, classes) => {
        const ds = tagged(labels, 5);
        const sel = selectClasses(ds, classes);
        const expectedIds = labels.flatMap((y, i) => (classes.includes(y) ? [i] : []));
        expect(idsOf(sel)).toEqual(expectedIds.map((i) => i % 256));
        expect([...sel.labels]).toEqual(expectedIds.map((i) => classes.indexOf(labels[i] as number)));
        expect(sel.classes).toBe(classes.length);
      }),
    );
  });

  it('selectClasses rejects empty, duplicate and unknown classes with VT6014', () => {
    const ds = tagged([0, 1, 2], 3);
    expect(codeOf(() => selectClasses(ds, []))).toBe('VT6014');
    expect(codeOf(() => selectClasses(ds, [1, 1]))).toBe('VT6014');
    expect(codeOf(() => selectClasses(ds, [3]))).toBe('VT6014');
  });

  it('subsets 0-4 and 5-9 of one set are disjoint and together cover it', () => {
    const labels = Array.from({ length: 250 }, (_, i) => (i * 7) % 10);
    const ds = tagged(labels, 10);
    const a = idsOf(selectClasses(ds, [0, 1, 2, 3, 4]));
    const b = idsOf(selectClasses(ds, [5, 6, 7, 8, 9]));
    expect(a.filter((i) => b.includes(i))).toEqual([]);
    expect([...a, ...b].sort((x, y) => x - y)).toEqual(Array.from({ length: 250 }, (_, i) => i));
  });

  it('takePerClass: exact counts, disjoint from the rest, union is everything, reproducible, nested as n grows', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 2 }), { minLength: 30, maxLength: 200 }),
        fc.integer(),
        (labels, seed) => {
          const ds = tagged(labels, 3);
          const least = Math.min(...labelHistogram(ds));
          const n = Math.floor(least / 2);
          const { taken, rest } = takePerClass(ds, n, seed);
          expect(labelHistogram(taken)).toEqual([n, n, n]);
          const t = idsOf(taken);
          const r = idsOf(rest);
          expect(t.filter((i) => r.includes(i))).toEqual([]);
          expect([...t, ...r].sort((x, y) => x - y)).toEqual(Array.from({ length: labels.length }, (_, i) => i));
          expect(idsOf(takePerClass(ds, n, seed).taken)).toEqual(t);
          const bigger = idsOf(takePerClass(ds, least, seed).taken);
          expect(t.every((i) => bigger.includes(i))).toBe(true);
        },
      ),
    );
  });

  it('takePerClass asks for more than a class has: VT6014', () => {
    expect(codeOf(() => takePerClass(tagged([0, 0, 1], 2), 2, 0))).toBe('VT6014');
  });

  it('randomSplit: the requested count, disjoint, seeded', () => {
    const ds = tagged(
      Array.from({ length: 100 }, (_, i) => i % 4),
      4,
    );
    const { taken, rest } = randomSplit(ds, 30, 5);
    expect(taken.labels.length).toBe(30);
    expect(rest.labels.length).toBe(70);
    expect(idsOf(taken).filter((i) => idsOf(rest).includes(i))).toEqual([]);
    expect(idsOf(randomSplit(ds, 30, 5).taken)).toEqual(idsOf(taken));
    expect(idsOf(randomSplit(ds, 30, 6).taken)).not.toEqual(idsOf(taken));
    expect(codeOf(() => randomSplit(ds, 101, 0))).toBe('VT6014');
  });

  it('subset copies: mutating a selection leaves the source intact', () => {
    const ds = tagged([0, 1, 0], 2);
    const s = subset(ds, [2, 0]);
    s.pixels.fill(99);
    expect(ds.pixels[0]).toBe(0);
    expect(codeOf(() => validateDataset({ ...ds, labels: Int32Array.of(0, 1, 5) }))).toBe('VT6014');
  });
});
