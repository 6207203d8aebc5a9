/**
 * `vitm check FILE`: runs the front end; prints the diagnostics and returns 1, or prints per model the total and
 * trainable parameter counts and a per-module table, and returns 0.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { renderDiagnostics } from '../compiler/diagnostics/render.js';
import { checkProgram, type FrontendHost } from '../compiler/frontend.js';
import {
  type ElaboratedModel,
  type ElaboratedProgram,
  type ExprType,
  isTupleType,
  type ModuleInstance,
  type Parameter,
} from '../compiler/semantic/elaborated.js';
import { concrete, numel, typeToString } from '../compiler/types/shape.js';
import { formatCount } from './format.js';

/** The standard library shipped with the package. */
export const STDLIB_DIR = fileURLToPath(
  new URL(import.meta.url.includes('/dist/') ? '../../stdlib' : '../stdlib', import.meta.url),
);

/** Reads sources from the file system. */
export function nodeHost(stdlibDir = STDLIB_DIR): FrontendHost {
  return {
    read(path) {
      try {
        return readFileSync(path, 'utf8');
      } catch {
        return undefined;
      }
    },
    stdlibDir,
  };
}

function size(p: Parameter): number {
  return concrete(numel(p.type.shape)) ?? 0;
}

/** Parameters under an instance, each distinct tensor once. */
function count(inst: ModuleInstance): { total: number; trainable: number } {
  const seen = new Set<Parameter>();
  const walk = (i: ModuleInstance): void => {
    for (const p of i.parameters) seen.add(p);
    for (const c of i.children) (c.kind === 'single' ? [c.instance] : c.instances).forEach(walk);
  };
  walk(inst);
  let total = 0;
  let trainable = 0;
  for (const p of seen) {
    total += size(p);
    if (p.trainable) trainable += size(p);
  }
  return { total, trainable };
}

function rows(model: ElaboratedModel, depth: number): string[][] {
  const out: string[][] = [];
  const visit = (inst: ModuleInstance, path: string, level: number): void => {
    const c = count(inst);
    out.push([path === '' ? '(model)' : path, inst.module, formatCount(c.total), formatCount(c.trainable)]);
    if (level >= depth) return;
    for (const ch of inst.children) {
      const at = path === '' ? ch.name : `${path}.${ch.name}`;
      if (ch.kind === 'single') visit(ch.instance, at, level + 1);
      else
        ch.instances.forEach((i, k) => {
          visit(i, `${at}.${k}`, level + 1);
        });
    }
  };
  visit(model.root, '', 0);
  return out;
}

function table(data: readonly string[][]): string {
  const header = ['module path', 'module', 'parameters', 'trainable'];
  const all = [header, ...data];
  const widths = header.map((_, i) => Math.max(...all.map((r) => (r[i] ?? '').length)));
  return all
    .map(
      (r) =>
        '  ' +
        r
          .map((cell, i) => (i >= 2 ? cell.padStart(widths[i] ?? 0) : cell.padEnd(widths[i] ?? 0)))
          .join('  ')
          .trimEnd(),
    )
    .join('\n');
}

/** The report for a checked program: per model the counts and module table, then experiments and laws. */
export function summarize(program: ElaboratedProgram, depth = 1): string {
  const parts: string[] = [];
  for (const m of program.models) {
    const c = count(m.root);
    const pct = c.total === 0 ? 0 : (100 * c.trainable) / c.total;
    const fwd = m.root.forward;
    const signature =
      fwd === undefined
        ? ''
        : `\n  forward(${fwd.inputs.map((i) => typeToString(i.type)).join(', ')}) -> ${showType(fwd.type)}`;
    parts.push(
      `model ${m.name}: ${formatCount(c.total)} parameters, ${formatCount(c.trainable)} trainable (${pct.toFixed(2)}%)` +
        `${signature}\n${table(rows(m, depth))}`,
    );
  }
  for (const x of program.experiments) {
    parts.push(`experiment ${x.name}: model ${x.model}, ${x.length.count} ${x.length.kind}, batch ${x.batch}`);
  }
  for (const l of program.laws)
    parts.push(`law ${l.name}: ${l.params.length} parameter${l.params.length === 1 ? '' : 's'}`);
  if (parts.length === 0) parts.push('no errors (the file declares no model, experiment or law)');
  return parts.join('\n\n');
}

function showType(t: ExprType): string {
  return isTupleType(t) ? `(${t.tuple.map(typeToString).join(', ')})` : typeToString(t);
}

/** Runs the check and prints the report; returns the exit code. */
export function check(file: string, options: { depth?: number; host?: FrontendHost } = {}): number {
  const result = checkProgram(file, options.host ?? nodeHost());
  if (result.program === undefined) {
    process.stderr.write(renderDiagnostics(result.diagnostics, result.files) + '\n');
    return 1;
  }
  process.stdout.write(summarize(result.program, options.depth ?? 1) + '\n');
  return 0;
}
