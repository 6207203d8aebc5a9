/**
 * Synthetic labelled image sets for tests, with the same layout as Fashion-MNIST (`[N, C, H, W]` u8 pixels, int
 * labels), so a model, a loader or a training loop can be checked in seconds without the real data.
 *
 * `prototypes`: each class has a prototype image of a few bright Gaussian blobs at seeded positions; a sample is its
 * class's prototype, shifted by up to `jitter` pixels, with Gaussian pixel noise. Classes are well separated but not
 * trivially (noise and jitter overlap them a little), so a small model learns it to high accuracy in a few hundred
 * steps while a constant predictor stays at chance: a good "does training learn at all" task.
 */
import { validateDataset, type ImageDataset, type ImageShape } from './dataset.js';
import { Rng } from './rng.js';

export interface SyntheticOptions {
  readonly count: number;
  readonly classes: number;
  readonly seed: number;
  readonly shape?: ImageShape;
  /** Blobs per class prototype (default 3). */
  readonly blobs?: number;
  /** Pixel noise, standard deviation in grey levels (default 24). */
  readonly noise?: number;
  /** Maximum shift of a sample from its prototype, in pixels (default 1). */
  readonly jitter?: number;
  /** `test` draws other samples of the same classes (same prototypes) than `train`, the default. */
  readonly split?: 'train' | 'test';
}

/** The class prototypes as float images in [0, 255], `[classes, C, H, W]`. */
export function syntheticPrototypes(classes: number, shape: ImageShape, blobs: number, seed: number): Float32Array {
  const { channels, height, width } = shape;
  const size = channels * height * width;
  const out = new Float32Array(classes * size);
  for (let c = 0; c < classes; c++) {
    const rng = Rng.of(seed, 'prototype', c);
    for (let b = 0; b < blobs; b++) {
      const cy = rng.float() * height;
      const cx = rng.float() * width;
      const radius = 1.5 + rng.float() * Math.max(1, Math.min(height, width) / 8);
      const ch = rng.below(channels);
      for (let y = 0; y < height; y++) {
        for (let x = 0; x < width; x++) {
          const d2 = (y - cy) ** 2 + (x - cx) ** 2;
          const at = c * size + ch * height * width + y * width + x;
          out[at] = Math.min(255, (out[at] as number) + 230 * Math.exp(-d2 / (2 * radius * radius)));
        }
      }
    }
  }
  return out;
}

/** A learnable toy classification set (see the module comment). Balanced: label i is `i % classes`. */
export function syntheticDataset(options: SyntheticOptions): ImageDataset {
  const shape = options.shape ?? { channels: 1, height: 28, width: 28 };
  const { channels, height, width } = shape;
  const size = channels * height * width;
  const noise = options.noise ?? 24;
  const jitter = options.jitter ?? 1;
  const protos = syntheticPrototypes(options.classes, shape, options.blobs ?? 3, options.seed);
  const pixels = new Uint8Array(options.count * size);
  const labels = new Int32Array(options.count);
  for (let i = 0; i < options.count; i++) {
    const rng = Rng.of(options.seed, options.split === 'test' ? 'test-sample' : 'sample', i);
    const c = i % options.classes;
    labels[i] = c;
    const dy = rng.int(-jitter, jitter);
    const dx = rng.int(-jitter, jitter);
    for (let ch = 0; ch < channels; ch++) {
      for (let y = 0; y < height; y++) {
        for (let x = 0; x < width; x++) {
          const sy = y - dy;
          const sx = x - dx;
          const base =
            sy >= 0 && sy < height && sx >= 0 && sx < width
              ? (protos[c * size + ch * height * width + sy * width + sx] as number)
              : 0;
          const v = base + noise * rng.normal();
          pixels[i * size + ch * height * width + y * width + x] = Math.max(0, Math.min(255, Math.round(v)));
        }
      }
    }
  }
  return validateDataset({
    name: `synthetic(${options.classes} classes, seed ${options.seed}${options.split === 'test' ? ', test' : ''})`,
    shape,
    classes: options.classes,
    pixels,
    labels,
  });
}
