import { describe, expect, it } from 'vitest';
import { BatchLoader, evalBatches, type Batch } from '../../runtime/data/loader.js';
import { validateDataset, type ImageDataset } from '../../runtime/data/dataset.js';
import { syntheticDataset } from '../../runtime/data/synthetic.js';
import { VitmRuntimeError } from '../../runtime/errors.js';

/** n images of 1x2x2 whose pixels are all their index, label = index % 3: a batch says which images it holds. */
function indexed(n: number): ImageDataset {
  const pixels = new Uint8Array(n * 4);
  for (let i = 0; i < n; i++) pixels.fill(i, 4 * i, 4 * i + 4);
  return validateDataset({
    name: `indexed(${n})`,
    shape: { channels: 1, height: 2, width: 2 },
    classes: 3,
    pixels,
    labels: Int32Array.from({ length: n }, (_, i) => i % 3),
  });
}

const ids = (b: Batch): number[] => Array.from(b.labels, (_, k) => Math.round((b.images[4 * k] as number) * 255));

describe('BatchLoader', () => {
  it('yields NCHW float32 batches with int32 labels, pixels scaled and normalised', () => {
    const ds = syntheticDataset({ count: 64, classes: 4, seed: 1 });
    const loader = new BatchLoader(ds, { batchSize: 16, seed: 0, shuffle: false, normalize: { mean: 0.5, std: 0.25 } });
    const b = loader.next();
    expect(b.shape).toEqual([16, 1, 28, 28]);
    expect(b.images).toBeInstanceOf(Float32Array);
    expect(b.labels).toBeInstanceOf(Int32Array);
    expect(b.images[0]).toBeCloseTo(((ds.pixels[0] as number) / 255 - 0.5) / 0.25, 6);
    expect(b.images[784 * 3 + 5]).toBeCloseTo(((ds.pixels[784 * 3 + 5] as number) / 255 - 0.5) / 0.25, 6);
    expect([...b.labels]).toEqual([...ds.labels.subarray(0, 16)]);
  });

  it('an epoch visits every image exactly once; epochs differ; the same seed gives the same order', () => {
    const ds = indexed(100);
    const loader = new BatchLoader(ds, { batchSize: 7, seed: 9, dropLast: false });
    expect(loader.batchesPerEpoch).toBe(15);
    const epoch0 = [...loader.restOfEpoch()].flatMap(ids);
    expect([...epoch0].sort((a, b) => a - b)).toEqual(Array.from({ length: 100 }, (_, i) => i));
    const epoch1 = [...loader.restOfEpoch()].flatMap(ids);
    expect(epoch1).not.toEqual(epoch0);
    const again = new BatchLoader(ds, { batchSize: 7, seed: 9, dropLast: false });
    expect([...again.restOfEpoch()].flatMap(ids)).toEqual(epoch0);
    expect(
      [...new BatchLoader(ds, { batchSize: 7, seed: 10, dropLast: false }).restOfEpoch()].flatMap(ids),
    ).not.toEqual(epoch0);
  });

  it('drops the incomplete last batch when shuffling (by default) and keeps it otherwise', () => {
    const ds = indexed(10);
    expect(new BatchLoader(ds, { batchSize: 4, seed: 0 }).batchesPerEpoch).toBe(2);
    const batches = [...evalBatches(ds, 4)];
    expect(batches.map((b) => b.size)).toEqual([4, 4, 2]);
    expect(batches.flatMap(ids)).toEqual(Array.from({ length: 10 }, (_, i) => i));
  });

  it('resumes exactly: a fresh loader seeked to step s (or restored from state) continues the same stream', () => {
    const ds = indexed(50);
    const options = { batchSize: 8, seed: 3, augment: [{ kind: 'flip' as const }] };
    const reference = new BatchLoader(ds, options);
    const stream = Array.from({ length: 20 }, () => reference.next());
    const interrupted = new BatchLoader(ds, options);
    for (let s = 0; s < 13; s++) interrupted.next();
    const saved: unknown = JSON.parse(JSON.stringify(interrupted.state()));

    const bySeek = new BatchLoader(ds, options);
    bySeek.seek(bySeek.positionOfStep(13));
    const byState = new BatchLoader(ds, options);
    byState.restore(saved);
    for (let s = 13; s < 20; s++) {
      const want = stream[s] as Batch;
      for (const loader of [bySeek, byState]) {
        const got = loader.next();
        expect(got.images).toEqual(want.images);
        expect(got.labels).toEqual(want.labels);
        expect([got.epoch, got.index]).toEqual([want.epoch, want.index]);
      }
    }
  });

  it('refuses to resume on other data or settings (VT6014)', () => {
    const saved = new BatchLoader(indexed(50), { batchSize: 8, seed: 3 }).state();
    const expectRefusal = (loader: BatchLoader): void => {
      let code: string | undefined;
      try {
        loader.restore(saved);
      } catch (e) {
        code = e instanceof VitmRuntimeError ? e.code : 'other';
      }
      expect(code).toBe('VT6014');
    };
    expectRefusal(new BatchLoader(indexed(50), { batchSize: 8, seed: 4 }));
    expectRefusal(new BatchLoader(indexed(50), { batchSize: 4, seed: 3 }));
    expectRefusal(new BatchLoader(indexed(51), { batchSize: 8, seed: 3 }));
    expectRefusal(new BatchLoader(indexed(50), { batchSize: 8, seed: 3, augment: [{ kind: 'invert' }] }));
    let notAState: string | undefined;
    try {
      new BatchLoader(indexed(50), { batchSize: 8, seed: 3 }).restore({ step: 3 });
    } catch (e) {
      notAState = e instanceof VitmRuntimeError ? e.code : 'other';
    }
    expect(notAState).toBe('VT6014');
  });

  it('nextAsync prefetches in the background and gives the same batches as next()', async () => {
    const ds = syntheticDataset({ count: 96, classes: 3, seed: 2 });
    const options = { batchSize: 10, seed: 5, augment: [{ kind: 'shift' as const, max: 2 }] };
    const sync = new BatchLoader(ds, options);
    const prefetching = new BatchLoader(ds, options);
    let prepared = 0;
    const original = prefetching.batchAt.bind(prefetching);
    prefetching.batchAt = (epoch: number, index: number): Batch => {
      prepared++;
      return original(epoch, index);
    };
    for (let s = 0; s < 25; s++) {
      const got = await prefetching.nextAsync();
      const want = sync.next();
      expect(got.images).toEqual(want.images);
      expect(got.labels).toEqual(want.labels);
    }
    // Each batch was prepared once. The one after the last taken is being prepared in the background: it is not
    // there yet, and is after one turn of the event loop (when a trainer would be waiting for the GPU).
    expect(prepared).toBe(25);
    await new Promise((resolve) => setImmediate(resolve));
    expect(prepared).toBe(26);
    const next = await prefetching.nextAsync();
    expect(prepared).toBe(26);
    expect(next.images).toEqual(sync.next().images);
  });

  it('domain transforms are fixed per image across epochs; augmentation changes per epoch', () => {
    const ds = syntheticDataset({ count: 20, classes: 2, seed: 4 });
    const domain = new BatchLoader(ds, {
      batchSize: 20,
      seed: 1,
      shuffle: false,
      domain: [{ kind: 'noise', std: 0.2 }],
    });
    expect(domain.next().images).toEqual(domain.next().images);
    const augment = new BatchLoader(ds, {
      batchSize: 20,
      seed: 1,
      shuffle: false,
      augment: [{ kind: 'noise', std: 0.2 }],
    });
    expect(augment.next().images).not.toEqual(augment.next().images);
    const rotated = new BatchLoader(ds, { batchSize: 20, seed: 1, shuffle: false, domain: [{ kind: 'rot90', k: 2 }] });
    const plain = new BatchLoader(ds, { batchSize: 20, seed: 1, shuffle: false });
    const r = rotated.next().images;
    const p = plain.next().images;
    expect(r[0]).toBe(p[783]); // a half turn maps the first pixel to the last
  });

  it('rejects a batch larger than the data (when dropping the last) and bad seeks with VT6014', () => {
    expect(() => new BatchLoader(indexed(5), { batchSize: 8, seed: 0 })).toThrow(VitmRuntimeError);
    const loader = new BatchLoader(indexed(16), { batchSize: 8, seed: 0 });
    expect(() => {
      loader.seek({ epoch: 0, batch: 2 });
    }).toThrow(VitmRuntimeError);
  });
});
