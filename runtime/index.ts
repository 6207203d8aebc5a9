/** The vitm runtime: devices, kernels and (later) compiled programs, in Node and in the browser. */
export { VitmRuntimeError, type RuntimeErrorCode, type WorkLabel } from './errors.js';
export {
  GpuDevice,
  BufferUsage,
  KEY_LIMITS,
  OPTIONAL_FEATURES,
  type AdapterDescription,
  type Backend,
  type KeyLimit,
  type OpenOptions,
  type OptionalFeature,
} from './webgpu/device.js';
export { openNodeDevice, type NodeOpenOptions } from './webgpu/node.js';
export { runSelfTest, assertSelfTest, SELF_TEST_WGSL, type SelfTestResult } from './webgpu/selftest.js';
/** The data pipeline (Fashion-MNIST, synthetic sets, selections, transforms, batch loaders). */
export * as data from './data/index.js';
/** `.safetensors` checkpoints, atomic writes and resumable run folders. */
export * as checkpoint from './checkpoint/index.js';
/** Metrics logs and loss/accuracy curves (SVG, PNG). */
export * as metrics from './metrics/index.js';
/** Running IR graphs on the device: kernels planned per symbol binding, one command encoder per run. */
export {
  GraphExecutor,
  runGraphOnGpu,
  type ExecutorOptions,
  type HostTensor,
  type ResultTensor,
  type RunOptions,
} from './webgpu/executor.js';
export { matmulOnHost, matmulShape, runMatmul, type MatmulShape } from './webgpu/matmul.js';
export { selectMatmulConfig, TuningCache, defaultTuningCache } from './webgpu/tuning.js';
/** Property tests of `law` declarations (`vitm test`). */
export * as laws from './laws/index.js';
/** Experts Weights Averaging: the after-step update of stacked expert tensors, one GPU kernel. */
export { EWA_WGSL, ewaCoefficients, ewaOnHost, runEwa, type EwaOptions, type EwaTensor } from './hooks/ewa.js';
/** The stacked expert tensors of a std.moe model and the fold `to_ffn` of their values. */
export { EXPERT_MODULE, expertTensors, foldExperts, type ExpertTensor, type FoldTensor } from './hooks/fold.js';
