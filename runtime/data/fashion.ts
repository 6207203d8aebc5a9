/**
 * Fashion-MNIST from the Debian package `dataset-fashion-mnist` (PLATFORM.md): 28x28 grey images of 10 clothing
 * classes, 60,000 for training and 10,000 for testing, as gzip-compressed IDX files in
 * `/usr/share/datasets/fashion-mnist/`. `npm run setup` installs the package; `VITM_FASHION_MNIST_DIR` (or the `dir`
 * option) points elsewhere.
 */
import { join } from 'node:path';
import { VitmRuntimeError } from '../errors.js';
import { validateDataset, type ImageDataset } from './dataset.js';
import { idxError, readIdxFile } from './idx.js';

export const FASHION_MNIST_DIR = '/usr/share/datasets/fashion-mnist';

export const FASHION_MNIST_CLASSES = [
  'T-shirt/top',
  'Trouser',
  'Pullover',
  'Dress',
  'Coat',
  'Sandal',
  'Shirt',
  'Sneaker',
  'Bag',
  'Ankle boot',
] as const;

export type FashionSplit = 'train' | 'test';

export interface FashionOptions {
  /** Where the four `.gz` files are; default `$VITM_FASHION_MNIST_DIR` or `/usr/share/datasets/fashion-mnist`. */
  readonly dir?: string;
}

/** The file names of a split: the test split's files are called `t10k-*`. */
export function fashionFiles(split: FashionSplit, dir: string): { images: string; labels: string } {
  const stem = split === 'train' ? 'train' : 't10k';
  return { images: join(dir, `${stem}-images-idx3-ubyte.gz`), labels: join(dir, `${stem}-labels-idx1-ubyte.gz`) };
}

/** VT6009 for a missing Fashion-MNIST file: names the file and the set-up command. */
export function missingFashionError(file: string): VitmRuntimeError {
  return new VitmRuntimeError(
    'VT6009',
    `Fashion-MNIST file not found: ${file}`,
    'run `npm run setup` (it installs the Debian package `dataset-fashion-mnist`), or point VITM_FASHION_MNIST_DIR at a folder holding the four *-ubyte.gz files',
  );
}

const cache = new Map<string, ImageDataset>();

/**
 * Loads a split. The result is cached per process (it is never mutated by the selection functions, which copy),
 * so several loaders share one copy of the pixels.
 */
export function loadFashionMnist(split: FashionSplit, options: FashionOptions = {}): ImageDataset {
  const dir = options.dir ?? process.env.VITM_FASHION_MNIST_DIR ?? FASHION_MNIST_DIR;
  const files = fashionFiles(split, dir);
  const key = `${files.images}\n${files.labels}`;
  const cached = cache.get(key);
  if (cached) return cached;

  const images = readIdxFile(files.images, missingFashionError);
  const labels = readIdxFile(files.labels, missingFashionError);
  if (images.type !== 'u8' || images.dims.length !== 3) {
    throw idxError(files.images, `expected u8 images [N, H, W], found ${images.type} [${images.dims.join(', ')}]`);
  }
  if (labels.type !== 'u8' || labels.dims.length !== 1) {
    throw idxError(files.labels, `expected u8 labels [N], found ${labels.type} [${labels.dims.join(', ')}]`);
  }
  const [count, height, width] = images.dims as [number, number, number];
  if (labels.dims[0] !== count) {
    throw idxError(files.labels, `${labels.dims[0]} labels for ${count} images in ${files.images}`);
  }
  const ds = validateDataset({
    name: `fashion-mnist/${split}`,
    shape: { channels: 1, height, width },
    classes: FASHION_MNIST_CLASSES.length,
    classNames: FASHION_MNIST_CLASSES,
    pixels: images.data as Uint8Array,
    labels: Int32Array.from(labels.data),
  });
  cache.set(key, ds);
  return ds;
}
