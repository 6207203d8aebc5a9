/**
 * Random graphs for memory-plan tests: chains of elementwise ops, matmuls, transposes, reshapes (aliases), softmax
 * and row sums over square parameters and one data input, with a scalar loss, so that differentiating them gives
 * gradient graphs with many values of several sizes, shared operands and aliases.
 */

import fc from 'fast-check';
import { GraphBuilder } from '../../compiler/ir/builder.js';
import type { Graph, Value } from '../../compiler/ir/graph.js';
import { CLEANUP_PASSES, differentiatePass, runPasses } from '../../compiler/passes/run-passes.js';

const OPS = ['tanh', 'exp', 'add', 'mul', 'matmul', 'transpose', 'reshape', 'softmax', 'rowsum'] as const;

export interface RandomGraphCase {
  readonly n: number;
  readonly params: number;
  readonly steps: readonly { readonly op: (typeof OPS)[number]; readonly a: number; readonly b: number }[];
  readonly mid: number;
  readonly differentiate: boolean;
}

export const arbGraphCase: fc.Arbitrary<RandomGraphCase> = fc.record({
  n: fc.integer({ min: 1, max: 5 }),
  params: fc.integer({ min: 1, max: 3 }),
  steps: fc.array(fc.record({ op: fc.constantFrom(...OPS), a: fc.nat(), b: fc.nat() }), {
    minLength: 1,
    maxLength: 14,
  }),
  mid: fc.nat(),
  differentiate: fc.boolean(),
});

/** Builds the case: parameters `w0..`, data `x` (all [n, n]), outputs `loss` and `mid` (plus `grad:w*`). */
export function buildGraph(c: RandomGraphCase): Graph {
  const b = new GraphBuilder();
  const pool: Value[] = [b.data('x', [c.n, c.n])];
  for (let i = 0; i < c.params; i++) pool.push(b.param(`w${i}`, [c.n, c.n]));
  for (const step of c.steps) {
    const x = pool[step.a % pool.length] as Value;
    const y = pool[step.b % pool.length] as Value;
    switch (step.op) {
      case 'tanh':
        pool.push(b.tanh(x));
        break;
      case 'exp':
        pool.push(b.exp(b.tanh(x)));
        break;
      case 'add':
        pool.push(b.add(x, y));
        break;
      case 'mul':
        pool.push(b.mul(x, y));
        break;
      case 'matmul':
        pool.push(b.matmul(x, y));
        break;
      case 'transpose':
        pool.push(b.transpose(x, [1, 0]));
        break;
      case 'reshape':
        pool.push(b.reshape(b.reshape(x, [c.n * c.n]), [c.n, c.n]));
        break;
      case 'softmax':
        pool.push(b.softmax(x, -1));
        break;
      case 'rowsum':
        pool.push(b.add(x, b.reshape(b.sum(y, 1), [c.n, 1])));
        break;
    }
  }
  const last = pool[pool.length - 1] as Value;
  const mid = pool[c.mid % pool.length] as Value;
  const graph = b.build({ loss: b.sum(b.mul(last, last)), mid });
  return c.differentiate
    ? runPasses(graph, [differentiatePass({ loss: 'loss' }), ...CLEANUP_PASSES], { verify: true })
    : graph;
}
