/**
 * The CPU reference interpreter: runs a graph equation by equation with the kernels of `kernels.ts`. It is the
 * definition of what the IR means and the oracle every GPU result is compared with.
 *
 * Precision: in `'f64'` mode (the default) every float is computed and kept in float64 whatever its dtype. In `'f32'`
 * mode each op's float result is rounded once, to f32 with `Math.fround` (f16 values to half precision), modelling a
 * device that computes each op exactly and rounds its result (reductions accumulate in float64 before rounding).
 */

import type { Equation, Graph, Value } from '../../compiler/ir/graph.js';
import type { OpName } from '../../compiler/ops/op.js';
import { evalShape, typeToString, type SymbolValues } from '../../compiler/types/shape.js';
import type { Kernel } from './kernel.js';
import { convert } from './kernels-elementwise.js';
import { REFERENCE_KERNELS } from './kernels.js';
import { roundF16 } from './math.js';
import { makeTensor, type RefTensor } from './tensor.js';

export type Precision = 'f64' | 'f32';

export interface EvaluateOptions {
  readonly symbols?: SymbolValues;
  readonly precision?: Precision;
}

/** Rounds a kernel's result to its dtype under `precision`. */
function roundResult(t: RefTensor, precision: Precision): RefTensor {
  if (t.dtype === 'i32' || t.dtype === 'u32' || t.dtype === 'bool') {
    return { ...t, data: t.data.map((x) => convert(x, t.dtype)) };
  }
  if (precision === 'f64') return t;
  return { ...t, data: t.data.map(t.dtype === 'f16' ? roundF16 : Math.fround) };
}

/** Evaluates one equation on concrete arguments. */
export function evaluateEquation(eq: Equation, args: readonly RefTensor[], options: EvaluateOptions = {}): RefTensor {
  const symbols = options.symbols ?? {};
  const shape = evalShape(eq.out.type.shape, symbols);
  const out = { dtype: eq.out.type.dtype, shape };
  const kernel = REFERENCE_KERNELS[eq.op] as Kernel<OpName>;
  const data = kernel(args, eq.attrs, out, { symbols });
  return roundResult(makeTensor(out.dtype, shape, data), options.precision ?? 'f64');
}

function checkInput(v: Value, t: RefTensor, name: string, symbols: SymbolValues): void {
  const shape = evalShape(v.type.shape, symbols);
  if (t.dtype !== v.type.dtype || t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i]))
    throw new RangeError(
      `input '${name}' is ${t.dtype}[${t.shape.join(', ')}] but the graph expects ${typeToString(v.type)} = ${v.type.dtype}[${shape.join(', ')}]`,
    );
}

/** Runs `graph` on named inputs; returns every output by name. */
export function evaluate(
  graph: Graph,
  inputs: Readonly<Record<string, RefTensor>>,
  options: EvaluateOptions = {},
): Record<string, RefTensor> {
  const symbols = options.symbols ?? {};
  const env = new Map<number, RefTensor>();
  for (const input of graph.inputs) {
    const t = inputs[input.name];
    if (t === undefined) throw new RangeError(`no value for input '${input.name}'`);
    checkInput(input.value, t, input.name, symbols);
    env.set(input.value.id, t);
  }
  const get = (v: Value): RefTensor => {
    const t = env.get(v.id);
    if (t === undefined) throw new RangeError(`%${v.id} has no value`);
    return t;
  };
  for (const eq of graph.equations) env.set(eq.out.id, evaluateEquation(eq, eq.args.map(get), options));
  const result: Record<string, RefTensor> = {};
  for (const o of graph.outputs) result[o.name] = get(o.value);
  return result;
}
