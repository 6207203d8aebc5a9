/** The real Fashion-MNIST from the Debian package (installed by `npm run setup`): loaded once per split here. */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { labelHistogram, selectClasses, takePerClass } from '../../runtime/data/dataset.js';
import { FASHION_MNIST_DIR, fashionFiles, loadFashionMnist } from '../../runtime/data/fashion.js';
import { BatchLoader, FASHION_MNIST_NORMALIZATION } from '../../runtime/data/loader.js';
import { VitmRuntimeError } from '../../runtime/errors.js';

describe('Fashion-MNIST', () => {
  it('train: 60,000 28x28 grey images, 6,000 of each of the 10 classes', () => {
    const train = loadFashionMnist('train', { dir: FASHION_MNIST_DIR });
    expect(train.shape).toEqual({ channels: 1, height: 28, width: 28 });
    expect(train.labels.length).toBe(60_000);
    expect(train.pixels.length).toBe(60_000 * 784);
    expect(labelHistogram(train)).toEqual(new Array(10).fill(6000));
    expect(train.classNames?.[9]).toBe('Ankle boot');
    // The pixel statistics the loader's default normalisation is based on.
    let sum = 0;
    let sq = 0;
    for (const p of train.pixels) {
      sum += p / 255;
      sq += (p / 255) ** 2;
    }
    const mean = sum / train.pixels.length;
    expect(mean).toBeCloseTo(FASHION_MNIST_NORMALIZATION.mean, 2);
    expect(Math.sqrt(sq / train.pixels.length - mean * mean)).toBeCloseTo(FASHION_MNIST_NORMALIZATION.std, 2);
    // Cached: a second load is the same object.
    expect(loadFashionMnist('train', { dir: FASHION_MNIST_DIR })).toBe(train);
  });

  it('test: 10,000 images, 1,000 per class', () => {
    const test = loadFashionMnist('test', { dir: FASHION_MNIST_DIR });
    expect(test.labels.length).toBe(10_000);
    expect(labelHistogram(test)).toEqual(new Array(10).fill(1000));
  });

  it('the experiments: classes 5-9 relabelled 0-4, 1,000 labels (200 per class) chosen with a seed', () => {
    const train = loadFashionMnist('train', { dir: FASHION_MNIST_DIR });
    const down = selectClasses(train, [5, 6, 7, 8, 9]);
    expect(down.labels.length).toBe(30_000);
    expect(labelHistogram(down)).toEqual([6000, 6000, 6000, 6000, 6000]);
    expect(down.classNames).toEqual(['Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot']);
    const { taken, rest } = takePerClass(down, 200, 42);
    expect(taken.labels.length).toBe(1000);
    expect(labelHistogram(taken)).toEqual([200, 200, 200, 200, 200]);
    expect(rest.labels.length).toBe(29_000);
    const same = (a: Uint8Array, b: Uint8Array): boolean => Buffer.from(a).equals(Buffer.from(b));
    expect(same(takePerClass(down, 200, 42).taken.pixels, taken.pixels)).toBe(true);
    expect(same(takePerClass(down, 200, 43).taken.pixels, taken.pixels)).toBe(false);

    const loader = new BatchLoader(taken, { batchSize: 128, seed: 1, normalize: FASHION_MNIST_NORMALIZATION });
    const batch = loader.next();
    expect(batch.shape).toEqual([128, 1, 28, 28]);
    expect(batch.images.length).toBe(128 * 784);
    expect(Math.min(...batch.labels)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...batch.labels)).toBeLessThanOrEqual(4);
  });

  it('a missing file is VT6009 naming the file and `npm run setup`', () => {
    const dir = mkdtempSync(join(tmpdir(), 'vitm-no-fashion-'));
    let error: unknown;
    try {
      loadFashionMnist('test', { dir });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(VitmRuntimeError);
    const e = error as VitmRuntimeError;
    expect(e.code).toBe('VT6009');
    expect(e.message).toContain(fashionFiles('test', dir).images);
    expect(e.hint).toContain('npm run setup');
    expect(e.hint).toContain('dataset-fashion-mnist');
    expect(e.render()).toMatch(/^error VT6009: Fashion-MNIST file not found: .*t10k-images-idx3-ubyte\.gz\n {2}hint: /);
  });
});
