/** Property-testing `law` declarations on the reference interpreter and the WebGPU device (`vitm test`). */
export {
  checkLaw,
  compareSides,
  lawCases,
  LAW_BACKENDS,
  type LawBackend,
  type LawCase,
  type LawCheckOptions,
  type LawCounterexample,
  type LawMismatch,
  type LawResult,
} from './check.js';
export { renderLawResult } from './report.js';
export { accumulationLengths, allowance, reductionLength, TOLERANCE_FACTOR, unitRoundoff } from './tolerance.js';
