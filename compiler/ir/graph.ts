/**
 * The typed SSA tensor IR: a graph is one function. Its inputs are parameters (named as in timm, trainable or frozen)
 * and data inputs; its body is a list of equations `%out = op(args) {attrs}`, each defining one new value with a
 * tensor type (dtype and symbolic shape) and, when it came from source text, a span; its outputs are named values.
 *
 * Values are numbered densely in definition order: inputs first, then one per equation. Graphs are immutable
 * (every field is read-only, and passes build new graphs); `verifyGraph` checks the invariants.
 */

import type { Span } from '../source/source.js';
import type { TensorType } from '../types/shape.js';
import type { OpAttrs, OpName } from '../ops/op.js';

/** An SSA value: its number and its type. */
export interface Value {
  readonly id: number;
  readonly type: TensorType;
}

/** One equation of op `P`. */
export interface EquationOf<P extends OpName> {
  readonly op: P;
  readonly out: Value;
  readonly args: readonly Value[];
  readonly attrs: OpAttrs[P];
  /** The source text this equation came from; absent for synthesized equations (gradients, rewrites). */
  readonly span?: Span;
}

/** Any equation: a union discriminated by `op`, so a `switch (eq.op)` narrows `attrs`. */
export type Equation = { [P in OpName]: EquationOf<P> }[OpName];

export interface ParamInput {
  readonly kind: 'param';
  /** The timm name, e.g. `blocks.0.attn.qkv.weight`. */
  readonly name: string;
  /** Whether autodiff computes a gradient for it; a frozen parameter gets no gradient equation at all. */
  readonly trainable: boolean;
  readonly value: Value;
}

export interface DataInput {
  readonly kind: 'data';
  readonly name: string;
  readonly value: Value;
}

export type GraphInput = ParamInput | DataInput;

export interface GraphOutput {
  readonly name: string;
  readonly value: Value;
}

export interface Graph {
  readonly inputs: readonly GraphInput[];
  readonly equations: readonly Equation[];
  readonly outputs: readonly GraphOutput[];
}

/** The name of the output holding the gradient of parameter `param`. */
export function gradientName(param: string): string {
  return `grad:${param}`;
}

/** The equation defining each value (inputs have none). */
export function definitions(graph: Graph): Map<number, Equation> {
  const defs = new Map<number, Equation>();
  for (const eq of graph.equations) defs.set(eq.out.id, eq);
  return defs;
}

/** The input named `name`, or undefined. */
export function findInput(graph: Graph, name: string): GraphInput | undefined {
  return graph.inputs.find((i) => i.name === name);
}

/** The output named `name`; throws if there is none. */
export function getOutput(graph: Graph, name: string): GraphOutput {
  const out = graph.outputs.find((o) => o.name === name);
  if (out === undefined) throw new RangeError(`the graph has no output named '${name}'`);
  return out;
}

/** The number of uses of each value (as an argument or an output). */
export function useCounts(graph: Graph): Map<number, number> {
  const uses = new Map<number, number>();
  const use = (v: Value): void => {
    uses.set(v.id, (uses.get(v.id) ?? 0) + 1);
  };
  for (const eq of graph.equations) eq.args.forEach(use);
  for (const o of graph.outputs) use(o.value);
  return uses;
}
