/**
 * vitm: the typed ESM API.
 *
 * ```ts
 * import { compileProgram, compileModel, renderDiagnostics, reference } from 'vitm';
 * const result = compileProgram('model.vitm', nodeHost());
 * if (!result.program) console.error(renderDiagnostics(result.diagnostics, result.files));
 * else { const { training } = compileModel(result.program.models[0]); reference.evaluate(training, inputs, { symbols: { B: 8 } }); }
 * ```
 */
export * from './runtime/index.js';

// The compiler: stages in order (compiler/pipeline.ts), the front end, diagnostics and the IR.
export {
  compileProgram,
  compileModel,
  type CompileOptions,
  type CompiledModel,
  type CompileResult,
} from './compiler/pipeline.js';
export { checkProgram, memoryHost, type FrontendHost, type FrontendResult } from './compiler/frontend.js';
export { renderDiagnostics } from './compiler/diagnostics/render.js';
export { CompilerBug, type Diagnostic } from './compiler/diagnostics/diagnostic.js';
export type * from './compiler/semantic/elaborated.js';
export { lowerForward, lowerLoss, SEED_INPUT } from './compiler/lower/lower.js';
export { gradcheck, type GradcheckOptions, type ParamCheck } from './compiler/gradcheck.js';
export * as ir from './compiler/ir/index.js';
export { SourceFile, type Span } from './compiler/source/source.js';
export * from './compiler/types/shape.js';

// The CPU reference interpreter (the definition of every op's semantics) and parameter initialisers.
export * as reference from './runtime/reference/index.js';
export { initialValues } from './runtime/params/init.js';
export { nodeHost } from './cli/check.js';
