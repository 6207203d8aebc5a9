/**
 * Text -> AST for one file: lex, check bracket nesting, parse with recovery, build the AST. Every problem becomes a
 * diagnostic; this never throws for any input text.
 */
import type { IRecognitionException, IToken } from 'chevrotain';
import { DiagnosticBag } from '../diagnostics/diagnostic.js';
import type { Span } from '../source/source.js';
import type { Program } from './ast.js';
import { AstBuilder } from './cst-to-ast.js';
import { parser } from './grammar.js';
import { ALL_TOKENS, BadComment, vitmLexer } from './tokens.js';

/** Deeper nesting than this (brackets plus prefix operators) is refused with VT1007 before parsing. */
export const MAX_NESTING = 100;

/** The result of parsing one file: always a program (empty or partial when there are errors). */
export interface ParseResult {
  readonly program: Program;
  readonly diagnostics: DiagnosticBag;
}

const DISPLAY = new Map<string, string>(
  ALL_TOKENS.map((t) => {
    const p = t.PATTERN;
    if (typeof p === 'string') return [t.name, `'${p}'`];
    if (p instanceof RegExp && /^[a-z]+\\b$/.test(p.source)) return [t.name, `'${p.source.slice(0, -2)}'`];
    const words: Record<string, string> = {
      Identifier: 'a name',
      NumberLit: 'a number',
      StringLit: 'a string',
      BadString: 'a string',
      EOF: 'the end of the file',
    };
    return [t.name, words[t.name] ?? t.name];
  }),
);

/** How a token type is named in messages: `')'`, `'module'`, `a name`. */
export function displayToken(name: string): string {
  return DISPLAY.get(name) ?? name;
}

function found(t: IToken): string {
  return t.tokenType.name === 'EOF' ? 'the end of the file' : `'${t.image}'`;
}

const CONTEXT: Record<string, string> = {
  program: 'at the top level',
  importDecl: 'in an import',
  moduleDecl: 'in a module',
  moduleItem: 'in a module body',
  forwardDecl: 'in a forward body',
  experimentDecl: 'in an experiment',
  field: 'in an experiment field',
  lawDecl: 'in a law',
  edit: 'in an edit',
  path: 'in a path',
  argList: 'in the arguments',
  binder: 'in a parameter',
  typeExpr: 'in a type',
};

function describe(e: IRecognitionException): string {
  const mismatched = /Expecting token of type --> (\w+) <--/.exec(e.message);
  if (mismatched?.[1] !== undefined) return `expected ${displayToken(mismatched[1])} but found ${found(e.token)}`;
  const stack = e.context.ruleStack;
  let where = '';
  for (let i = stack.length - 1; i >= 0 && where === ''; i--) where = CONTEXT[stack[i] ?? ''] ?? '';
  if (e.name === 'NotAllInputParsedException')
    return `unexpected ${found(e.token)}: expected a declaration (import, module, model, experiment or law)`;
  return `unexpected ${found(e.token)}${where === '' ? '' : ` ${where}`}`;
}

function nesting(tokens: readonly IToken[]): IToken | undefined {
  let depth = 0;
  let prefix = 0;
  for (const t of tokens) {
    const n = t.tokenType.name;
    if (n === 'LParen' || n === 'LBracket' || n === 'LCurly') depth++;
    else if (n === 'RParen' || n === 'RBracket' || n === 'RCurly') depth = Math.max(0, depth - 1);
    prefix = n === 'Minus' || n === 'Not' ? prefix + 1 : 0;
    if (depth + prefix > MAX_NESTING) return t;
  }
  return undefined;
}

/** Parses `text` (the contents of `file`). */
export function parseFile(file: string, text: string): ParseResult {
  const diagnostics = new DiagnosticBag();
  const span = (start: number, end: number): Span => ({ file, start, end });
  const empty: Program = { kind: 'program', file, decls: [], span: span(0, text.length) };
  const lexed = vitmLexer.tokenize(text);
  for (const e of lexed.errors) {
    diagnostics.error(
      'VT1001',
      span(e.offset, e.offset + Math.max(1, e.length)),
      `unexpected character '${text.slice(e.offset, e.offset + Math.max(1, Math.min(e.length, 1)))}'`,
    );
  }
  for (const c of lexed.groups.bad ?? []) {
    if (c.tokenType === BadComment)
      diagnostics.error('VT1006', span(c.startOffset, c.startOffset + 2), 'this comment is never closed with */');
  }
  const deep = nesting(lexed.tokens);
  if (deep !== undefined) {
    diagnostics.error(
      'VT1007',
      span(deep.startOffset, deep.startOffset + deep.image.length),
      `brackets and prefix operators nest more than ${MAX_NESTING} deep here`,
    );
    return { program: empty, diagnostics };
  }
  parser.input = lexed.tokens;
  const cst = parser.program();
  for (const e of parser.errors) {
    const t = e.token;
    const eof = t.tokenType.name === 'EOF' || Number.isNaN(t.startOffset);
    const at = eof ? span(text.length, text.length) : span(t.startOffset, t.startOffset + t.image.length);
    diagnostics.error(eof ? 'VT1004' : 'VT1003', at, describe(e));
  }
  const builder = new AstBuilder(file, diagnostics);
  const program = builder.visit(cst) as Program | undefined;
  return { program: program ?? empty, diagnostics };
}
