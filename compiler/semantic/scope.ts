/**
 * Files, imports and top-level names. Loading starts at the entry file and follows imports (`import std.x.{...}`
 * from the standard library directory, `import "./file.vitm".{...}` relative to the importing file), detecting
 * cycles. Each file gets a scope: its own declarations plus the names it imports.
 */
import { DiagnosticBag, didYouMean } from '../diagnostics/diagnostic.js';
import { SourceFile } from '../source/source.js';
import type * as A from '../syntax/ast.js';
import { parseFile } from '../syntax/parse.js';

/** Where source text comes from (the file system in the CLI, a map in tests or the browser). */
export interface FrontendHost {
  /** The text of a file, or undefined if there is none. */
  read(path: string): string | undefined;
  /** The directory holding the standard library (`std.vit` is `<stdlibDir>/vit.vitm`). */
  readonly stdlibDir: string;
}

/** A top-level declaration and the file scope it lives in. */
export type Entity =
  | { readonly kind: 'module'; readonly decl: A.ModuleDecl; readonly scope: FileScope }
  | { readonly kind: 'model'; readonly decl: A.ModelDecl; readonly scope: FileScope }
  | { readonly kind: 'experiment'; readonly decl: A.ExperimentDecl; readonly scope: FileScope }
  | { readonly kind: 'law'; readonly decl: A.LawDecl; readonly scope: FileScope };

/** One file: its AST, its own declarations and every name visible in it. */
export interface FileScope {
  readonly file: string;
  readonly program: A.Program;
  readonly own: Map<string, Entity>;
  readonly names: Map<string, Entity>;
}

/** The result of loading: all files (for rendering), their scopes, and the entry's scope. */
export interface Loaded {
  readonly files: Map<string, SourceFile>;
  readonly scopes: Map<string, FileScope>;
  readonly entry: FileScope | undefined;
  /** True when some file had syntax errors (the semantic stage then does not run). */
  readonly syntaxErrors: boolean;
}

/** Normalises `a/./b/../c` to `a/c` (POSIX separators). */
export function normalizePath(path: string): string {
  const abs = path.startsWith('/');
  const out: string[] = [];
  for (const part of path.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..' && out.length > 0 && out[out.length - 1] !== '..') out.pop();
    else if (part !== '..' || !abs) out.push(part);
  }
  return (abs ? '/' : '') + out.join('/');
}

function dirname(path: string): string {
  const i = path.lastIndexOf('/');
  return i < 0 ? '.' : i === 0 ? '/' : path.slice(0, i);
}

function declName(d: A.Decl): A.Name | undefined {
  return d.kind === 'import' ? undefined : d.name;
}

/** Loads the entry file and everything it imports. */
export function loadProgram(entry: string, host: FrontendHost, diags: DiagnosticBag): Loaded {
  const files = new Map<string, SourceFile>();
  const scopes = new Map<string, FileScope>();
  const visiting: string[] = [];
  let syntaxErrors = false;

  const load = (path: string): FileScope | undefined => {
    const done = scopes.get(path);
    if (done !== undefined) return done;
    const text = host.read(path);
    if (text === undefined) return undefined;
    files.set(path, new SourceFile(path, text));
    const parsed = parseFile(path, text);
    for (const d of parsed.diagnostics.all) diags.add(d);
    if (parsed.diagnostics.count > 0) syntaxErrors = true;
    const scope: FileScope = { file: path, program: parsed.program, own: new Map(), names: new Map() };
    for (const d of parsed.program.decls) {
      const name = declName(d);
      if (name === undefined || d.kind === 'import') continue;
      const prev = scope.own.get(name.text);
      if (prev !== undefined) {
        diags.error('VT2002', name.span, `'${name.text}' is already defined in this file`, [
          { message: 'first defined here', span: prev.decl.name.span },
        ]);
        continue;
      }
      const entity = { kind: d.kind, decl: d, scope } as Entity;
      scope.own.set(name.text, entity);
      scope.names.set(name.text, entity);
    }
    visiting.push(path);
    for (const d of parsed.program.decls) if (d.kind === 'import') importInto(scope, d, path);
    visiting.pop();
    scopes.set(path, scope);
    return scope;
  };

  const importInto = (scope: FileScope, d: A.ImportDecl, from: string): void => {
    const target =
      d.source.kind === 'std'
        ? normalizePath(`${host.stdlibDir}/${d.source.parts.slice(d.source.parts[0] === 'std' ? 1 : 0).join('/')}.vitm`)
        : normalizePath(d.source.path.startsWith('/') ? d.source.path : `${dirname(from)}/${d.source.path}`);
    const shown = d.source.kind === 'std' ? d.source.parts.join('.') : d.source.path;
    if (d.source.kind === 'std' && d.source.parts[0] !== 'std') {
      diags.error(
        'VT2003',
        d.sourceSpan,
        `'${shown}' is not a module: library modules are named std.<module>, files by a quoted path`,
      );
      return;
    }
    const cycleAt = visiting.indexOf(target);
    if (cycleAt >= 0) {
      const chain = [...visiting.slice(cycleAt), target].join(' -> ');
      diags.error('VT2005', d.sourceSpan, `importing '${shown}' makes a cycle: ${chain}`, [
        { message: 'break the cycle by moving the shared declarations into a third file' },
      ]);
      return;
    }
    const imported = load(target);
    if (imported === undefined) {
      diags.error('VT2003', d.sourceSpan, `cannot find the module '${shown}' (looked for ${target})`);
      return;
    }
    for (const n of d.names) {
      const e = imported.own.get(n.text);
      if (e === undefined) {
        diags.error('VT2004', n.span, `'${shown}' defines no '${n.text}'`, didYouMean(n.text, imported.own.keys()));
        continue;
      }
      const prev = scope.names.get(n.text);
      if (prev !== undefined && prev !== e) {
        diags.error('VT2002', n.span, `'${n.text}' is already defined in this file`, [
          { message: 'first defined here', span: prev.decl.name.span },
        ]);
        continue;
      }
      scope.names.set(n.text, e);
    }
  };

  const entryScope = load(normalizePath(entry));
  return { files, scopes, entry: entryScope, syntaxErrors };
}

export { DiagnosticBag };
