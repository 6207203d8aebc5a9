/**
 * Lowering a whole graph: every equation through its rule in `WGSL_RULES`, with the graph's shape symbols bound to
 * numbers, into a `KernelPlan` (one buffer per value for now, aliases for reshape and stop_gradient, scratch buffers,
 * and the steps in equation order, each tagged with its equation and source span). A pure function: no device.
 */

import type { Equation, Graph, Value } from '../../../ir/graph.js';
import type { OpName } from '../../../ops/op.js';
import { evalShape, type SymbolValues } from '../../../types/shape.js';
import type { BufferRef, BufferSpec, KernelPlan, PlannedStep } from '../../kernel.js';
import { sizeOf, type DeviceCaps } from './common.js';
import { WGSL_RULES, type LowerContext, type WgslRule } from './rules.js';

export interface PlanOptions {
  readonly symbols?: SymbolValues;
  readonly caps: DeviceCaps;
}

/** Thrown when an equation cannot be lowered; names the equation and its span. */
export class LoweringError extends Error {
  constructor(
    message: string,
    readonly equation: Equation,
  ) {
    super(message);
    this.name = 'LoweringError';
  }
}

function spanText(eq: Equation): string {
  return eq.span ? ` @${eq.span.file}:${eq.span.start}-${eq.span.end}` : '';
}

/** Lowers `graph` at one binding of its symbols. */
export function planGraph(graph: Graph, options: PlanOptions): KernelPlan {
  const symbols = options.symbols ?? {};
  const values = new Map<number, BufferSpec>();
  const aliases = new Map<number, number>();
  const temps: BufferSpec[] = [];
  const steps: PlannedStep[] = [];
  const shapes = new Map<number, number[]>();
  const shapeOf = (v: Value): number[] => {
    let s = shapes.get(v.id);
    if (!s) {
      s = evalShape(v.type.shape, symbols);
      shapes.set(v.id, s);
    }
    return s;
  };
  const own = (v: Value, label: string): void => {
    values.set(v.id, { dtype: v.type.dtype, elements: sizeOf(shapeOf(v)), label });
  };
  for (const input of graph.inputs) own(input.value, input.name);
  const ctx: LowerContext = {
    caps: options.caps,
    symbols,
    shape: shapeOf,
    buffer: (v): BufferRef => ({ kind: 'value', id: aliases.get(v.id) ?? v.id }),
    temp: (dtype, elements, label) => {
      temps.push({ dtype, elements, label });
      return { kind: 'temp', index: temps.length - 1 };
    },
  };
  for (const eq of graph.equations) {
    const rule = WGSL_RULES[eq.op] as WgslRule<OpName>;
    let lowered;
    try {
      lowered = rule(eq, ctx);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      throw new LoweringError(`cannot lower ${eq.op} %${eq.out.id}${spanText(eq)}: ${message}`, eq);
    }
    if (lowered === 'alias') {
      const source = eq.args[0];
      if (source === undefined) throw new LoweringError(`${eq.op} %${eq.out.id} has no argument to alias`, eq);
      aliases.set(eq.out.id, aliases.get(source.id) ?? source.id);
      continue;
    }
    own(eq.out, `%${eq.out.id}:${eq.op}`);
    const origin = { values: [eq.out.id], ops: [eq.op], ...(eq.span ? { span: eq.span } : {}) };
    for (const step of lowered) steps.push({ ...step, origin });
  }
  return { values, aliases, temps, steps };
}
