/**
 * The compiler's stages, in order. This is the only file that states the order; each stage lives in its own folder.
 *
 *   1. syntax + semantic (`frontend.ts`): `.vitm` text -> checked, elaborated program, or coded diagnostics
 *   2. lower (`lower/`): one elaborated model -> an IR graph (forward, or the training loss)
 *   3. passes (`passes/`): differentiate (gradients of the trainable parameters), then the clean-up passes
 *      (constant folding, simplification, common subexpressions, dead code), the verifier after each when asked
 *   4. codegen (`codegen/wgsl/`) and the runtime's executor: IR graph -> WGSL kernels on the WebGPU device
 */
import type { Diagnostic } from './diagnostics/diagnostic.js';
import { checkProgram, type FrontendHost } from './frontend.js';
import type { Graph } from './ir/graph.js';
import { verifyGraph } from './ir/verify.js';
import { lowerForward, lowerLoss, type LowerOptions } from './lower/lower.js';
import { CLEANUP_PASSES, differentiatePass, runPasses } from './passes/run-passes.js';
import type { ElaboratedModel, ElaboratedProgram } from './semantic/elaborated.js';
import type { SourceFile } from './source/source.js';

export interface CompileOptions extends LowerOptions {
  /** Run the IR verifier after lowering and after every pass (tests and `VITM_DEBUG` runs turn it on). */
  readonly verify?: boolean;
  /** Label smoothing of the training loss. */
  readonly labelSmoothing?: number;
}

/** A model compiled to IR: its forward graph, its loss graph and the loss graph with gradients, cleaned up. */
export interface CompiledModel {
  readonly model: ElaboratedModel;
  readonly forward: Graph;
  readonly loss: Graph;
  /** `loss` plus one `grad:<name>` output per trainable parameter. */
  readonly training: Graph;
}

export interface CompileResult {
  readonly diagnostics: readonly Diagnostic[];
  readonly files: ReadonlyMap<string, SourceFile>;
  readonly program?: ElaboratedProgram;
}

/** Stage 1: parse, resolve, elaborate and check `entry` and its imports. */
export function compileProgram(entry: string, host: FrontendHost): CompileResult {
  return checkProgram(entry, host);
}

/** Stages 2 and 3 for one model of a checked program. */
export function compileModel(model: ElaboratedModel, options: CompileOptions = {}): CompiledModel {
  const verify = options.verify ?? false;
  const forward = runPasses(lowerForward(model, options), CLEANUP_PASSES, { verify });
  const loss = lowerLoss(model, options);
  if (verify) {
    verifyGraph(forward, 'lower forward');
    verifyGraph(loss, 'lower loss');
  }
  const training = runPasses(loss, [differentiatePass({ loss: 'loss' }), ...CLEANUP_PASSES], { verify });
  return { model, forward, loss, training };
}
