/**
 * Every op, one table row each (some ops have several rows, composites have their own): the forward result on shapes
 * and values drawn by fast-check against a direct float64 implementation in `numpy.ts` (relative 1e-9), the f32 mode
 * against rounding that result, and for differentiable rows every float input's gradient against central finite
 * differences (float64, relative error at most 1e-6; values are drawn away from kinks and ties, see `row.ts`).
 */

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { gradcheck } from '../../compiler/gradcheck.js';
import { GraphBuilder } from '../../compiler/ir/builder.js';
import type { Graph, Value } from '../../compiler/ir/graph.js';
import { verifyGraph } from '../../compiler/ir/verify.js';
import { OP_NAMES } from '../../compiler/ops/op.js';
import { isDifferentiable } from '../../compiler/ops/registry.js';
import { isFloat } from '../../compiler/types/shape.js';
import { evaluate } from '../../runtime/reference/interpret.js';
import { makeTensor, type RefTensor } from '../../runtime/reference/tensor.js';
import { weights } from './numpy.js';
import type { Instance } from './row.js';
import { OP_ROWS } from './table.js';

const RUNS = Number(process.env.VITM_OP_RUNS ?? 12);

function buildGraph(inst: Instance, withLoss: boolean): { graph: Graph; inputs: Record<string, RefTensor> } {
  const b = new GraphBuilder();
  const values: Value[] = inst.inputs.map((i) =>
    i.role === 'param' && isFloat(i.dtype)
      ? b.param(i.name, i.shape, { dtype: i.dtype })
      : b.data(i.name, i.shape, i.dtype),
  );
  const inputs: Record<string, RefTensor> = {};
  for (const i of inst.inputs) inputs[i.name] = makeTensor(i.dtype, i.shape, i.data);
  const y = inst.build(b, values);
  if (!withLoss) return { graph: b.build({ y }), inputs };
  // loss = sum(y * r) with fixed weights r, so every element of y matters to the gradient.
  const shape = y.type.shape.map((d) => d.coeff);
  const r = b.data('r', shape, y.type.dtype);
  inputs.r = makeTensor(y.type.dtype, shape, weights(shape, 7));
  return { graph: b.build({ loss: b.sum(b.mul(y, r)) }), inputs };
}

function closeTo(actual: ArrayLike<number>, expected: readonly number[], atol: number): boolean {
  if (actual.length !== expected.length) return false;
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i] as number;
    const e = expected[i] as number;
    if (!(Math.abs(a - e) <= atol + 1e-9 * Math.abs(e))) return false;
  }
  return true;
}

describe('the op table', () => {
  it('has a row for every op', () => {
    const covered = new Set(OP_ROWS.map((r) => r.name));
    expect(OP_NAMES.filter((op) => !covered.has(op))).toEqual([]);
  });

  it('marks exactly the non-differentiable ops as without gradient', () => {
    for (const row of OP_ROWS) {
      if (row.name.startsWith('composite:')) continue;
      if (row.gradient) expect(isDifferentiable(row.name as never), row.name).toBe(true);
    }
  });

  describe.each(OP_ROWS.map((row, k) => ({ row, label: `${row.name} #${k}` })))('$label', ({ row }) => {
    it('matches a direct float64 implementation, and rounds in f32 mode', () => {
      fc.assert(
        fc.property(row.cases, (inst) => {
          const { graph, inputs } = buildGraph(inst, false);
          verifyGraph(graph);
          const y = evaluate(graph, inputs).y as RefTensor;
          const want = inst.expected();
          expect(y.shape).toEqual(want.shape);
          if (!closeTo(y.data, want.data, row.atol ?? 1e-12)) expect(Array.from(y.data)).toEqual(want.data); // shows the difference
          const y32 = evaluate(graph, inputs, { precision: 'f32' }).y as RefTensor;
          // A single op rounds its float64 result once in f32 mode.
          if (y.dtype === 'f32' && graph.equations.length === 1)
            expect(Array.from(y32.data)).toEqual(Array.from(y.data, Math.fround));
        }),
        { numRuns: RUNS },
      );
    });

    if (row.gradient) {
      it('has gradients equal to finite differences', () => {
        fc.assert(
          fc.property(row.cases, (inst) => {
            const { graph, inputs } = buildGraph(inst, true);
            for (const check of gradcheck(graph, inputs, { directions: 2 }))
              expect(check.worst, `${check.name}: ${JSON.stringify(check.directions)}`).toBeLessThanOrEqual(1e-6);
          }),
          { numRuns: RUNS },
        );
      });
    }
  });
});
