/**
 * The canonical printer: AST -> `.vitm` source. Parsing the output gives back the same tree (spans aside), which a
 * fast-check property tests; golden AST files are printed with it. Parentheses are emitted only where precedence
 * needs them; edits inside `with { }` end with `;` so that a path starting with `*` can never join the previous
 * expression.
 */
import { assertNever } from '../diagnostics/diagnostic.js';
import type * as A from './ast.js';

const PREC = { with: 0, or: 1, and: 2, not: 3, compare: 4, add: 5, mul: 6, unary: 7, postfix: 8, atom: 9 } as const;

function binaryPrec(op: A.BinaryOp): number {
  switch (op) {
    case 'or':
      return PREC.or;
    case 'and':
      return PREC.and;
    case '==':
    case '!=':
    case '<':
    case '<=':
    case '>':
    case '>=':
      return PREC.compare;
    case '+':
    case '-':
      return PREC.add;
    case '*':
    case '/':
    case '%':
    case '@':
      return PREC.mul;
    default:
      return assertNever(op, 'operator');
  }
}

function precOf(e: A.Expr): number {
  switch (e.kind) {
    case 'with':
      return PREC.with;
    case 'binary':
      return binaryPrec(e.op);
    case 'unary':
      return e.op === 'not' ? PREC.not : PREC.unary;
    case 'call':
    case 'index':
    case 'member':
      return PREC.postfix;
    case 'number':
    case 'string':
    case 'bool':
    case 'name':
    case 'it':
    case 'tuple':
    case 'list':
    case 'repeat':
      return PREC.atom;
    default:
      return assertNever(e, 'expression');
  }
}

/** A number as the lexer reads it back: integers plain, floats always with `.` or an exponent. */
export function printNumber(value: number, isInt: boolean): string {
  const s = String(value);
  if (isInt || /[.e]/.test(s)) return s;
  return `${s}.0`;
}

export function printString(value: string): string {
  return `"${value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n').replace(/\t/g, '\\t')}"`;
}

function printArgs(args: readonly A.Arg[]): string {
  return `(${args.map((a) => (a.name === undefined ? '' : `${a.name.text}: `) + printExpr(a.value)).join(', ')})`;
}

function printIndexItem(i: A.IndexItem): string {
  switch (i.kind) {
    case 'star':
      return '*';
    case 'at':
      return printExpr(i.index);
    case 'slice': {
      const part = (e: A.Expr | undefined): string => (e === undefined ? '' : printExpr(e));
      return `${part(i.start)}:${part(i.stop)}${i.step === undefined ? '' : `:${printExpr(i.step)}`}`;
    }
    default:
      return assertNever(i, 'index item');
  }
}

/** An expression, parenthesised where its context (`minPrec`) needs it. */
export function printExpr(e: A.Expr, minPrec = 0, indent = ''): string {
  const text = printBare(e, indent);
  return precOf(e) < minPrec ? `(${text})` : text;
}

function printBare(e: A.Expr, indent: string): string {
  switch (e.kind) {
    case 'number':
      return printNumber(e.value, e.isInt);
    case 'string':
      return printString(e.value);
    case 'bool':
      return e.value ? 'true' : 'false';
    case 'name':
      return e.name;
    case 'it':
      return 'it';
    case 'tuple':
      return e.items.length === 1
        ? `(${printExpr(e.items[0] as A.Expr)},)`
        : `(${e.items.map((i) => printExpr(i)).join(', ')})`;
    case 'list':
      return `[${e.items.map((i) => printExpr(i)).join(', ')}]`;
    case 'repeat':
      return `[${printExpr(e.item)}; ${printExpr(e.count)}]`;
    case 'unary':
      return e.op === 'not' ? `not ${printExpr(e.operand, PREC.not)}` : `-${printExpr(e.operand, PREC.unary)}`;
    case 'binary': {
      const p = binaryPrec(e.op);
      const leftMin = p === PREC.compare ? p + 1 : p;
      return `${printExpr(e.left, leftMin)} ${e.op} ${printExpr(e.right, p + 1)}`;
    }
    case 'call':
      return `${printExpr(e.callee, PREC.postfix)}${printArgs(e.args)}`;
    case 'index':
      return `${printExpr(e.target, PREC.postfix)}[${e.items.map(printIndexItem).join(', ')}]`;
    case 'member':
      return `${printExpr(e.target, PREC.postfix)}.${e.name.text}`;
    case 'with': {
      const target = e.target.kind === 'with' ? printBare(e.target, indent) : printExpr(e.target, PREC.or, indent);
      if (e.edits.length === 0) return `${target} with {}`;
      const inner = `${indent}  `;
      return `${target} with {\n${e.edits.map((ed) => `${inner}${printEdit(ed, inner)};\n`).join('')}${indent}}`;
    }
    default:
      return assertNever(e, 'expression');
  }
}

function printSelector(s: A.IndexSelector): string {
  switch (s.kind) {
    case 'all':
      return '*';
    case 'at':
      return String(s.index);
    case 'range':
      return `${s.start ?? ''}:${s.stop ?? ''}${s.step === undefined ? '' : `:${s.step}`}`;
    default:
      return assertNever(s, 'selector');
  }
}

/** A path pattern: `blocks[1::2].mlp`, `**.norm*`. */
export function printPath(p: A.Path): string {
  let out = '';
  p.segments.forEach((s, i) => {
    switch (s.kind) {
      case 'name':
        out += (i === 0 ? '' : '.') + s.pattern;
        break;
      case 'any':
        out += (i === 0 ? '' : '.') + '**';
        break;
      case 'index':
        out += `[${printSelector(s.selector)}]`;
        break;
      default:
        assertNever(s, 'path segment');
    }
  });
  return out;
}

function printEdit(e: A.Edit, indent: string): string {
  switch (e.kind) {
    case 'set':
      return `${printPath(e.path)} = ${printExpr(e.value, 0, indent)}`;
    case 'insert':
      return `insert ${printPath(e.path)} = ${printExpr(e.value, 0, indent)}`;
    case 'freeze':
    case 'unfreeze':
      return `${e.kind} ${e.paths.map(printPath).join(', ')}`;
    default:
      return assertNever(e, 'edit');
  }
}

export function printType(t: A.TypeExpr): string {
  switch (t.kind) {
    case 'named':
      return t.name.text;
    case 'tensor':
      return `${t.dtype.text}[${t.dims.map((d) => (d.kind === 'ellipsis' ? '...' : printExpr(d))).join(', ')}]`;
    case 'instance':
      return `${t.module.text}${printArgs(t.args)}`;
    default:
      return assertNever(t, 'type');
  }
}

function printBinder(b: A.Binder): string {
  return `${b.name.text}: ${printType(b.type)}${b.default === undefined ? '' : ` = ${printExpr(b.default)}`}`;
}

function printLet(l: A.LetDecl, indent: string): string {
  const names = l.tuple ? `(${l.names.map((n) => n.text).join(', ')})` : (l.names[0]?.text ?? '');
  return `let ${names} = ${printExpr(l.value, 0, indent)}`;
}

function printItem(item: A.ModuleItem): string {
  const ind = '  ';
  switch (item.kind) {
    case 'param':
      return `${item.frozen ? 'frozen ' : ''}param ${item.name.text}: ${printType(item.type)} = ${printExpr(item.init, 0, ind)}`;
    case 'require':
      return `require ${printExpr(item.condition, 0, ind)}${item.message === undefined ? '' : `, ${printString(item.message)}`}`;
    case 'let':
      return printLet(item, ind);
    case 'submodule':
      return `${item.name.text} = ${printExpr(item.value, 0, ind)}`;
    case 'forward': {
      const head = `forward(${item.inputs.map(printBinder).join(', ')})${item.result === undefined ? '' : ` -> ${printType(item.result)}`}`;
      const body = item.body.map((l) => `    ${printLet(l, '    ')}\n`).join('');
      return `${head} {\n${body}    return ${printExpr(item.returns, 0, '    ')}\n  }`;
    }
    default:
      return assertNever(item, 'module item');
  }
}

export function printDecl(d: A.Decl): string {
  switch (d.kind) {
    case 'import': {
      const src = d.source.kind === 'std' ? d.source.parts.join('.') : printString(d.source.path);
      return `import ${src}.{${d.names.map((n) => n.text).join(', ')}}`;
    }
    case 'module': {
      const items = d.items.map((i) => `  ${printItem(i)}\n`).join('');
      return `module ${d.name.text}(${d.params.map(printBinder).join(', ')}) {\n${items}}`;
    }
    case 'model':
      return `model ${d.name.text} = ${printExpr(d.value)}`;
    case 'experiment': {
      const fields = d.fields.map(
        (f) => `  ${f.key.text}: ${printExpr(f.value, 0, '  ')}${f.as === undefined ? '' : ` as ${f.as.text}`}\n`,
      );
      return `experiment ${d.name.text} {\n${fields.join('')}}`;
    }
    case 'law':
      return `law ${d.name.text}(${d.params.map(printBinder).join(', ')})${d.when === undefined ? '' : ` when ${printExpr(d.when)}`}: ${printExpr(d.body)}`;
    default:
      return assertNever(d, 'declaration');
  }
}

/** A whole program, declarations separated by blank lines, ending with a newline. */
export function printProgram(p: A.Program): string {
  return p.decls.map(printDecl).join('\n\n') + (p.decls.length > 0 ? '\n' : '');
}
