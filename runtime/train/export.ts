/**
 * An experiment's `export`: the trained weights written as one `.safetensors` file for another model.
 *
 *   export: safetensors("tiny.safetensors")           the weights as they are, to that path (relative to the run folder)
 *   export: to_ffn(blocks[1::2].mlp) as Tiny          every stacked expert tensor under the named mixtures of experts
 *                                                     replaced by its mean over the experts (`foldExperts` of
 *                                                     runtime/hooks/fold.ts), checked against model `Tiny`
 *
 * With `as Model`, the exported tensors must be exactly that model's parameters (names and shapes), so the file
 * loads in it (VT6015 naming the first mismatch otherwise).
 */
import { VitmRuntimeError } from '../errors.js';

export interface WeightTensor {
  readonly shape: readonly number[];
  readonly values: Float32Array;
}

/** Checks that `weights` are exactly the parameters `expected` (name to shape) of model `model`. */
export function checkFitsModel(
  weights: ReadonlyMap<string, WeightTensor>,
  expected: ReadonlyMap<string, readonly number[]>,
  model: string,
): void {
  const fix = `export the parameters of ${model}: fold every mixture of experts it has as a plain FFN`;
  for (const [name, shape] of expected) {
    const t = weights.get(name);
    if (!t) throw new VitmRuntimeError('VT6015', `the export has no tensor '${name}' that ${model} needs`, fix);
    if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i]))
      throw new VitmRuntimeError(
        'VT6015',
        `the export's '${name}' is [${t.shape.join(', ')}], ${model} expects [${shape.join(', ')}]`,
        fix,
      );
  }
  for (const name of weights.keys())
    if (!expected.has(name))
      throw new VitmRuntimeError('VT6015', `the export has a tensor '${name}' that ${model} does not have`, fix);
}
