/**
 * Running passes in sequence, optionally verifying the IR after each one (always on in the test suite), so a broken
 * invariant is reported with the name of the pass that broke it and the IR around the bad equation.
 */

import type { Graph } from '../ir/graph.js';
import { verifyGraph } from '../ir/verify.js';
import { differentiate, type DifferentiateOptions } from './differentiate.js';
import { eliminateCommonSubexpressions } from './eliminate-common-subexpressions.js';
import { eliminateDeadCode } from './eliminate-dead-code.js';
import { foldConstants } from './fold-constants.js';
import { simplify } from './simplify.js';

export interface Pass {
  readonly name: string;
  readonly run: (graph: Graph) => Graph;
}

export const FOLD_CONSTANTS: Pass = { name: 'fold-constants', run: foldConstants };
export const SIMPLIFY: Pass = { name: 'simplify', run: simplify };
export const ELIMINATE_COMMON_SUBEXPRESSIONS: Pass = {
  name: 'eliminate-common-subexpressions',
  run: eliminateCommonSubexpressions,
};
export const ELIMINATE_DEAD_CODE: Pass = { name: 'eliminate-dead-code', run: eliminateDeadCode };

export function differentiatePass(options: DifferentiateOptions = {}): Pass {
  return { name: 'differentiate', run: (g) => differentiate(g, options) };
}

/** The clean-up passes in their usual order. */
export const CLEANUP_PASSES: readonly Pass[] = [
  FOLD_CONSTANTS,
  SIMPLIFY,
  ELIMINATE_COMMON_SUBEXPRESSIONS,
  ELIMINATE_DEAD_CODE,
];

export interface RunPassesOptions {
  /** Verify the input graph and the result of every pass. */
  readonly verify?: boolean;
}

export function runPasses(graph: Graph, passes: readonly Pass[], options: RunPassesOptions = {}): Graph {
  if (options.verify === true) verifyGraph(graph, 'construction');
  let g = graph;
  for (const pass of passes) {
    g = pass.run(g);
    if (options.verify === true) verifyGraph(g, pass.name);
  }
  return g;
}
