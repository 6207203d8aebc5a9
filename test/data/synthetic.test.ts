import { describe, expect, it } from 'vitest';
import { labelHistogram, randomSplit, type ImageDataset } from '../../runtime/data/dataset.js';
import { syntheticDataset } from '../../runtime/data/synthetic.js';

/** Accuracy of a nearest-centroid classifier fitted on `train` and scored on `test`. */
function nearestCentroidAccuracy(train: ImageDataset, test: ImageDataset): number {
  const size = train.pixels.length / train.labels.length;
  const centroids = Array.from({ length: train.classes }, () => new Float64Array(size));
  const counts = labelHistogram(train);
  train.labels.forEach((y, i) => {
    const c = centroids[y] as Float64Array;
    for (let p = 0; p < size; p++)
      c[p] = (c[p] as number) + (train.pixels[i * size + p] as number) / (counts[y] as number);
  });
  let correct = 0;
  test.labels.forEach((y, i) => {
    let best = -1;
    let bestDistance = Infinity;
    centroids.forEach((c, k) => {
      let d = 0;
      for (let p = 0; p < size; p++) d += ((test.pixels[i * size + p] as number) - (c[p] as number)) ** 2;
      if (d < bestDistance) {
        bestDistance = d;
        best = k;
      }
    });
    if (best === y) correct++;
  });
  return correct / test.labels.length;
}

describe('synthetic data sets', () => {
  it('have the Fashion-MNIST layout, balanced labels and are reproducible by seed', () => {
    const a = syntheticDataset({ count: 200, classes: 10, seed: 1 });
    expect(a.shape).toEqual({ channels: 1, height: 28, width: 28 });
    expect(a.pixels.length).toBe(200 * 784);
    expect(labelHistogram(a)).toEqual(new Array(10).fill(20));
    expect(syntheticDataset({ count: 200, classes: 10, seed: 1 }).pixels).toEqual(a.pixels);
    expect(
      Buffer.from(syntheticDataset({ count: 200, classes: 10, seed: 2 }).pixels).equals(Buffer.from(a.pixels)),
    ).toBe(false);
  });

  it('are learnable: a nearest-centroid classifier scores far above chance on held-out images', () => {
    const ds = syntheticDataset({ count: 1000, classes: 10, seed: 7 });
    const { taken: test, rest: train } = randomSplit(ds, 200, 0);
    const accuracy = nearestCentroidAccuracy(train, test);
    expect(accuracy).toBeGreaterThan(0.9);
    // ...and the labels matter: with shuffled labels the same classifier is near chance.
    const shuffled = { ...train, labels: Int32Array.from(train.labels, (_, i) => (i * 7919) % 10) };
    expect(nearestCentroidAccuracy(shuffled, test)).toBeLessThan(0.3);
  });
});
