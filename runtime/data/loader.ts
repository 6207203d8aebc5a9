/**
 * Batches for training and evaluation: NCHW float32 images `[B, C, H, W]` and int32 labels `[B]`.
 *
 * A `BatchLoader` walks epochs forever; epoch e visits the images in a seeded permutation that depends only on
 * (seed, e), so any position `{ epoch, batch }` can be recomputed from scratch: resuming a run at step s is
 * `loader.seek(loader.positionOfStep(s))`, with no hidden state to save. Per image, the pipeline is
 *
 *   pixels / 255  ->  domain transforms  ->  augmentation  ->  (x - mean) / std
 *
 * Domain transforms draw randomness from (seed, 'domain', image index): an image looks the same in every epoch (a
 * fixed "rotated" or "noisy" domain). Augmentation draws from (seed, 'augment', epoch, image index): fresh each epoch,
 * yet reproducible and independent of batch size and prefetching.
 *
 * `next()` prepares a batch synchronously. `nextAsync()` returns the batch prepared in the background and starts
 * preparing the following one on the next turn of the event loop, so the host builds batch k+1 while the GPU runs
 * step k (the trainer awaits GPU work between steps, which is when the preparation runs).
 */
import { datasetSize, imageSize, selectionError, type ImageDataset, type ImageShape } from './dataset.js';
import { Rng, permutation } from './rng.js';
import { applyTransforms, checkTransforms, transformToString, type Transform } from './transforms.js';

/** Per-channel-agnostic normalisation applied after the transforms: (x - mean) / std, x in [0, 1]. */
export interface Normalization {
  readonly mean: number;
  readonly std: number;
}

/** The mean and standard deviation of Fashion-MNIST's training pixels (scaled to [0, 1]). */
export const FASHION_MNIST_NORMALIZATION: Normalization = { mean: 0.286, std: 0.353 };

export interface LoaderOptions {
  readonly batchSize: number;
  readonly seed: number;
  /** Visit images in a seeded random order per epoch (default true); false keeps the data set's order. */
  readonly shuffle?: boolean;
  /** Drop the last incomplete batch of an epoch (default: true when shuffling, false otherwise). */
  readonly dropLast?: boolean;
  /** Default `{ mean: 0, std: 1 }`: pixels in [0, 1]. */
  readonly normalize?: Normalization;
  /** Transforms fixed per image (a domain): the same in every epoch. */
  readonly domain?: readonly Transform[];
  /** Random augmentation, drawn afresh each epoch. */
  readonly augment?: readonly Transform[];
}

export interface Batch {
  /** `size * C * H * W` floats, NCHW. */
  readonly images: Float32Array;
  /** `size` labels. */
  readonly labels: Int32Array;
  readonly size: number;
  /** `[size, C, H, W]`. */
  readonly shape: readonly [number, number, number, number];
  readonly epoch: number;
  /** The batch's index within its epoch. */
  readonly index: number;
}

/** The next batch a loader will deliver. */
// A type alias, not an interface, so that a position (and a `LoaderState`) is assignable to JSON in a checkpoint.
// eslint-disable-next-line @typescript-eslint/consistent-type-definitions
export type LoaderPosition = {
  readonly epoch: number;
  readonly batch: number;
};

/** What a checkpoint stores to resume a loader and to check it is resumed on the same data. */
export type LoaderState = LoaderPosition & {
  readonly seed: number;
  readonly batchSize: number;
  readonly datasetSize: number;
  readonly dataset: string;
  readonly pipeline: string;
};

/** True when `x` has the fields of a `LoaderState` (as read back from a checkpoint's JSON). */
export function isLoaderState(x: unknown): x is LoaderState {
  if (typeof x !== 'object' || x === null) return false;
  const s = x as Record<string, unknown>;
  return (
    ['epoch', 'batch', 'seed', 'batchSize', 'datasetSize'].every((k) => typeof s[k] === 'number') &&
    typeof s.dataset === 'string' &&
    typeof s.pipeline === 'string'
  );
}

export class BatchLoader {
  readonly dataset: ImageDataset;
  readonly batchSize: number;
  readonly seed: number;
  readonly shuffle: boolean;
  readonly dropLast: boolean;
  readonly normalize: Normalization;
  readonly domain: readonly Transform[];
  readonly augment: readonly Transform[];
  /** Batches per epoch. */
  readonly batchesPerEpoch: number;

  private epoch = 0;
  private batch = 0;
  private orderEpoch = -1;
  private orderCache: Int32Array | undefined;
  private pending: { readonly epoch: number; readonly batch: number; readonly result: Promise<Batch> } | undefined;

  constructor(dataset: ImageDataset, options: LoaderOptions) {
    const n = datasetSize(dataset);
    if (!Number.isInteger(options.batchSize) || options.batchSize <= 0) {
      throw selectionError(`the batch size must be a positive integer, got ${options.batchSize}`);
    }
    this.dataset = dataset;
    this.batchSize = options.batchSize;
    this.seed = options.seed;
    this.shuffle = options.shuffle ?? true;
    this.dropLast = options.dropLast ?? this.shuffle;
    this.normalize = options.normalize ?? { mean: 0, std: 1 };
    if (!(this.normalize.std > 0)) throw selectionError(`normalisation std must be > 0, got ${this.normalize.std}`);
    this.domain = options.domain ?? [];
    this.augment = options.augment ?? [];
    checkTransforms(this.domain, dataset.shape);
    checkTransforms(this.augment, dataset.shape);
    this.batchesPerEpoch = this.dropLast ? Math.floor(n / this.batchSize) : Math.ceil(n / this.batchSize);
    if (this.batchesPerEpoch === 0) {
      throw selectionError(
        `${dataset.name} has ${n} images: not one full batch of ${this.batchSize}`,
        'use a smaller batch or more data',
      );
    }
  }

  get shape(): ImageShape {
    return this.dataset.shape;
  }

  /** The position of global step `step` (0-based) when every step consumes one batch. */
  positionOfStep(step: number): LoaderPosition {
    return { epoch: Math.floor(step / this.batchesPerEpoch), batch: step % this.batchesPerEpoch };
  }

  position(): LoaderPosition {
    return { epoch: this.epoch, batch: this.batch };
  }

  /** Moves to a position; a prefetched batch for another position is dropped. */
  seek(position: LoaderPosition): void {
    if (
      !Number.isInteger(position.epoch) ||
      position.epoch < 0 ||
      !Number.isInteger(position.batch) ||
      position.batch < 0 ||
      position.batch >= this.batchesPerEpoch
    ) {
      throw selectionError(
        `cannot seek to epoch ${position.epoch} batch ${position.batch} (${this.batchesPerEpoch} batches per epoch)`,
      );
    }
    this.epoch = position.epoch;
    this.batch = position.batch;
  }

  /** A description of the data and pipeline: equal strings mean the same batches for the same position. */
  describe(): string {
    const parts = [
      `batch ${this.batchSize}`,
      this.shuffle ? 'shuffle' : 'ordered',
      this.dropLast ? 'drop-last' : 'keep-last',
      `normalize(${this.normalize.mean}, ${this.normalize.std})`,
      `domain[${this.domain.map(transformToString).join(', ')}]`,
      `augment[${this.augment.map(transformToString).join(', ')}]`,
    ];
    return parts.join(' ');
  }

  state(): LoaderState {
    return {
      epoch: this.epoch,
      batch: this.batch,
      seed: this.seed,
      batchSize: this.batchSize,
      datasetSize: datasetSize(this.dataset),
      dataset: this.dataset.name,
      pipeline: this.describe(),
    };
  }

  /**
   * Resumes from a saved state (`state()`, possibly read back from JSON), after checking it was saved for the same
   * data and pipeline (VT6014 if not, or if it is not a loader state at all).
   */
  restore(state: unknown): void {
    if (!isLoaderState(state)) {
      throw selectionError(`cannot resume the data order: ${JSON.stringify(state)} is not a data loader state`);
    }
    const mine = this.state();
    for (const key of ['seed', 'batchSize', 'datasetSize', 'dataset', 'pipeline'] as const) {
      if (state[key] !== mine[key]) {
        throw selectionError(
          `cannot resume the data order: the checkpoint was saved with ${key} ${JSON.stringify(state[key])}, this run has ${JSON.stringify(mine[key])}`,
          'resume with the same data, seed and batch size as the interrupted run',
        );
      }
    }
    this.seek(state);
  }

  /** The visiting order of an epoch: a seeded permutation, or the identity without shuffling. */
  order(epoch: number): Int32Array {
    if (epoch !== this.orderEpoch || !this.orderCache) {
      const n = datasetSize(this.dataset);
      this.orderCache = this.shuffle ? permutation(n, Rng.of(this.seed, 'order', epoch)) : identity(n);
      this.orderEpoch = epoch;
    }
    return this.orderCache;
  }

  /** The batch at a position, computed from scratch (pure: it does not move the loader). */
  batchAt(epoch: number, index: number): Batch {
    const order = this.order(epoch);
    const start = index * this.batchSize;
    const size = Math.min(this.batchSize, order.length - start);
    const { channels, height, width } = this.dataset.shape;
    const pixelsPer = imageSize(this.dataset.shape);
    const images = new Float32Array(size * pixelsPer);
    const labels = new Int32Array(size);
    const { mean, std } = this.normalize;
    const plain = this.domain.length === 0 && this.augment.length === 0;
    for (let k = 0; k < size; k++) {
      const i = order[start + k] as number;
      labels[k] = this.dataset.labels[i] as number;
      const src = this.dataset.pixels.subarray(i * pixelsPer, (i + 1) * pixelsPer);
      const out = images.subarray(k * pixelsPer, (k + 1) * pixelsPer);
      if (plain) {
        for (let p = 0; p < pixelsPer; p++) out[p] = ((src[p] as number) / 255 - mean) / std;
        continue;
      }
      let img: Float32Array = Float32Array.from(src, (v) => v / 255);
      if (this.domain.length > 0)
        img = applyTransforms(img, this.dataset.shape, this.domain, Rng.of(this.seed, 'domain', i));
      if (this.augment.length > 0) {
        img = applyTransforms(img, this.dataset.shape, this.augment, Rng.of(this.seed, 'augment', epoch, i));
      }
      for (let p = 0; p < pixelsPer; p++) out[p] = ((img[p] as number) - mean) / std;
    }
    return { images, labels, size, shape: [size, channels, height, width], epoch, index };
  }

  /** The next batch, prepared now; moves the loader on (into the next epoch after the last batch). */
  next(): Batch {
    const b = this.batchAt(this.epoch, this.batch);
    this.advance();
    return b;
  }

  /**
   * The next batch, prepared in the background when a previous call asked for it, and starts preparing the one
   * after. Do not mix with `next()` without awaiting: both move the same position.
   */
  async nextAsync(): Promise<Batch> {
    const { epoch, batch } = this;
    const ready = this.pending?.epoch === epoch && this.pending.batch === batch ? this.pending : undefined;
    this.pending = undefined;
    this.advance();
    this.prefetch();
    return ready ? ready.result : this.batchAt(epoch, batch);
  }

  /** Starts preparing the batch at the current position on the next turn of the event loop. */
  prefetch(): void {
    const { epoch, batch } = this;
    if (this.pending?.epoch === epoch && this.pending.batch === batch) return;
    const result = new Promise<Batch>((resolve, reject) => {
      setImmediate(() => {
        try {
          resolve(this.batchAt(epoch, batch));
        } catch (error) {
          reject(error instanceof Error ? error : new Error(String(error)));
        }
      });
    });
    result.catch(() => undefined); // reported when (and if) the batch is taken
    this.pending = { epoch, batch, result };
  }

  /** The remaining batches of the current epoch (moves the loader; ends at the start of the next epoch). */
  *restOfEpoch(): Generator<Batch> {
    const epoch = this.epoch;
    while (this.epoch === epoch) yield this.next();
  }

  private advance(): void {
    this.batch++;
    if (this.batch >= this.batchesPerEpoch) {
      this.batch = 0;
      this.epoch++;
    }
  }
}

function identity(n: number): Int32Array {
  const p = new Int32Array(n);
  for (let i = 0; i < n; i++) p[i] = i;
  return p;
}

/**
 * Every image once, in order, in batches (the last one possibly smaller): for evaluation. A domain's random
 * transforms (noise) are drawn with `seed` (default 0), per image, as in a training loader with the same seed.
 */
export function* evalBatches(
  dataset: ImageDataset,
  batchSize: number,
  options: Pick<LoaderOptions, 'normalize' | 'domain'> & { readonly seed?: number } = {},
): Generator<Batch> {
  const loader = new BatchLoader(dataset, { seed: 0, ...options, batchSize, shuffle: false, dropLast: false });
  yield* loader.restOfEpoch();
}
