/**
 * The one CST -> AST visitor. It runs on whatever CST the parser built, including one patched by error recovery:
 * a missing piece becomes a placeholder (the name `<error>`) instead of an exception, since the syntax error is
 * already reported. Lexical problems that the lexer let through as tokens (a number too large, an unterminated
 * string) are reported here.
 */
import type { CstNode, IToken } from 'chevrotain';
import type { DiagnosticBag } from '../diagnostics/diagnostic.js';
import type { Span } from '../source/source.js';
import type * as A from './ast.js';
import { parser } from './grammar.js';

type Child = CstNode | IToken;
type Children = Record<string, Child[] | undefined>;

const BaseVisitor = parser.getBaseCstVisitorConstructorWithDefaults();

function isToken(c: Child): c is IToken {
  return 'image' in c;
}

function offsetOf(c: Child): number {
  if (isToken(c)) return c.startOffset;
  const s = c.location?.startOffset;
  return s === undefined || Number.isNaN(s) ? Number.MAX_SAFE_INTEGER : s;
}

/** The offsets from the first to the end of the last real token under a node (undefined when it has none). */
function tokenRange(node: CstNode): { start: number; end: number } | undefined {
  let start = Number.MAX_SAFE_INTEGER;
  let end = -1;
  const walk = (n: CstNode): void => {
    for (const list of Object.values(n.children)) {
      for (const c of list) {
        if (!isToken(c)) walk(c);
        else if (c.isInsertedInRecovery !== true && !Number.isNaN(c.startOffset)) {
          start = Math.min(start, c.startOffset);
          end = Math.max(end, c.startOffset + c.image.length);
        }
      }
    }
  };
  walk(node);
  return end < 0 ? undefined : { start, end };
}

/** Placeholder name for a piece that error recovery left out. */
export const ERROR_NAME = '<error>';

export class AstBuilder extends BaseVisitor {
  constructor(
    private readonly file: string,
    private readonly diagnostics: DiagnosticBag,
  ) {
    super();
    this.validateVisitor();
  }

  /** Visits a node, passing the node itself as the parameter so that rules can read its location. */
  override visit(node: CstNode | CstNode[]): unknown {
    const n = Array.isArray(node) ? node[0] : node;
    return n === undefined ? undefined : super.visit(n, n);
  }

  // ---- helpers ----------------------------------------------------------------------------------------------------

  private span(c: Child | undefined): Span {
    if (c === undefined) return { file: this.file, start: 0, end: 0 };
    if (isToken(c)) return { file: this.file, start: c.startOffset, end: c.startOffset + c.image.length };
    const range = tokenRange(c);
    return range === undefined ? { file: this.file, start: 0, end: 0 } : { file: this.file, ...range };
  }

  private toks(ch: Children, name: string): IToken[] {
    return (ch[name] ?? []).filter(isToken).filter((t) => !t.isInsertedInRecovery);
  }

  private nodes(ch: Children, name: string): CstNode[] {
    return (ch[name] ?? []).filter((c): c is CstNode => !isToken(c));
  }

  private nameOf(t: IToken | undefined, fallback: Span): A.Name {
    if (t === undefined || t.isInsertedInRecovery === true) return { text: ERROR_NAME, span: fallback };
    return { text: t.image, span: this.span(t) };
  }

  private errorExpr(span: Span): A.Expr {
    return { kind: 'name', name: ERROR_NAME, span };
  }

  private sub<T>(node: CstNode | undefined, fallback: T): T {
    return node === undefined ? fallback : (this.visit(node) as T);
  }

  private expr(node: CstNode | undefined, at: Span): A.Expr {
    return this.sub<A.Expr>(node, this.errorExpr(at));
  }

  // ---- declarations -----------------------------------------------------------------------------------------------

  program(ch: Children, node?: CstNode): A.Program {
    const decls = this.nodes(ch, 'declaration')
      .map((d) => this.visit(d) as A.Decl | undefined)
      .filter((d) => d !== undefined);
    const span = node === undefined ? this.span(undefined) : this.span(node);
    return { kind: 'program', file: this.file, decls, span };
  }

  declaration(ch: Children): A.Decl | undefined {
    const inner = [
      ...this.nodes(ch, 'importDecl'),
      ...this.nodes(ch, 'moduleDecl'),
      ...this.nodes(ch, 'modelDecl'),
      ...this.nodes(ch, 'experimentDecl'),
      ...this.nodes(ch, 'lawDecl'),
    ][0];
    return inner === undefined ? undefined : (this.visit(inner) as A.Decl);
  }

  importDecl(ch: Children, node: CstNode): A.ImportDecl {
    const span = this.span(node);
    const str = this.toks(ch, 'StringLit')[0];
    const ids = this.toks(ch, 'Identifier');
    const list = this.nodes(ch, 'nameList')[0];
    const names = list === undefined ? [] : (this.visit(list) as A.Name[]);
    if (str !== undefined) {
      return {
        kind: 'import',
        source: { kind: 'file', path: this.stringValue(str) },
        sourceSpan: this.span(str),
        names,
        span,
      };
    }
    const first = ids[0];
    const last = ids[ids.length - 1];
    const sourceSpan =
      first === undefined || last === undefined
        ? span
        : { file: this.file, start: first.startOffset, end: last.startOffset + last.image.length };
    return { kind: 'import', source: { kind: 'std', parts: ids.map((t) => t.image) }, sourceSpan, names, span };
  }

  nameList(ch: Children): A.Name[] {
    return this.toks(ch, 'Identifier').map((t) => ({ text: t.image, span: this.span(t) }));
  }

  moduleDecl(ch: Children, node: CstNode): A.ModuleDecl {
    const span = this.span(node);
    return {
      kind: 'module',
      name: this.nameOf(this.toks(ch, 'Identifier')[0], span),
      params: this.nodes(ch, 'binder').map((b) => this.visit(b) as A.Binder),
      items: this.nodes(ch, 'moduleItem')
        .map((i) => this.visit(i) as A.ModuleItem | undefined)
        .filter((i) => i !== undefined),
      span,
    };
  }

  binder(ch: Children, node: CstNode): A.Binder {
    const span = this.span(node);
    const name = this.nameOf(this.toks(ch, 'Identifier')[0], span);
    const type = this.sub<A.TypeExpr>(this.nodes(ch, 'typeExpr')[0], {
      kind: 'named',
      name: { text: ERROR_NAME, span },
      span,
    });
    const def = this.nodes(ch, 'expression')[0];
    return def === undefined ? { name, type, span } : { name, type, default: this.expr(def, span), span };
  }

  typeExpr(ch: Children, node: CstNode): A.TypeExpr {
    const span = this.span(node);
    const name = this.nameOf(this.toks(ch, 'Identifier')[0], span);
    const args = this.nodes(ch, 'argList')[0];
    if (args !== undefined) return { kind: 'instance', module: name, args: this.visit(args) as A.Arg[], span };
    if (this.toks(ch, 'LBracket').length > 0) {
      const dims: Child[] = [...this.nodes(ch, 'expression'), ...this.toks(ch, 'Ellipsis')].sort(
        (a, b) => offsetOf(a) - offsetOf(b),
      );
      return {
        kind: 'tensor',
        dtype: name,
        dims: dims.map((d): A.DimExpr => (isToken(d) ? { kind: 'ellipsis', span: this.span(d) } : this.expr(d, span))),
        span,
      };
    }
    return { kind: 'named', name, span };
  }

  moduleItem(ch: Children): A.ModuleItem | undefined {
    const inner = [
      ...this.nodes(ch, 'paramDecl'),
      ...this.nodes(ch, 'requireDecl'),
      ...this.nodes(ch, 'letDecl'),
      ...this.nodes(ch, 'forwardDecl'),
      ...this.nodes(ch, 'submoduleDecl'),
    ][0];
    return inner === undefined ? undefined : (this.visit(inner) as A.ModuleItem);
  }

  paramDecl(ch: Children, node: CstNode): A.ParamDecl {
    const span = this.span(node);
    return {
      kind: 'param',
      frozen: this.toks(ch, 'Frozen').length > 0,
      name: this.nameOf(this.toks(ch, 'Identifier')[0], span),
      type: this.sub<A.TypeExpr>(this.nodes(ch, 'typeExpr')[0], {
        kind: 'named',
        name: { text: ERROR_NAME, span },
        span,
      }),
      init: this.expr(this.nodes(ch, 'expression')[0], span),
      span,
    };
  }

  requireDecl(ch: Children, node: CstNode): A.RequireDecl {
    const span = this.span(node);
    const condition = this.expr(this.nodes(ch, 'expression')[0], span);
    const msg = this.toks(ch, 'StringLit')[0];
    return msg === undefined
      ? { kind: 'require', condition, span }
      : { kind: 'require', condition, message: this.stringValue(msg), span };
  }

  letDecl(ch: Children, node: CstNode): A.LetDecl {
    const span = this.span(node);
    const list = this.nodes(ch, 'nameList')[0];
    const names =
      list !== undefined ? (this.visit(list) as A.Name[]) : [this.nameOf(this.toks(ch, 'Identifier')[0], span)];
    return {
      kind: 'let',
      names,
      tuple: list !== undefined,
      value: this.expr(this.nodes(ch, 'expression')[0], span),
      span,
    };
  }

  submoduleDecl(ch: Children, node: CstNode): A.SubmoduleDecl {
    const span = this.span(node);
    return {
      kind: 'submodule',
      name: this.nameOf(this.toks(ch, 'Identifier')[0], span),
      value: this.expr(this.nodes(ch, 'expression')[0], span),
      span,
    };
  }

  forwardDecl(ch: Children, node: CstNode): A.ForwardDecl {
    const span = this.span(node);
    const result = this.nodes(ch, 'typeExpr')[0];
    const base = {
      kind: 'forward' as const,
      inputs: this.nodes(ch, 'binder').map((b) => this.visit(b) as A.Binder),
      body: this.nodes(ch, 'letDecl').map((l) => this.visit(l) as A.LetDecl),
      returns: this.expr(this.nodes(ch, 'expression')[0], span),
      span,
    };
    return result === undefined ? base : { ...base, result: this.visit(result) as A.TypeExpr };
  }

  modelDecl(ch: Children, node: CstNode): A.ModelDecl {
    const span = this.span(node);
    return {
      kind: 'model',
      name: this.nameOf(this.toks(ch, 'Identifier')[0], span),
      value: this.expr(this.nodes(ch, 'expression')[0], span),
      span,
    };
  }

  experimentDecl(ch: Children, node: CstNode): A.ExperimentDecl {
    const span = this.span(node);
    return {
      kind: 'experiment',
      name: this.nameOf(this.toks(ch, 'Identifier')[0], span),
      fields: this.nodes(ch, 'field').map((f) => this.visit(f) as A.Field),
      span,
    };
  }

  field(ch: Children, node: CstNode): A.Field {
    const span = this.span(node);
    const keys = [...this.toks(ch, 'Identifier'), ...this.toks(ch, 'Model')].sort(
      (a, b) => a.startOffset - b.startOffset,
    );
    const key = this.nameOf(keys[0], span);
    const value = this.expr(this.nodes(ch, 'expression')[0], span);
    const as = this.toks(ch, 'As').length > 0 ? this.nameOf(keys[1], span) : undefined;
    return as === undefined ? { key, value, span } : { key, value, as, span };
  }

  lawDecl(ch: Children, node: CstNode): A.LawDecl {
    const span = this.span(node);
    const exprs = this.nodes(ch, 'expression');
    const hasWhen = this.toks(ch, 'When').length > 0;
    const base = {
      kind: 'law' as const,
      name: this.nameOf(this.toks(ch, 'Identifier')[0], span),
      params: this.nodes(ch, 'binder').map((b) => this.visit(b) as A.Binder),
      body: this.expr(hasWhen ? exprs[1] : exprs[0], span),
      span,
    };
    return hasWhen ? { ...base, when: this.expr(exprs[0], span) } : base;
  }

  // ---- expressions ------------------------------------------------------------------------------------------------

  expression(ch: Children, node: CstNode): A.Expr {
    const span = this.span(node);
    let e = this.expr(this.nodes(ch, 'orExpr')[0], span);
    const withs = this.toks(ch, 'With');
    if (withs.length === 0) return e;
    // Edits belong to the `with` that precedes them.
    const edits = this.nodes(ch, 'edit');
    const curlies = this.toks(ch, 'RCurly');
    withs.forEach((w, i) => {
      const end = curlies[i]?.startOffset ?? Number.MAX_SAFE_INTEGER;
      const next = withs[i + 1]?.startOffset ?? Number.MAX_SAFE_INTEGER;
      const mine = edits.filter((ed) => offsetOf(ed) > w.startOffset && offsetOf(ed) < Math.min(end, next));
      const stop = curlies[i] === undefined ? span.end : curlies[i].startOffset + 1;
      e = {
        kind: 'with',
        target: e,
        edits: mine.map((ed) => this.visit(ed) as A.Edit),
        span: { file: this.file, start: span.start, end: stop },
      };
    });
    return e;
  }

  edit(ch: Children, node: CstNode): A.Edit {
    const span = this.span(node);
    const paths = this.nodes(ch, 'path').map((p) => this.visit(p) as A.Path);
    if (this.toks(ch, 'Freeze').length > 0) return { kind: 'freeze', paths, span };
    if (this.toks(ch, 'Unfreeze').length > 0) return { kind: 'unfreeze', paths, span };
    const path = paths[0] ?? { segments: [], span };
    const value = this.expr(this.nodes(ch, 'expression')[0], span);
    return { kind: this.toks(ch, 'Insert').length > 0 ? 'insert' : 'set', path, value, span };
  }

  path(ch: Children, node: CstNode): A.Path {
    const parts = [...this.nodes(ch, 'pathName'), ...this.nodes(ch, 'pathIndex')].sort(
      (a, b) => offsetOf(a) - offsetOf(b),
    );
    return { segments: parts.map((p) => this.visit(p) as A.PathSegment), span: this.span(node) };
  }

  pathName(ch: Children, node: CstNode): A.PathSegment {
    const span = this.span(node);
    if (this.toks(ch, 'DoubleStar').length > 0) return { kind: 'any', span };
    const parts = [...this.toks(ch, 'Identifier'), ...this.toks(ch, 'Star')].sort(
      (a, b) => a.startOffset - b.startOffset,
    );
    return { kind: 'name', pattern: parts.map((t) => t.image).join('') || ERROR_NAME, span };
  }

  pathIndex(ch: Children, node: CstNode): A.PathSegment {
    const span = this.span(node);
    if (this.toks(ch, 'Star').length > 0) return { kind: 'index', selector: { kind: 'all' }, span };
    const colons = this.toks(ch, 'Colon');
    const nums = this.toks(ch, 'NumberLit');
    const int = (t: IToken): number => this.intLiteral(t);
    if (colons.length === 0)
      return { kind: 'index', selector: { kind: 'at', index: nums[0] === undefined ? 0 : int(nums[0]) }, span };
    const c1 = colons[0]?.startOffset ?? 0;
    const c2 = colons[1]?.startOffset ?? Number.MAX_SAFE_INTEGER;
    const start = nums.find((t) => t.startOffset < c1);
    const stop = nums.find((t) => t.startOffset > c1 && t.startOffset < c2);
    const step = nums.find((t) => t.startOffset > c2);
    const selector: { kind: 'range'; start?: number; stop?: number; step?: number } = { kind: 'range' };
    if (start !== undefined) selector.start = int(start);
    if (stop !== undefined) selector.stop = int(stop);
    if (step !== undefined) selector.step = int(step);
    return { kind: 'index', selector, span };
  }

  private chain(ch: Children, operand: string, ops: readonly string[], node: CstNode): A.Expr {
    const span = this.span(node);
    const operands = this.nodes(ch, operand).map((n) => this.expr(n, span));
    const operators = ops.flatMap((o) => this.toks(ch, o)).sort((a, b) => a.startOffset - b.startOffset);
    let e = operands[0] ?? this.errorExpr(span);
    operators.forEach((op, i) => {
      const right = operands[i + 1] ?? this.errorExpr(this.span(op));
      e = {
        kind: 'binary',
        op: op.image as A.BinaryOp,
        left: e,
        right,
        span: { file: this.file, start: e.span.start, end: right.span.end },
      };
    });
    return e;
  }

  orExpr(ch: Children, node: CstNode): A.Expr {
    return this.chain(ch, 'andExpr', ['Or'], node);
  }

  andExpr(ch: Children, node: CstNode): A.Expr {
    return this.chain(ch, 'notExpr', ['And'], node);
  }

  notExpr(ch: Children, node: CstNode): A.Expr {
    const span = this.span(node);
    if (this.toks(ch, 'Not').length > 0)
      return { kind: 'unary', op: 'not', operand: this.expr(this.nodes(ch, 'notExpr')[0], span), span };
    return this.expr(this.nodes(ch, 'comparison')[0], span);
  }

  comparison(ch: Children, node: CstNode): A.Expr {
    return this.chain(ch, 'additive', ['EqEq', 'NotEq', 'LtEq', 'GtEq', 'Lt', 'Gt'], node);
  }

  additive(ch: Children, node: CstNode): A.Expr {
    return this.chain(ch, 'multiplicative', ['Plus', 'Minus'], node);
  }

  multiplicative(ch: Children, node: CstNode): A.Expr {
    return this.chain(ch, 'unary', ['Star', 'Slash', 'Percent', 'At'], node);
  }

  unary(ch: Children, node: CstNode): A.Expr {
    const span = this.span(node);
    if (this.toks(ch, 'Minus').length > 0)
      return { kind: 'unary', op: '-', operand: this.expr(this.nodes(ch, 'unary')[0], span), span };
    return this.expr(this.nodes(ch, 'postfix')[0], span);
  }

  postfix(ch: Children, node: CstNode): A.Expr {
    const span = this.span(node);
    let e = this.expr(this.nodes(ch, 'primary')[0], span);
    const suffixes: Child[] = [
      ...this.nodes(ch, 'argList'),
      ...this.nodes(ch, 'indexSuffix'),
      ...this.toks(ch, 'Identifier'),
    ];
    suffixes.sort((a, b) => offsetOf(a) - offsetOf(b));
    for (const s of suffixes) {
      const sspan = this.span(s);
      const whole = { file: this.file, start: e.span.start, end: Math.max(e.span.end, sspan.end) };
      if (isToken(s)) e = { kind: 'member', target: e, name: { text: s.image, span: sspan }, span: whole };
      else if (s.name === 'argList') e = { kind: 'call', callee: e, args: this.visit(s) as A.Arg[], span: whole };
      else e = { kind: 'index', target: e, items: this.visit(s) as A.IndexItem[], span: whole };
    }
    return e;
  }

  argList(ch: Children): A.Arg[] {
    return this.nodes(ch, 'argument').map((a) => this.visit(a) as A.Arg);
  }

  argument(ch: Children, node: CstNode): A.Arg {
    const span = this.span(node);
    const value = this.expr(this.nodes(ch, 'expression')[0], span);
    const name = this.toks(ch, 'Identifier')[0];
    return name === undefined ? { value, span } : { name: { text: name.image, span: this.span(name) }, value, span };
  }

  indexSuffix(ch: Children): A.IndexItem[] {
    return this.nodes(ch, 'indexItem').map((i) => this.visit(i) as A.IndexItem);
  }

  indexItem(ch: Children, node: CstNode): A.IndexItem {
    const span = this.span(node);
    if (this.toks(ch, 'Star').length > 0) return { kind: 'star', span };
    const start = this.nodes(ch, 'expression')[0];
    const tail = this.nodes(ch, 'sliceTail')[0];
    if (tail === undefined) return { kind: 'at', index: this.expr(start, span), span };
    const parts = this.visit(tail) as { stop?: A.Expr; step?: A.Expr };
    const item: { kind: 'slice'; start?: A.Expr; stop?: A.Expr; step?: A.Expr; span: Span } = { kind: 'slice', span };
    if (start !== undefined) item.start = this.expr(start, span);
    if (parts.stop !== undefined) item.stop = parts.stop;
    if (parts.step !== undefined) item.step = parts.step;
    return item;
  }

  sliceTail(ch: Children, node: CstNode): { stop?: A.Expr; step?: A.Expr } {
    const span = this.span(node);
    const second = this.toks(ch, 'Colon')[1]?.startOffset ?? Number.MAX_SAFE_INTEGER;
    const out: { stop?: A.Expr; step?: A.Expr } = {};
    for (const e of this.nodes(ch, 'expression')) {
      if (offsetOf(e) < second) out.stop = this.expr(e, span);
      else out.step = this.expr(e, span);
    }
    return out;
  }

  primary(ch: Children, node: CstNode): A.Expr {
    const span = this.span(node);
    const num = this.toks(ch, 'NumberLit')[0];
    if (num !== undefined) return this.numberLiteral(num);
    const str = this.toks(ch, 'StringLit')[0];
    if (str !== undefined) return { kind: 'string', value: this.stringValue(str), span };
    const bad = this.toks(ch, 'BadString')[0];
    if (bad !== undefined) {
      this.diagnostics.error('VT1002', this.span(bad), 'this string has no closing quote on its line');
      return { kind: 'string', value: '', span };
    }
    if (this.toks(ch, 'True').length > 0) return { kind: 'bool', value: true, span };
    if (this.toks(ch, 'False').length > 0) return { kind: 'bool', value: false, span };
    if (this.toks(ch, 'It').length > 0) return { kind: 'it', span };
    const id = this.toks(ch, 'Identifier')[0];
    if (id !== undefined) return { kind: 'name', name: id.image, span };
    const list = this.nodes(ch, 'listExpr')[0];
    if (list !== undefined) return this.visit(list) as A.Expr;
    const items = this.nodes(ch, 'expression').map((e) => this.expr(e, span));
    const commas = this.toks(ch, 'Comma').length;
    if (items.length === 1 && commas === 0) return items[0] as A.Expr;
    return items.length === 0 ? this.errorExpr(span) : { kind: 'tuple', items, span };
  }

  listExpr(ch: Children, node: CstNode): A.Expr {
    const span = this.span(node);
    const items = this.nodes(ch, 'expression').map((e) => this.expr(e, span));
    if (this.toks(ch, 'Semi').length > 0) {
      return { kind: 'repeat', item: items[0] ?? this.errorExpr(span), count: items[1] ?? this.errorExpr(span), span };
    }
    return { kind: 'list', items, span };
  }

  // ---- literals ---------------------------------------------------------------------------------------------------

  private numberLiteral(t: IToken): A.Expr {
    const span = this.span(t);
    const isInt = /^\d+$/.test(t.image);
    const value = Number(t.image);
    if (!Number.isFinite(value) || (isInt && !Number.isSafeInteger(value))) {
      this.diagnostics.error('VT1005', span, `the number ${t.image} is too large to represent exactly`);
      return { kind: 'number', value: 0, isInt, span };
    }
    return { kind: 'number', value, isInt, span };
  }

  private intLiteral(t: IToken): number {
    const e = this.numberLiteral(t);
    if (e.kind === 'number' && !e.isInt) {
      this.diagnostics.error('VT1005', this.span(t), `a path index must be a whole number, not ${t.image}`);
      return 0;
    }
    return e.kind === 'number' ? e.value : 0;
  }

  private stringValue(t: IToken): string {
    return t.image.slice(1, -1).replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c === 't' ? '\t' : c));
  }
}
