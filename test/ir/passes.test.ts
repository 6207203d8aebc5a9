/**
 * The clean-up passes: each rewrite on a small example, and property tests on random graphs (fast-check): every
 * pass, alone and in the usual pipeline, on forward and on differentiated graphs, keeps the reference result and
 * passes the verifier.
 */

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { GraphBuilder } from '../../compiler/ir/builder.js';
import type { Graph, Value } from '../../compiler/ir/graph.js';
import { printGraph } from '../../compiler/ir/print.js';
import {
  CLEANUP_PASSES,
  ELIMINATE_COMMON_SUBEXPRESSIONS,
  ELIMINATE_DEAD_CODE,
  FOLD_CONSTANTS,
  SIMPLIFY,
  differentiatePass,
  runPasses,
  type Pass,
} from '../../compiler/passes/run-passes.js';
import { evaluate } from '../../runtime/reference/interpret.js';
import { makeTensor, type RefTensor } from '../../runtime/reference/tensor.js';
import { weights } from '../ops/numpy.js';

function body(g: Graph): string[] {
  return printGraph(g)
    .split('\n')
    .filter((l) => l.startsWith('  %') || l.startsWith('  output'));
}

describe('the passes on examples', () => {
  it('simplify removes identities, double negations and inverse layout pairs', () => {
    const b = new GraphBuilder();
    const x = b.param('x', [2, 3]);
    const y0 = b.transpose(b.transpose(b.reshape(b.reshape(b.neg(b.neg(x)), [3, 2]), [2, 3]), [1, 0]), [1, 0]);
    const y = b.div(b.sub(b.add(0, b.mul(1, b.mul(y0, 1))), 0), 1);
    const g = runPasses(b.build({ y }), [SIMPLIFY, ELIMINATE_DEAD_CODE], { verify: true });
    expect(body(g)).toEqual(['  output "y" = %0']);
  });

  it('simplify keeps an identity that would change the type', () => {
    const b = new GraphBuilder();
    const x = b.param('x', [3]);
    const y = b.add(x, b.full(0, [2, 3]));
    const g = runPasses(b.build({ y }), [SIMPLIFY, ELIMINATE_DEAD_CODE], { verify: true });
    expect(body(g)).toContain('  %2: f32[2, 3] = add(%0, %1)');
  });

  it('simplify composes transposes and merges reshapes', () => {
    const b = new GraphBuilder();
    const x = b.param('x', [2, 3, 4]);
    const y = b.reshape(b.reshape(b.transpose(b.transpose(x, [1, 0, 2]), [0, 2, 1]), [3, 8]), [24]);
    const g = runPasses(b.build({ y }), [SIMPLIFY, ELIMINATE_DEAD_CODE], { verify: true });
    expect(body(g)).toEqual([
      '  %1: f32[3, 4, 2] = transpose(%0) {perm=[1, 2, 0]}',
      '  %2: f32[24] = reshape(%1) {shape=[24]}',
      '  output "y" = %2',
    ]);
  });

  it('fold-constants evaluates constant subgraphs', () => {
    const b = new GraphBuilder();
    const x = b.param('x', [2]);
    const c = b.mul(b.add(b.scalar(2), b.scalar(3)), b.constant([1, 2], [2]));
    const g = runPasses(b.build({ y: b.mul(x, c) }), [FOLD_CONSTANTS, ELIMINATE_DEAD_CODE], { verify: true });
    expect(body(g)).toEqual([
      '  %1: f32[2] = constant() {dtype=f32, shape=[2], values=[5, 10]}',
      '  %2: f32[2] = mul(%0, %1)',
      '  output "y" = %2',
    ]);
  });

  it('eliminate-common-subexpressions merges equal equations', () => {
    const b = new GraphBuilder();
    const x = b.param('x', [2]);
    const seed = b.data('seed', [], 'u32');
    const y = b.add(b.exp(x), b.exp(x));
    const r = b.add(b.randomUniform(seed, [2], 1), b.randomUniform(seed, [2], 2));
    const g = runPasses(b.build({ y, r }), [ELIMINATE_COMMON_SUBEXPRESSIONS, ELIMINATE_DEAD_CODE], { verify: true });
    expect(body(g).filter((l) => l.includes('exp('))).toHaveLength(1);
    expect(body(g).filter((l) => l.includes('random_uniform('))).toHaveLength(2); // different salts stay apart
  });

  it('eliminate-dead-code drops what no output needs', () => {
    const b = new GraphBuilder();
    const x = b.param('x', [2]);
    b.exp(x);
    const g = runPasses(b.build({ y: b.neg(x) }), [ELIMINATE_DEAD_CODE], { verify: true });
    expect(body(g)).toEqual(['  %1: f32[2] = neg(%0)', '  output "y" = %1']);
  });
});

// ---- Random graphs ----

type Command =
  | { readonly k: 'unary'; readonly op: 0 | 1 | 2 | 3; readonly a: number }
  | {
      readonly k: 'binary';
      readonly op: 0 | 1 | 2 | 3;
      readonly a: number;
      readonly b: number;
      readonly scalar: boolean;
    }
  | { readonly k: 'const'; readonly v: number; readonly scalar: boolean }
  | { readonly k: 'scalars'; readonly op: 0 | 1 | 2 | 3; readonly a: number; readonly b: number }
  | { readonly k: 'identity'; readonly op: 0 | 1 | 2 | 3; readonly a: number }
  | { readonly k: 'layout'; readonly op: 0 | 1 | 2; readonly a: number }
  | { readonly k: 'reduce'; readonly a: number };

const op4 = fc.constantFrom<0 | 1 | 2 | 3>(0, 1, 2, 3);
const idx = fc.nat({ max: 50 });
const arbCommand: fc.Arbitrary<Command> = fc.oneof(
  fc.record({ k: fc.constant('unary' as const), op: op4, a: idx }),
  fc.record({ k: fc.constant('binary' as const), op: op4, a: idx, b: idx, scalar: fc.boolean() }),
  fc.record({ k: fc.constant('const' as const), v: fc.constantFrom(0, 1, 2, -1, 0.5), scalar: fc.boolean() }),
  fc.record({ k: fc.constant('scalars' as const), op: op4, a: idx, b: idx }),
  fc.record({ k: fc.constant('identity' as const), op: op4, a: idx }),
  fc.record({ k: fc.constant('layout' as const), op: fc.constantFrom<0 | 1 | 2>(0, 1, 2), a: idx }),
  fc.record({ k: fc.constant('reduce' as const), a: idx }),
);

/** Builds a graph from commands over two pools: tensors of shape [2, 3] and scalars. */
function randomGraph(commands: readonly Command[]): Graph {
  const b = new GraphBuilder();
  const tensors: Value[] = [b.param('x', [2, 3]), b.param('y', [2, 3]), b.data('z', [2, 3])];
  const scalars: Value[] = [b.scalar(1.5)];
  const pick = (pool: Value[], i: number): Value => pool[i % pool.length] as Value;
  const unary = (op: number, v: Value): Value =>
    op === 0 ? b.neg(v) : op === 1 ? b.tanh(v) : op === 2 ? b.sigmoid(v) : b.exp(b.tanh(v));
  const binary = (op: number, p: Value, q: Value): Value =>
    op === 0 ? b.add(p, q) : op === 1 ? b.sub(p, q) : op === 2 ? b.mul(p, q) : b.maximum(p, q);
  for (const c of commands) {
    switch (c.k) {
      case 'unary':
        tensors.push(unary(c.op, pick(tensors, c.a)));
        break;
      case 'binary':
        tensors.push(binary(c.op, pick(tensors, c.a), c.scalar ? pick(scalars, c.b) : pick(tensors, c.b)));
        break;
      case 'const':
        if (c.scalar) scalars.push(b.scalar(c.v));
        else tensors.push(b.full(c.v, [2, 3]));
        break;
      case 'scalars':
        scalars.push(binary(c.op, pick(scalars, c.a), pick(scalars, c.b)));
        break;
      case 'identity': {
        const v = pick(tensors, c.a);
        tensors.push(c.op === 0 ? b.add(v, 0) : c.op === 1 ? b.mul(1, v) : c.op === 2 ? b.sub(v, 0) : b.div(v, 1));
        break;
      }
      case 'layout': {
        const v = pick(tensors, c.a);
        tensors.push(
          c.op === 0
            ? b.reshape(b.reshape(v, [3, 2]), [2, 3])
            : c.op === 1
              ? b.transpose(b.transpose(v, [1, 0]), [1, 0])
              : b.neg(b.neg(v)),
        );
        break;
      }
      case 'reduce': {
        const v = pick(tensors, c.a);
        tensors.push(b.add(v, b.sum(v, 1, true)));
        break;
      }
    }
  }
  const loss = b.sum(b.mul(tensors[tensors.length - 1] as Value, scalars[scalars.length - 1] as Value));
  return b.build({ loss, t: tensors[tensors.length - 2] as Value });
}

const INPUTS: Record<string, RefTensor> = {
  x: makeTensor('f32', [2, 3], weights([2, 3], 11)),
  y: makeTensor('f32', [2, 3], weights([2, 3], 12)),
  z: makeTensor('f32', [2, 3], weights([2, 3], 13)),
};

function expectSameResults(a: Graph, b: Graph): void {
  const ra = evaluate(a, INPUTS);
  const rb = evaluate(b, INPUTS);
  expect(Object.keys(rb)).toEqual(Object.keys(ra));
  for (const [name, t] of Object.entries(ra)) {
    const u = rb[name] as RefTensor;
    expect(u.shape).toEqual(t.shape);
    t.data.forEach((v, i) => {
      expect(Math.abs((u.data[i] as number) - v)).toBeLessThanOrEqual(1e-12 * Math.max(1, Math.abs(v)));
    });
  }
}

const PASSES: readonly Pass[] = [FOLD_CONSTANTS, SIMPLIFY, ELIMINATE_COMMON_SUBEXPRESSIONS, ELIMINATE_DEAD_CODE];

describe('the passes on random graphs', () => {
  it.each(PASSES.map((p) => [p.name, p] as const))('%s keeps the reference result', (_name, pass) => {
    fc.assert(
      fc.property(fc.array(arbCommand, { minLength: 1, maxLength: 25 }), (commands) => {
        const g = randomGraph(commands);
        expectSameResults(g, runPasses(g, [pass], { verify: true }));
      }),
      { numRuns: 60 },
    );
  });

  it('the clean-up pipeline keeps forward and gradient results and never grows the graph', () => {
    fc.assert(
      fc.property(fc.array(arbCommand, { minLength: 1, maxLength: 25 }), (commands) => {
        const g = randomGraph(commands);
        const cleaned = runPasses(g, CLEANUP_PASSES, { verify: true });
        expectSameResults(g, cleaned);
        expect(cleaned.equations.length).toBeLessThanOrEqual(g.equations.length);
        const d = runPasses(g, [differentiatePass()], { verify: true });
        expectSameResults(d, runPasses(d, CLEANUP_PASSES, { verify: true }));
      }),
      { numRuns: 60 },
    );
  });
});
