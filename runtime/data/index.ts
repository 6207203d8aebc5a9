/** The data pipeline: IDX files, Fashion-MNIST, synthetic sets, selections, transforms and batch loaders. */
export * from './dataset.js';
export * from './fashion.js';
export * from './idx.js';
export * from './loader.js';
export * from './rng.js';
export * from './synthetic.js';
export * from './transforms.js';
