/**
 * In-memory labelled image data sets and the selections the experiments need: class subsets with label remapping
 * (pre-train on classes 0-4, fine-tune on 5-9), N labels per class chosen with a seed (the 1,000-label regime), and
 * disjoint splits (a held-out validation set).
 *
 * Images are kept as 8-bit pixels, `[N, C, H, W]` row-major (60,000 Fashion-MNIST images are 47 MB this way, four
 * times less than as floats); the batch iterator converts them to normalised float32 batches.
 */
import { VitmRuntimeError } from '../errors.js';
import { Rng, permutation } from './rng.js';

export interface ImageShape {
  readonly channels: number;
  readonly height: number;
  readonly width: number;
}

export interface ImageDataset {
  /** A name for messages and run metadata, e.g. `fashion-mnist/train[5-9]`. */
  readonly name: string;
  readonly shape: ImageShape;
  /** Labels are 0..classes-1. */
  readonly classes: number;
  /** Optional human-readable class names, `classes` long. */
  readonly classNames?: readonly string[];
  /** `count * channels * height * width` pixels, 0-255, `[N, C, H, W]`. */
  readonly pixels: Uint8Array;
  /** `count` labels. */
  readonly labels: Int32Array;
}

export function datasetSize(ds: ImageDataset): number {
  return ds.labels.length;
}

export function imageSize(shape: ImageShape): number {
  return shape.channels * shape.height * shape.width;
}

export function selectionError(message: string, hint?: string): VitmRuntimeError {
  return new VitmRuntimeError('VT6014', message, hint);
}

/** Checks the invariants of a data set (sizes agree, labels in range); returns it. */
export function validateDataset(ds: ImageDataset): ImageDataset {
  const n = ds.labels.length;
  if (ds.pixels.length !== n * imageSize(ds.shape)) {
    throw selectionError(`data set ${ds.name}: ${ds.pixels.length} pixels for ${n} images of ${shapeText(ds.shape)}`);
  }
  for (let i = 0; i < n; i++) {
    const y = ds.labels[i] as number;
    if (!(y >= 0 && y < ds.classes))
      throw selectionError(`data set ${ds.name}: label ${y} of image ${i} is out of range`);
  }
  return ds;
}

function shapeText(s: ImageShape): string {
  return `${s.channels}x${s.height}x${s.width}`;
}

/** The images at `indices`, in that order, as a new data set (pixels copied). */
export function subset(ds: ImageDataset, indices: ArrayLike<number>, name = `${ds.name}[subset]`): ImageDataset {
  const size = imageSize(ds.shape);
  const pixels = new Uint8Array(indices.length * size);
  const labels = new Int32Array(indices.length);
  for (let k = 0; k < indices.length; k++) {
    const i = indices[k] as number;
    pixels.set(ds.pixels.subarray(i * size, (i + 1) * size), k * size);
    labels[k] = ds.labels[i] as number;
  }
  return { ...ds, name, pixels, labels };
}

/** Number of images per label, `classes` long. */
export function labelHistogram(ds: ImageDataset): number[] {
  const counts = new Array<number>(ds.classes).fill(0);
  for (const y of ds.labels) counts[y] = (counts[y] ?? 0) + 1;
  return counts;
}

/**
 * The images whose label is one of `classes`, in their original order, relabelled by position in `classes`: with
 * `classes = [5, 6, 7, 8, 9]`, label 5 becomes 0 and 9 becomes 4. Class names follow. Duplicates and labels out of
 * range are VT6014.
 */
export function selectClasses(ds: ImageDataset, classes: readonly number[]): ImageDataset {
  if (classes.length === 0) throw selectionError(`a class subset of ${ds.name} must name at least one class`);
  const remap = new Int32Array(ds.classes).fill(-1);
  classes.forEach((c, k) => {
    if (!Number.isInteger(c) || c < 0 || c >= ds.classes) {
      throw selectionError(`class ${c} does not exist in ${ds.name} (classes 0-${ds.classes - 1})`);
    }
    if (remap[c] !== -1) throw selectionError(`class ${c} is listed twice in a class subset of ${ds.name}`);
    remap[c] = k;
  });
  const indices: number[] = [];
  for (let i = 0; i < ds.labels.length; i++) if ((remap[ds.labels[i] as number] as number) >= 0) indices.push(i);
  const picked = subset(ds, indices, `${ds.name}[classes ${classes.join(',')}]`);
  for (let k = 0; k < picked.labels.length; k++) picked.labels[k] = remap[picked.labels[k] as number] as number;
  const names = ds.classNames;
  return {
    ...picked,
    classes: classes.length,
    ...(names ? { classNames: classes.map((c) => names[c] ?? String(c)) } : {}),
  };
}

/** Two disjoint parts of a data set whose union is the whole. */
export interface Split {
  readonly taken: ImageDataset;
  readonly rest: ImageDataset;
}

/**
 * `perClass` images of every class chosen uniformly at random with `seed` (the same seed gives the same choice),
 * and the rest. Both parts keep the original order of the images. A class with fewer than `perClass` images is
 * VT6014. The choice for a class depends only on the seed, the class and the data set's order, so growing `perClass`
 * extends the earlier choice (100 per class is a prefix of 200 per class).
 */
export function takePerClass(ds: ImageDataset, perClass: number, seed: number): Split {
  if (!Number.isInteger(perClass) || perClass < 0) {
    throw selectionError(`labels per class must be a non-negative integer, got ${perClass}`);
  }
  const byClass: number[][] = Array.from({ length: ds.classes }, () => []);
  ds.labels.forEach((y, i) => byClass[y]?.push(i));
  const chosen = new Uint8Array(ds.labels.length);
  byClass.forEach((members, c) => {
    if (members.length < perClass) {
      throw selectionError(
        `${ds.name} has ${members.length} images of class ${c}, fewer than the ${perClass} per class asked for`,
        'ask for fewer labels per class, or select from a larger split',
      );
    }
    const order = permutation(members.length, Rng.of(seed, 'per-class', c));
    for (let k = 0; k < perClass; k++) chosen[members[order[k] as number] as number] = 1;
  });
  const taken: number[] = [];
  const rest: number[] = [];
  chosen.forEach((bit, i) => (bit ? taken : rest).push(i));
  return {
    taken: subset(ds, taken, `${ds.name}[${perClass}/class seed ${seed}]`),
    rest: subset(ds, rest, `${ds.name}[rest of ${perClass}/class seed ${seed}]`),
  };
}

/** The first `count` images of a seeded permutation, and the rest (both in original order): a random hold-out. */
export function randomSplit(ds: ImageDataset, count: number, seed: number): Split {
  const n = ds.labels.length;
  if (!Number.isInteger(count) || count < 0 || count > n) {
    throw selectionError(`cannot take ${count} images from ${ds.name}, which has ${n}`);
  }
  const order = permutation(n, Rng.of(seed, 'random-split'));
  const chosen = new Uint8Array(n);
  for (let k = 0; k < count; k++) chosen[order[k] as number] = 1;
  const taken: number[] = [];
  const rest: number[] = [];
  chosen.forEach((bit, i) => (bit ? taken : rest).push(i));
  return { taken: subset(ds, taken, `${ds.name}[${count} seed ${seed}]`), rest: subset(ds, rest, `${ds.name}[rest]`) };
}
