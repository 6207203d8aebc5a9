/**
 * The front end's entry: source files in, diagnostics and the elaborated program out. It never throws for a user
 * error; a `CompilerBug` escaping from here is a bug in vitm.
 *
 * ```ts
 * const result = checkProgram('model.vitm', host);
 * if (result.diagnostics.length > 0) print(renderDiagnostics(result.diagnostics, result.files));
 * else lower(result.program);
 * ```
 */
import { DiagnosticBag, type Diagnostic } from './diagnostics/diagnostic.js';
import type { SourceFile } from './source/source.js';
import { elaborate } from './semantic/elaborate.js';
import type { ElaboratedProgram } from './semantic/elaborated.js';
import { type FrontendHost, loadProgram, normalizePath } from './semantic/scope.js';

export type { FrontendHost } from './semantic/scope.js';

/** What the front end produced: sorted diagnostics, every file read (to render them), and the program if no errors. */
export interface FrontendResult {
  readonly diagnostics: readonly Diagnostic[];
  readonly files: ReadonlyMap<string, SourceFile>;
  /** Present exactly when there are no diagnostics. */
  readonly program?: ElaboratedProgram;
}

/** Parses, resolves and elaborates `entry` and everything it imports. */
export function checkProgram(entry: string, host: FrontendHost): FrontendResult {
  const diags = new DiagnosticBag();
  const loaded = loadProgram(entry, host, diags);
  if (loaded.entry === undefined) {
    diags.error('VT2003', { file: normalizePath(entry), start: 0, end: 0 }, `cannot read the file '${entry}'`);
    return { diagnostics: diags.sorted(), files: loaded.files };
  }
  if (loaded.syntaxErrors) return { diagnostics: diags.sorted(), files: loaded.files };
  const program = elaborate(loaded.entry, diags, host.stdlibDir);
  const diagnostics = diags.sorted();
  return diagnostics.length === 0
    ? { diagnostics, files: loaded.files, program }
    : { diagnostics, files: loaded.files };
}

/** A host over an in-memory map of files (tests, the browser playground). */
export function memoryHost(files: ReadonlyMap<string, string>, stdlibDir = '/stdlib'): FrontendHost {
  return { read: (path) => files.get(path), stdlibDir };
}
