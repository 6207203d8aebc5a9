/**
 * An experiment's `export`: the trained weights written as one `.safetensors` file for another model.
 *
 *   export: safetensors("tiny.safetensors")           the weights as they are, to that path (relative to the run folder)
 *   export: to_ffn(blocks[1::2].mlp) as Tiny          every parameter under the named mixtures of experts, stacked
 *                                                     `[experts, ...]`, replaced by its mean over the experts (the
 *                                                     FFN that EWA folds back into), checked against model `Tiny`
 *
 * With `as Model`, the exported tensors must be exactly that model's parameters (names and shapes), so the file
 * loads in it (VT6015 naming the first mismatch otherwise).
 */
import { VitmRuntimeError } from '../errors.js';

export interface WeightTensor {
  readonly shape: readonly number[];
  readonly values: Float32Array;
}

/** The mean over the leading (experts) axis of every tensor under one of `paths` (`blocks.1.mlp`). */
export function foldExperts(
  weights: ReadonlyMap<string, WeightTensor>,
  paths: readonly string[],
): Map<string, WeightTensor> {
  const out = new Map<string, WeightTensor>();
  const folded = new Set<string>();
  for (const [name, t] of weights) {
    const under = paths.some((p) => name.startsWith(`${p}.`));
    if (!under) {
      out.set(name, t);
      continue;
    }
    const [experts, ...rest] = t.shape;
    if (experts === undefined || experts < 1)
      throw new VitmRuntimeError(
        'VT6018',
        `to_ffn: '${name}' is not a stack of experts (shape [${t.shape.join(', ')}])`,
      );
    const size = t.values.length / experts;
    const mean = new Float32Array(size);
    for (let k = 0; k < size; k++) {
      let s = 0;
      for (let e = 0; e < experts; e++) s += t.values[e * size + k] as number;
      mean[k] = s / experts;
    }
    out.set(name, { shape: rest, values: mean });
    folded.add(name);
  }
  for (const p of paths)
    if (![...folded].some((n) => n.startsWith(`${p}.`)))
      throw new VitmRuntimeError('VT6018', `to_ffn: the model has no parameters under '${p}'`);
  return out;
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
