/**
 * The semantic stage's driver: elaborates every model, experiment and law declared in the entry file (models of
 * imported files are elaborated when used).
 */
import type { DiagnosticBag } from '../diagnostics/diagnostic.js';
import type { Ctx } from './context.js';
import type { ElaboratedExperiment, ElaboratedLaw, ElaboratedModel, ElaboratedProgram } from './elaborated.js';
import { elaborateExperiment } from './experiments.js';
import { elaborateLaw } from './laws.js';
import { elaborateModel } from './models.js';
import { type FileScope, normalizePath } from './scope.js';

export function elaborate(entry: FileScope, diags: DiagnosticBag, stdlibDir: string): ElaboratedProgram {
  const lib = normalizePath(stdlibDir) + '/';
  const ctx: Ctx = {
    diags,
    nextId: 0,
    stack: [],
    origins: new WeakMap(),
    models: new Map(),
    calls: [],
    library: (file) => file.startsWith(lib),
  };
  const models: ElaboratedModel[] = [];
  const experiments: ElaboratedExperiment[] = [];
  const laws: ElaboratedLaw[] = [];
  for (const d of entry.program.decls) {
    switch (d.kind) {
      case 'import':
      case 'module':
        break;
      case 'model': {
        if (entry.own.get(d.name.text)?.decl !== d) break;
        const m = elaborateModel(ctx, d, entry);
        if (m !== undefined) models.push(m);
        break;
      }
      case 'experiment': {
        const x = elaborateExperiment(ctx, d, entry);
        if (x !== undefined) experiments.push(x);
        break;
      }
      case 'law': {
        const l = elaborateLaw(ctx, d, entry);
        if (l !== undefined) laws.push(l);
        break;
      }
    }
  }
  return { models, experiments, laws };
}
