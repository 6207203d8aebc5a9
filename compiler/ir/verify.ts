/**
 * The verifier: checks a graph's invariants and, on failure, throws `IrVerifyError` with the printed IR around the
 * bad line (marked `>>`). Invariants:
 * - values are numbered densely in definition order (inputs 0..n-1, then one per equation);
 * - input names are distinct, output names are distinct;
 * - every argument is defined before its use, with the type it was defined with;
 * - every equation's type is what its op's type rule gives for its arguments and attributes (which also checks
 *   arity and attributes);
 * - every output is a defined value of the type it was defined with.
 */

import { shapeEquals, typeToString, type TensorType } from '../types/shape.js';
import { inferType } from '../ops/registry.js';
import { isOpName } from '../ops/op.js';
import { IrTypeError, IrVerifyError } from './errors.js';
import type { Graph, Value } from './graph.js';
import { printLines } from './print.js';

export function typesEqual(a: TensorType, b: TensorType): boolean {
  return a.dtype === b.dtype && shapeEquals(a.shape, b.shape);
}

/** The printed graph with `>>` on line `at` and `context` lines either side. */
function excerpt(graph: Graph, at: number | undefined, context = 4): string {
  const { lines } = printLines(graph);
  const centre = at ?? lines.length - 1;
  const from = Math.max(0, centre - context);
  const to = Math.min(lines.length, centre + context + 1);
  const shown = lines.slice(from, to).map((l, i) => (from + i === centre ? '>> ' : '   ') + l);
  if (from > 0) shown.unshift('   ...');
  if (to < lines.length) shown.push('   ...');
  return shown.join('\n');
}

/** Throws `IrVerifyError` if `graph` breaks an invariant; `stage` names the pass that produced it, for the message. */
export function verifyGraph(graph: Graph, stage?: string): void {
  const prefix = stage === undefined ? 'IR verification failed' : `IR verification failed after ${stage}`;
  const failAt = (line: number | undefined, message: string): never => {
    throw new IrVerifyError(`${prefix}: ${message}\n${excerpt(graph, line)}`);
  };
  const defined = new Map<number, TensorType>();
  const names = new Set<string>();
  graph.inputs.forEach((input, i) => {
    if (input.value.id !== i) failAt(i + 1, `input '${input.name}' is %${input.value.id}, expected %${i}`);
    if (names.has(input.name)) failAt(i + 1, `duplicate input name '${input.name}'`);
    names.add(input.name);
    defined.set(input.value.id, input.value.type);
  });
  const checkUse = (v: Value, line: number, what: string): void => {
    const t = defined.get(v.id);
    if (t === undefined) failAt(line, `${what} %${v.id} is used before it is defined`);
    else if (!typesEqual(t, v.type))
      failAt(line, `${what} %${v.id} is used as ${typeToString(v.type)} but defined as ${typeToString(t)}`);
  };
  const firstEqLine = 1 + graph.inputs.length;
  graph.equations.forEach((eq, j) => {
    const line = firstEqLine + j;
    const expectedId = graph.inputs.length + j;
    if (!isOpName(eq.op)) failAt(line, `unknown op '${String(eq.op)}'`);
    if (eq.out.id !== expectedId) failAt(line, `equation defines %${eq.out.id}, expected %${expectedId}`);
    eq.args.forEach((a) => {
      checkUse(a, line, 'argument');
    });
    let type: TensorType;
    try {
      type = inferType(
        eq.op,
        eq.args.map((a) => a.type),
        eq.attrs as never,
      );
    } catch (e) {
      if (e instanceof IrTypeError) return failAt(line, `ill-typed ${eq.op}: ${e.message}`);
      throw e;
    }
    if (!typesEqual(type, eq.out.type))
      failAt(line, `${eq.op} has type ${typeToString(eq.out.type)} but its rule gives ${typeToString(type)}`);
    defined.set(eq.out.id, eq.out.type);
  });
  const outNames = new Set<string>();
  const outLine = firstEqLine + graph.equations.length;
  graph.outputs.forEach((o, k) => {
    if (outNames.has(o.name)) failAt(outLine + k, `duplicate output name '${o.name}'`);
    outNames.add(o.name);
    checkUse(o.value, outLine + k, `output '${o.name}'`);
  });
}
