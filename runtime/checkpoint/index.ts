/** Checkpoints: the .safetensors format, tensor conversions, atomic writes and resumable run checkpoints. */
export * from './atomic.js';
export * from './run.js';
export * from './safetensors.js';
export * from './tensor.js';
export * from './folder.js';
