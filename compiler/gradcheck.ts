/**
 * Gradient checking in the manner of JAX's `check_grads`: for a graph with a float loss, each trainable parameter's
 * gradient (from `differentiate`, run by the float64 reference interpreter) is compared with central finite
 * differences of the loss along random unit directions in that parameter's space.
 *
 * The numeric directional derivative uses Richardson extrapolation of two central differences,
 * `(4 D(h/2) - D(h)) / 3` with `D(h) = (L(p + h d) - L(p - h d)) / 2h`, whose error is O(h^4) plus rounding
 * O(eps_f64 |L| / h): with the default `h = 1e-3` both are near 1e-12 for smooth losses of moderate size, far below
 * the 1e-6 tolerance. A non-scalar loss is summed (the cotangent seed of `differentiate` is ones).
 */

import type { Graph } from './ir/graph.js';
import { getOutput, gradientName } from './ir/graph.js';
import { differentiate } from './passes/differentiate.js';
import { evaluate } from '../runtime/reference/interpret.js';
import { normalFromBits, randomWords } from '../runtime/reference/philox.js';
import type { RefTensor } from '../runtime/reference/tensor.js';
import type { SymbolValues } from './types/shape.js';

/** The relative error the project accepts for float64 gradients (the op table and the ViT tests use it). */
export const GRADCHECK_TOLERANCE = 1e-6;

/**
 * A floor for `GradcheckOptions.floor` derived from the loss itself. A central difference of a loss of size |L| with
 * step h carries a rounding error near eps_f64 |L| / h (Richardson extrapolation multiplies it by about 3); a
 * directional derivative that small (a zero-initialised bias under a small head, say) cannot be compared relatively.
 * This floor accepts errors below 100 times that noise, `|analytic - numeric| <= rtol * max(|a|, |n|, floor)` with
 * `floor = 100 eps |L| / (h rtol)`; a wrong gradient rule gives errors of the gradient's own size, far above it.
 */
export function noiseFloor(loss: number, step: number, rtol: number = GRADCHECK_TOLERANCE): number {
  return Math.max(1e-6, (100 * Number.EPSILON * Math.max(Math.abs(loss), 1)) / (step * rtol));
}

export interface GradcheckOptions {
  /** The loss output; the first output when omitted. */
  readonly loss?: string;
  readonly symbols?: SymbolValues;
  /** Random directions per parameter (default 2). */
  readonly directions?: number;
  /** The finite-difference step along a unit direction (default 1e-3). */
  readonly step?: number;
  /** Seed of the directions (default 0). */
  readonly seed?: number;
  /**
   * Absolute floor of the relative error's denominator (default 1e-5). The finite difference carries a rounding
   * error near eps_f64 S / h ~ 5e-13 S, S the size of the terms summed into the loss (which may cancel to a small
   * loss), so a directional derivative that is truly zero reads as ~1e-12 and cannot be compared relatively; below
   * the floor the check is absolute (error <= tolerance * floor, 1e-11 at rtol 1e-6).
   */
  readonly floor?: number;
}

export interface DirectionCheck {
  readonly analytic: number;
  readonly numeric: number;
  readonly relativeError: number;
}

export interface ParamCheck {
  readonly name: string;
  /** The worst relative error over the directions. */
  readonly worst: number;
  readonly directions: readonly DirectionCheck[];
}

function total(t: RefTensor): number {
  let s = 0;
  for (const x of t.data) s += x;
  return s;
}

function dot(a: Float64Array, b: Float64Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i] as number) * (b[i] as number);
  return s;
}

/** A unit direction of `n` entries, from Philox normals (deterministic in `seed`, `stream` and `k`). */
function direction(n: number, seed: number, stream: number, k: number): Float64Array {
  const d = Float64Array.from({ length: n }, (_, i) => {
    const [w0, w1] = randomWords(seed, stream, k * n + i);
    return normalFromBits(w0, w1);
  });
  const norm = Math.sqrt(dot(d, d)) || 1;
  return d.map((x) => x / norm);
}

/** Checks every trainable parameter of `graph`; `inputs` gives a value to every input. */
export function gradcheck(
  graph: Graph,
  inputs: Readonly<Record<string, RefTensor>>,
  options: GradcheckOptions = {},
): ParamCheck[] {
  const lossName = options.loss ?? graph.outputs[0]?.name;
  if (lossName === undefined) throw new RangeError('gradcheck: the graph has no output');
  const lossOnly: Graph = { ...graph, outputs: [getOutput(graph, lossName)] };
  const evalOptions = { symbols: options.symbols ?? {}, precision: 'f64' as const };
  const grads = evaluate(differentiate(lossOnly), inputs, evalOptions);
  const lossAt = (name: string, p: Float64Array): number => {
    const base = inputs[name];
    if (base === undefined) throw new RangeError(`gradcheck: no value for '${name}'`);
    return total(evaluate(lossOnly, { ...inputs, [name]: { ...base, data: p } }, evalOptions)[lossName] as RefTensor);
  };
  const h = options.step ?? 1e-3;
  const floor = options.floor ?? 1e-5;
  const params = graph.inputs.filter((i) => i.kind === 'param' && i.trainable);
  return params.map((param, stream) => {
    const value = inputs[param.name];
    const grad = grads[gradientName(param.name)];
    if (value === undefined || grad === undefined) throw new RangeError(`gradcheck: no value for '${param.name}'`);
    const checks: DirectionCheck[] = [];
    for (let k = 0; k < (options.directions ?? 2); k++) {
      const d = direction(value.data.length, options.seed ?? 0, stream, k);
      const central = (step: number): number => {
        const plus = value.data.map((x, i) => x + step * (d[i] as number));
        const minus = value.data.map((x, i) => x - step * (d[i] as number));
        return (lossAt(param.name, plus) - lossAt(param.name, minus)) / (2 * step);
      };
      const numeric = (4 * central(h / 2) - central(h)) / 3;
      const analytic = dot(grad.data, d);
      const relativeError = Math.abs(analytic - numeric) / Math.max(Math.abs(analytic), Math.abs(numeric), floor);
      checks.push({ analytic, numeric, relativeError });
    }
    return { name: param.name, worst: Math.max(...checks.map((c) => c.relativeError)), directions: checks };
  });
}
