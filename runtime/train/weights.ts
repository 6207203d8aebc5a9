/** Weights read from a checkpoint or an exported file, checked against the shapes a model expects. */
import type { TensorMap } from '../checkpoint/safetensors.js';
import { toFloat32 } from '../checkpoint/tensor.js';
import { VitmRuntimeError } from '../errors.js';

/** The float32 values of tensor `name` of `weights`, which must have `shape` (VT6015 if missing or misshapen). */
export function weightsFor(weights: TensorMap, name: string, shape: readonly number[], what: string): Float32Array {
  const t = weights.get(name);
  const fix = 'load weights saved from this model (same .vitm model and hyperparameters)';
  if (!t) throw new VitmRuntimeError('VT6015', `${what} has no tensor '${name}'`, fix);
  if (
    !['F32', 'F16', 'BF16', 'F64'].includes(t.dtype) ||
    t.shape.length !== shape.length ||
    t.shape.some((d, i) => d !== shape[i])
  )
    throw new VitmRuntimeError(
      'VT6015',
      `tensor '${name}' in ${what} is ${t.dtype} [${t.shape.join(', ')}], the model expects F32 [${shape.join(', ')}]`,
      fix,
    );
  return toFloat32(t);
}
