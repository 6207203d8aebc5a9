/**
 * Reverse-mode autodiff as a pure pass: returns a graph that computes everything `graph` does and, after it, the
 * gradient of the loss output with respect to every trainable parameter, as ordinary forward equations (so gradients
 * share every later pass, fusion and codegen included).
 *
 * - Only values that depend on a trainable parameter through differentiable ops carry cotangents; a frozen parameter
 *   gets no gradient equation at all, and a VJP is asked only for the arguments that need one.
 * - A value used several times (a shared parameter, `mul(x, x)`) accumulates the cotangents of all its uses with one
 *   `add_n`.
 * - The loss's cotangent seed is ones of its type, so a non-scalar loss gives the gradient of its sum.
 * - Gradient outputs are named `grad:<parameter>` (see `gradientName`) and follow the original outputs; a trainable
 *   parameter the loss does not depend on gets zeros.
 * - Backward equations carry the span of the forward equation they differentiate.
 */

import { GraphBuilder } from '../ir/builder.js';
import { IrTypeError } from '../ir/errors.js';
import { getOutput, gradientName, type Graph, type GraphOutput, type Value } from '../ir/graph.js';
import { typesEqual } from '../ir/verify.js';
import type { OpName } from '../ops/op.js';
import { VJP_RULES } from '../ops/registry.js';
import { NO_GRADIENT, type VjpRule } from '../ops/rule.js';
import { isFloat, typeToString } from '../types/shape.js';

export interface DifferentiateOptions {
  /** The output to differentiate; the first output when omitted. */
  readonly loss?: string;
}

export function differentiate(graph: Graph, options: DifferentiateOptions = {}): Graph {
  const loss = options.loss === undefined ? graph.outputs[0] : getOutput(graph, options.loss);
  if (loss === undefined) throw new IrTypeError('differentiate: the graph has no output');
  if (!isFloat(loss.value.type.dtype))
    throw new IrTypeError(`differentiate: the loss must be a float, got ${typeToString(loss.value.type)}`);

  const trainable = graph.inputs.filter((i) => i.kind === 'param' && i.trainable);
  const needs = new Set<number>(trainable.map((p) => p.value.id));
  for (const eq of graph.equations) {
    if (VJP_RULES[eq.op] !== NO_GRADIENT && isFloat(eq.out.type.dtype) && eq.args.some((a) => needs.has(a.id)))
      needs.add(eq.out.id);
  }

  const b = GraphBuilder.extending(graph);
  const cotangents = new Map<number, Value[]>();
  const accumulated = (v: Value): Value | undefined => {
    const list = cotangents.get(v.id);
    if (list === undefined || list.length === 0) return undefined;
    return list.length === 1 ? list[0] : b.addN(list);
  };

  if (needs.has(loss.value.id))
    cotangents.set(loss.value.id, [b.full(1, loss.value.type.shape, loss.value.type.dtype)]);
  for (let j = graph.equations.length - 1; j >= 0; j--) {
    const eq = graph.equations[j];
    if (eq === undefined || !needs.has(eq.out.id)) continue;
    const rule = VJP_RULES[eq.op];
    if (rule === NO_GRADIENT) continue;
    const wants = eq.args.map((a) => needs.has(a.id));
    b.at(eq.span, () => {
      const g = accumulated(eq.out);
      if (g === undefined) return;
      const cts = (rule as VjpRule<OpName>)(b, eq, g, wants);
      eq.args.forEach((a, i) => {
        const ct = cts[i];
        if (ct === undefined || wants[i] !== true) return;
        if (!typesEqual(ct.type, a.type))
          throw new IrTypeError(
            `the VJP of ${eq.op} gave a cotangent ${typeToString(ct.type)} for an argument ${typeToString(a.type)}`,
          );
        const list = cotangents.get(a.id) ?? [];
        list.push(ct);
        cotangents.set(a.id, list);
      });
    });
  }

  const gradients: GraphOutput[] = trainable.map((p) => ({
    name: gradientName(p.name),
    value: accumulated(p.value) ?? b.full(0, p.value.type.shape, p.value.type.dtype),
  }));
  return b.build([...graph.outputs, ...gradients]);
}
