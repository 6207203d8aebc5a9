/**
 * Image transforms for domains and augmentation, on one float image `[C, H, W]` with pixel values in [0, 1] (before
 * normalisation). Each is a pure function; the random ones take an `Rng`, so the same seed gives the same image.
 *
 * - `flip`: mirror left-right, with probability p (default 0.5).
 * - `shift`: translate by a uniform integer offset in [-max, max] on each axis; uncovered pixels get `fill`
 *   (default 0, the background of Fashion-MNIST).
 * - `rot90`: rotate by k quarter turns counter-clockwise (square images only; k may be negative).
 * - `invert`: x -> 1 - x.
 * - `noise`: add independent N(0, std^2) to every pixel, clipped to [0, 1] unless `clip: false`.
 */
import { selectionError, type ImageShape } from './dataset.js';
import type { Rng } from './rng.js';

export type Transform =
  | { readonly kind: 'flip'; readonly p?: number }
  | { readonly kind: 'shift'; readonly max: number; readonly fill?: number }
  | { readonly kind: 'rot90'; readonly k: number }
  | { readonly kind: 'invert' }
  | { readonly kind: 'noise'; readonly std: number; readonly clip?: boolean };

/** A short text form for run metadata: `flip(0.5)`, `shift(2)`, `rot90(1)`, `invert`, `noise(0.1)`. */
export function transformToString(t: Transform): string {
  switch (t.kind) {
    case 'flip':
      return `flip(${t.p ?? 0.5})`;
    case 'shift':
      return `shift(${t.max}${t.fill !== undefined ? `, fill ${t.fill}` : ''})`;
    case 'rot90':
      return `rot90(${t.k})`;
    case 'invert':
      return 'invert';
    case 'noise':
      return `noise(${t.std}${t.clip === false ? ', no clip' : ''})`;
  }
}

/** Checks that every transform applies to images of this shape and has sensible parameters (VT6014 if not). */
export function checkTransforms(transforms: readonly Transform[], shape: ImageShape): void {
  for (const t of transforms) {
    const bad = (why: string): never => {
      throw selectionError(`transform ${transformToString(t)}: ${why}`);
    };
    switch (t.kind) {
      case 'flip':
        if (t.p !== undefined && !(t.p >= 0 && t.p <= 1)) bad('the probability must be in [0, 1]');
        break;
      case 'shift':
        if (!Number.isInteger(t.max) || t.max < 0) bad('the maximum shift must be a non-negative integer');
        break;
      case 'rot90':
        if (!Number.isInteger(t.k)) bad('the number of quarter turns must be an integer');
        if (t.k % 2 !== 0 && shape.height !== shape.width) {
          bad(`an odd number of quarter turns needs square images, these are ${shape.height}x${shape.width}`);
        }
        break;
      case 'invert':
        break;
      case 'noise':
        if (!(t.std >= 0) || !Number.isFinite(t.std)) bad('the standard deviation must be finite and >= 0');
        break;
    }
  }
}

/** Mirrors each row (left-right). */
export function flipHorizontal(img: Float32Array, shape: ImageShape): Float32Array {
  const { channels, height, width } = shape;
  const out = new Float32Array(img.length);
  for (let c = 0; c < channels; c++) {
    for (let y = 0; y < height; y++) {
      const row = (c * height + y) * width;
      for (let x = 0; x < width; x++) out[row + x] = img[row + width - 1 - x] as number;
    }
  }
  return out;
}

/** Rotates a square image by k quarter turns counter-clockwise. */
export function rot90(img: Float32Array, shape: ImageShape, k: number): Float32Array {
  const { channels, height: n, width } = shape;
  const turns = ((k % 4) + 4) % 4;
  if (turns === 0) return img.slice();
  if (turns % 2 === 1 && n !== width) throw selectionError(`rot90 needs a square image, got ${n}x${width}`);
  const out = new Float32Array(img.length);
  for (let c = 0; c < channels; c++) {
    const base = c * n * width;
    for (let y = 0; y < n; y++) {
      for (let x = 0; x < width; x++) {
        // The source pixel that lands at (y, x) after `turns` counter-clockwise quarter turns.
        let sy: number;
        let sx: number;
        switch (turns) {
          case 1:
            sy = x;
            sx = width - 1 - y;
            break;
          case 2:
            sy = n - 1 - y;
            sx = width - 1 - x;
            break;
          default:
            sy = n - 1 - x;
            sx = y;
            break;
        }
        out[base + y * width + x] = img[base + sy * width + sx] as number;
      }
    }
  }
  return out;
}

/** x -> 1 - x. */
export function invert(img: Float32Array): Float32Array {
  return img.map((v) => 1 - v);
}

/** Translates down by dy and right by dx (negative values go up/left); uncovered pixels get `fill`. */
export function shiftImage(img: Float32Array, shape: ImageShape, dy: number, dx: number, fill = 0): Float32Array {
  const { channels, height, width } = shape;
  const out = new Float32Array(img.length).fill(fill);
  for (let c = 0; c < channels; c++) {
    const base = c * height * width;
    for (let y = Math.max(0, dy); y < Math.min(height, height + dy); y++) {
      for (let x = Math.max(0, dx); x < Math.min(width, width + dx); x++) {
        out[base + y * width + x] = img[base + (y - dy) * width + (x - dx)] as number;
      }
    }
  }
  return out;
}

/** Adds N(0, std^2) to every pixel, drawing from `rng` in pixel order; clips to [0, 1] unless `clip` is false. */
export function addNoise(img: Float32Array, std: number, rng: Rng, clip = true): Float32Array {
  const out = new Float32Array(img.length);
  for (let i = 0; i < img.length; i++) {
    const v = (img[i] as number) + std * rng.normal();
    out[i] = clip ? Math.min(1, Math.max(0, v)) : v;
  }
  return out;
}

/** Applies one transform, drawing any randomness from `rng`. */
export function applyTransform(img: Float32Array, shape: ImageShape, t: Transform, rng: Rng): Float32Array {
  switch (t.kind) {
    case 'flip':
      return rng.chance(t.p ?? 0.5) ? flipHorizontal(img, shape) : img;
    case 'shift': {
      const dy = rng.int(-t.max, t.max);
      const dx = rng.int(-t.max, t.max);
      return dy === 0 && dx === 0 ? img : shiftImage(img, shape, dy, dx, t.fill ?? 0);
    }
    case 'rot90':
      return rot90(img, shape, t.k);
    case 'invert':
      return invert(img);
    case 'noise':
      return addNoise(img, t.std, rng, t.clip ?? true);
  }
}

/** Applies the transforms in order. */
export function applyTransforms(
  img: Float32Array,
  shape: ImageShape,
  transforms: readonly Transform[],
  rng: Rng,
): Float32Array {
  let out = img;
  for (const t of transforms) out = applyTransform(out, shape, t, rng);
  return out;
}
