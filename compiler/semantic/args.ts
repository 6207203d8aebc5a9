/**
 * Matching call arguments to declared parameters: positional in order, then by keyword. Reports wrong arity
 * (VT2006), unknown keywords with a suggestion (VT2007), missing arguments (VT2008) and duplicates (VT2009).
 */
import type { DiagnosticBag } from '../diagnostics/diagnostic.js';
import { didYouMean } from '../diagnostics/diagnostic.js';
import type { Span } from '../source/source.js';
import type * as A from '../syntax/ast.js';

export interface ParamShape {
  readonly name: string;
  readonly optional: boolean;
}

/** Arguments by parameter name, or undefined after reporting a mismatch. */
export function bindArgs(
  diags: DiagnosticBag,
  params: readonly ParamShape[],
  args: readonly A.Arg[],
  span: Span,
  what: string,
): Map<string, A.Arg> | undefined {
  const out = new Map<string, A.Arg>();
  let okay = true;
  let position = 0;
  for (const arg of args) {
    if (arg.name === undefined) {
      const p = params[position];
      if (p === undefined) {
        diags.error(
          'VT2006',
          arg.span,
          `${what} takes ${params.length} argument${params.length === 1 ? '' : 's'}, but more were given`,
          [{ message: `parameters: ${params.map((q) => q.name).join(', ') || '(none)'}` }],
        );
        okay = false;
        break;
      }
      out.set(p.name, arg);
      position++;
      continue;
    }
    const name = arg.name.text;
    if (!params.some((p) => p.name === name)) {
      diags.error(
        'VT2007',
        arg.name.span,
        `${what} has no parameter '${name}'`,
        didYouMean(
          name,
          params.map((p) => p.name),
        ),
      );
      okay = false;
      continue;
    }
    if (out.has(name)) {
      diags.error('VT2009', arg.name.span, `the argument '${name}' of ${what} is given twice`);
      okay = false;
      continue;
    }
    out.set(name, arg);
  }
  if (!okay) return undefined;
  const missing = params.filter((p) => !p.optional && !out.has(p.name)).map((p) => p.name);
  if (missing.length > 0) {
    diags.error(
      'VT2008',
      span,
      `${what} is missing the argument${missing.length === 1 ? '' : 's'} ${missing.map((m) => `'${m}'`).join(', ')}`,
    );
    return undefined;
  }
  return out;
}
