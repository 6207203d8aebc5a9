/** The CPU reference interpreter of the IR. */
export { evaluate, evaluateEquation, type EvaluateOptions, type Precision } from './interpret.js';
export { REFERENCE_KERNELS, randomPermutation } from './kernels.js';
export { makeTensor, scalarTensor, type RefTensor } from './tensor.js';
