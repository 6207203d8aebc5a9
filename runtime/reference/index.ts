/** The CPU reference interpreter of the IR. */
export { evaluate, evaluateEquation, type EvaluateOptions, type Precision } from './interpret.js';
export { REFERENCE_KERNELS, randomPermutation } from './kernels.js';
export type { Kernel, KernelContext, OutSpec } from './kernel.js';
export { philox4x32, randomWords, uniformFromBits, normalFromBits } from './philox.js';
export { makeTensor, scalarTensor, type RefTensor } from './tensor.js';
