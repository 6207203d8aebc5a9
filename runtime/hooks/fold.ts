/**
 * The expert tensors of a model and the fold `to_ffn` on host values. In std.moe, experts are stacked: every parameter
 * of an `ExpertLinear` is [experts, ...] (`blocks.1.mlp.fc1.weight` [experts, hidden, dim]). EWA updates exactly these
 * tensors (runtime/hooks/ewa.ts), and the fold replaces each by its experts' mean, which has the shape and the name of
 * the plain FFN's tensor (`blocks.1.mlp.fc1.weight` [hidden, dim]): the folded values load into the model without
 * the MoE, as std.moe's `ToFfn` computes.
 */
import type { ElaboratedModel } from '../../compiler/semantic/elaborated.js';
import { instancesOf } from '../../compiler/semantic/models.js';

/** The module whose parameters are stacked expert tensors. */
export const EXPERT_MODULE = 'ExpertLinear';

/** One stacked expert tensor of a model. */
export interface ExpertTensor {
  /** The parameter's path (`blocks.1.mlp.fc1.weight`). */
  readonly path: string;
  /** The full shape, experts first. */
  readonly shape: readonly number[];
  readonly experts: number;
  /** Values per expert. */
  readonly elements: number;
}

/** A host tensor: row-major values. */
export interface FoldTensor {
  readonly shape: readonly number[];
  readonly data: ArrayLike<number>;
}

/**
 * The stacked expert tensors under the instance paths `under` (as a hook's resolved targets: `blocks.1.mlp`), in
 * parameter order; every one of the model's when `under` is undefined.
 */
export function expertTensors(model: ElaboratedModel, under?: readonly string[]): ExpertTensor[] {
  const inside = (path: string): boolean =>
    under === undefined || under.some((p) => p === '' || path === p || path.startsWith(`${p}.`));
  const out: ExpertTensor[] = [];
  for (const inst of instancesOf(model.root)) {
    if (inst.module !== EXPERT_MODULE || !inside(inst.path)) continue;
    for (const p of inst.parameters) {
      const shape = p.type.shape.map((d) => d.coeff);
      const experts = shape[0] ?? 1;
      out.push({ path: p.path, shape, experts, elements: shape.slice(1).reduce((a, b) => a * b, 1) });
    }
  }
  return out;
}

/** `to_ffn`: every expert tensor replaced by the mean of its experts; the other tensors as they are. */
export function foldExperts(
  values: ReadonlyMap<string, FoldTensor>,
  experts: readonly ExpertTensor[],
): Map<string, FoldTensor> {
  const out = new Map(values);
  for (const t of experts) {
    const v = values.get(t.path);
    if (v === undefined) throw new RangeError(`no value for the expert tensor '${t.path}'`);
    if (v.data.length !== t.experts * t.elements) {
      throw new RangeError(`'${t.path}' has ${v.data.length} values, not ${t.experts} x ${t.elements}`);
    }
    const mean = new Float64Array(t.elements);
    for (let e = 0; e < t.experts; e++) {
      for (let k = 0; k < t.elements; k++) mean[k] = (mean[k] ?? 0) + (v.data[e * t.elements + k] ?? NaN);
    }
    for (let k = 0; k < t.elements; k++) mean[k] = (mean[k] ?? 0) / t.experts;
    out.set(t.path, { shape: t.shape.slice(1), data: mean });
  }
  return out;
}
