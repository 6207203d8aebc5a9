/**
 * Data as an experiment states it, resolved to a data set and a loader: the one entry point a trainer needs.
 *
 *   const spec: DataSpec = {
 *     source: { kind: 'fashion-mnist', split: 'train' },
 *     classes: [5, 6, 7, 8, 9],       // relabelled 0-4
 *     perClass: 200,                  // 1,000 labels
 *     seed: 0,
 *     domain: 'rot90',                // a named domain, or a list of transforms
 *     augment: [{ kind: 'flip' }, { kind: 'shift', max: 2 }],
 *   };
 *   const loader = dataLoader(spec, { batchSize: 128 });
 *
 * Selection happens in a fixed order: source, then class subset, then N per class (seeded), so the same spec always
 * gives the same images. Named domains are the ones the methods' small-scale experiments use (METHODS.md).
 */
import { datasetSize, selectClasses, subset, takePerClass, type ImageDataset } from './dataset.js';
import { loadFashionMnist, type FashionSplit } from './fashion.js';
import { BatchLoader, FASHION_MNIST_NORMALIZATION, evalBatches, type Batch, type Normalization } from './loader.js';
import { syntheticDataset } from './synthetic.js';
import type { Transform } from './transforms.js';

export type DataSource =
  | { readonly kind: 'fashion-mnist'; readonly split: FashionSplit; readonly dir?: string }
  | {
      readonly kind: 'synthetic';
      readonly count: number;
      readonly classes: number;
      readonly seed: number;
      readonly split?: 'train' | 'test';
      readonly noise?: number;
    };

export const DOMAIN_NAMES = ['original', 'rot90', 'rot180', 'rot270', 'inverted', 'noisy'] as const;
export type DomainName = (typeof DOMAIN_NAMES)[number];

/** The transforms of a named domain: rotations by quarter turns, inversion, and Gaussian noise of std 0.2. */
export function domainTransforms(name: DomainName): readonly Transform[] {
  switch (name) {
    case 'original':
      return [];
    case 'rot90':
      return [{ kind: 'rot90', k: 1 }];
    case 'rot180':
      return [{ kind: 'rot90', k: 2 }];
    case 'rot270':
      return [{ kind: 'rot90', k: 3 }];
    case 'inverted':
      return [{ kind: 'invert' }];
    case 'noisy':
      return [{ kind: 'noise', std: 0.2 }];
  }
}

export interface DataSpec {
  readonly source: DataSource;
  /** Keep these classes, relabelled 0..k-1 in this order. */
  readonly classes?: readonly number[];
  /** Keep this many images per class, chosen with `seed`. */
  readonly perClass?: number;
  /** Keep only the first this many images (after the class and per-class selection). */
  readonly limit?: number;
  /** Seeds the per-class choice, the order and the random transforms (default 0). */
  readonly seed?: number;
  readonly domain?: DomainName | readonly Transform[];
  readonly augment?: readonly Transform[];
  /** Default: Fashion-MNIST's mean and std for Fashion-MNIST, none (pixels in [0, 1]) for synthetic data. */
  readonly normalize?: Normalization;
}

/** The images a spec selects. */
export function resolveDataset(spec: DataSpec): ImageDataset {
  let ds: ImageDataset;
  switch (spec.source.kind) {
    case 'fashion-mnist':
      ds = loadFashionMnist(spec.source.split, spec.source.dir === undefined ? {} : { dir: spec.source.dir });
      break;
    case 'synthetic':
      ds = syntheticDataset({
        count: spec.source.count,
        classes: spec.source.classes,
        seed: spec.source.seed,
        ...(spec.source.split === undefined ? {} : { split: spec.source.split }),
        ...(spec.source.noise === undefined ? {} : { noise: spec.source.noise }),
      });
      break;
  }
  if (spec.classes) ds = selectClasses(ds, spec.classes);
  if (spec.perClass !== undefined) ds = takePerClass(ds, spec.perClass, spec.seed ?? 0).taken;
  if (spec.limit !== undefined && spec.limit < datasetSize(ds))
    ds = subset(
      ds,
      Int32Array.from({ length: spec.limit }, (_, i) => i),
      `${ds.name}[:${spec.limit}]`,
    );
  return ds;
}

function normalizationOf(spec: DataSpec): Normalization {
  if (spec.normalize) return spec.normalize;
  return spec.source.kind === 'fashion-mnist' ? FASHION_MNIST_NORMALIZATION : { mean: 0, std: 1 };
}

function domainOf(spec: DataSpec): readonly Transform[] {
  if (spec.domain === undefined) return [];
  return typeof spec.domain === 'string' ? domainTransforms(spec.domain) : spec.domain;
}

/** A shuffling training loader over the spec's images. */
export function dataLoader(
  spec: DataSpec,
  options: { readonly batchSize: number; readonly shuffle?: boolean; readonly dropLast?: boolean },
): BatchLoader {
  return new BatchLoader(resolveDataset(spec), {
    ...options,
    seed: spec.seed ?? 0,
    normalize: normalizationOf(spec),
    domain: domainOf(spec),
    augment: spec.augment ?? [],
  });
}

/** Every image of the spec once, in order, for evaluation (the domain applies; augmentation does not). */
export function evalData(spec: DataSpec, batchSize: number): Generator<Batch> {
  return evalBatches(resolveDataset(spec), batchSize, {
    seed: spec.seed ?? 0,
    normalize: normalizationOf(spec),
    domain: domainOf(spec),
  });
}
