/** Graph-to-graph passes, one per file, and the runner that verifies after each. */
export { differentiate, type DifferentiateOptions } from './differentiate.js';
export { eliminateCommonSubexpressions } from './eliminate-common-subexpressions.js';
export { eliminateDeadCode } from './eliminate-dead-code.js';
export { foldConstants, MAX_FOLDED_ELEMENTS } from './fold-constants.js';
export {
  CLEANUP_PASSES,
  ELIMINATE_COMMON_SUBEXPRESSIONS,
  ELIMINATE_DEAD_CODE,
  FOLD_CONSTANTS,
  SIMPLIFY,
  differentiatePass,
  runPasses,
  type Pass,
  type RunPassesOptions,
} from './run-passes.js';
export { simplify } from './simplify.js';
