/** fast-check arbitraries for `.vitm` ASTs (spans are placeholders; tests compare trees with spans removed). */
import fc from 'fast-check';
import type * as A from '../../compiler/syntax/ast.js';
import type { Span } from '../../compiler/source/source.js';

const S: Span = { file: 'gen.vitm', start: 0, end: 0 };
const NAMES = ['a', 'b', 'x', 'dim', 'Foo', 'blocks', 'w_1', 'f32', 'mlp', 'norm1'] as const;

const name = fc.constantFrom(...NAMES);
const nameNode: fc.Arbitrary<A.Name> = name.map((text) => ({ text, span: S }));

const number: fc.Arbitrary<A.Expr> = fc.oneof(
  fc.nat({ max: 1_000_000 }).map((value) => ({ kind: 'number' as const, value, isInt: true, span: S })),
  fc
    .constantFrom(0.5, 1e-6, 2.25, 1e21, 3, 0.1)
    .map((value) => ({ kind: 'number' as const, value, isInt: false, span: S })),
);
const str: fc.Arbitrary<A.Expr> = fc
  .array(fc.constantFrom('a', 'b', ' ', '"', '\\', '\t', '\n', 'é'), { maxLength: 6 })
  .map((cs) => ({ kind: 'string' as const, value: cs.join(''), span: S }));

const BINARY: A.BinaryOp[] = ['+', '-', '*', '/', '%', '@', '==', '!=', '<', '<=', '>', '>=', 'and', 'or'];

const selector: fc.Arbitrary<A.IndexSelector> = fc.oneof(
  fc.constant<A.IndexSelector>({ kind: 'all' }),
  fc.nat({ max: 20 }).map((index): A.IndexSelector => ({ kind: 'at', index })),
  fc
    .record({
      start: fc.option(fc.nat({ max: 9 }), { nil: undefined }),
      stop: fc.option(fc.nat({ max: 9 }), { nil: undefined }),
      step: fc.option(fc.integer({ min: 1, max: 4 }), { nil: undefined }),
    })
    .map(({ start, stop, step }): A.IndexSelector => {
      const r: { kind: 'range'; start?: number; stop?: number; step?: number } = { kind: 'range' };
      if (start !== undefined) r.start = start;
      if (stop !== undefined) r.stop = stop;
      if (step !== undefined) r.step = step;
      return r;
    }),
);

const pathName: fc.Arbitrary<A.PathSegment> = fc.oneof(
  fc.constantFrom('mlp', 'norm*', '*', 'a*b', 'blocks').map((pattern) => ({ kind: 'name' as const, pattern, span: S })),
  fc.constant<A.PathSegment>({ kind: 'any', span: S }),
);
const path: fc.Arbitrary<A.Path> = fc
  .tuple(
    pathName,
    fc.array(
      fc.oneof(
        pathName,
        selector.map((s): A.PathSegment => ({ kind: 'index', selector: s, span: S })),
      ),
      { maxLength: 3 },
    ),
  )
  .map(([first, rest]) => ({ segments: [first, ...rest], span: S }));

function opt<T>(a: fc.Arbitrary<T>): fc.Arbitrary<T | undefined> {
  return fc.option(a, { nil: undefined });
}

const { expr } = fc.letrec<{ expr: A.Expr }>((tie) => {
  const e = tie('expr');
  const arg: fc.Arbitrary<A.Arg> = fc
    .record({ name: opt(nameNode), value: e })
    .map(({ name: n, value }) => (n === undefined ? { value, span: S } : { name: n, value, span: S }));
  const indexItem: fc.Arbitrary<A.IndexItem> = fc.oneof(
    fc.constant<A.IndexItem>({ kind: 'star', span: S }),
    e.map((index): A.IndexItem => ({ kind: 'at', index, span: S })),
    fc.record({ start: opt(e), stop: opt(e), step: opt(e) }).map(({ start, stop, step }): A.IndexItem => {
      const item: { kind: 'slice'; start?: A.Expr; stop?: A.Expr; step?: A.Expr; span: Span } = {
        kind: 'slice',
        span: S,
      };
      if (start !== undefined) item.start = start;
      if (stop !== undefined) item.stop = stop;
      if (step !== undefined) item.step = step;
      return item;
    }),
  );
  const edit: fc.Arbitrary<A.Edit> = fc.oneof(
    fc.record({ path, value: e }).map(({ path: p, value }): A.Edit => ({ kind: 'set', path: p, value, span: S })),
    fc.record({ path, value: e }).map(({ path: p, value }): A.Edit => ({ kind: 'insert', path: p, value, span: S })),
    fc
      .record({
        k: fc.constantFrom('freeze' as const, 'unfreeze' as const),
        paths: fc.array(path, { minLength: 1, maxLength: 2 }),
      })
      .map(({ k, paths }): A.Edit => ({ kind: k, paths, span: S })),
  );
  return {
    expr: fc.oneof(
      { depthSize: 'small', withCrossShrink: true },
      number,
      str,
      fc.boolean().map((value): A.Expr => ({ kind: 'bool', value, span: S })),
      name.map((n): A.Expr => ({ kind: 'name', name: n, span: S })),
      fc.constant<A.Expr>({ kind: 'it', span: S }),
      fc.array(e, { minLength: 1, maxLength: 3 }).map((items): A.Expr => ({ kind: 'tuple', items, span: S })),
      fc.array(e, { maxLength: 3 }).map((items): A.Expr => ({ kind: 'list', items, span: S })),
      fc.tuple(e, e).map(([item, count]): A.Expr => ({ kind: 'repeat', item, count, span: S })),
      fc
        .tuple(fc.constantFrom('-' as const, 'not' as const), e)
        .map(([op, operand]): A.Expr => ({ kind: 'unary', op, operand, span: S })),
      fc
        .tuple(fc.constantFrom(...BINARY), e, e)
        .map(([op, left, right]): A.Expr => ({ kind: 'binary', op, left, right, span: S })),
      fc
        .tuple(e, fc.array(arg, { maxLength: 3 }))
        .map(([callee, args]): A.Expr => ({ kind: 'call', callee, args, span: S })),
      fc
        .tuple(e, fc.array(indexItem, { minLength: 1, maxLength: 3 }))
        .map(([target, items]): A.Expr => ({ kind: 'index', target, items, span: S })),
      fc.tuple(e, nameNode).map(([target, n]): A.Expr => ({ kind: 'member', target, name: n, span: S })),
      fc
        .tuple(e, fc.array(edit, { maxLength: 2 }))
        .map(([target, edits]): A.Expr => ({ kind: 'with', target, edits, span: S })),
    ),
  };
});

export const exprArb = expr;

const dimExpr: fc.Arbitrary<A.DimExpr> = fc.oneof(expr, fc.constant<A.DimExpr>({ kind: 'ellipsis', span: S }));
const argArb: fc.Arbitrary<A.Arg> = fc
  .record({ name: opt(nameNode), value: expr })
  .map(({ name: n, value }) => (n === undefined ? { value, span: S } : { name: n, value, span: S }));
const typeExpr: fc.Arbitrary<A.TypeExpr> = fc.oneof(
  nameNode.map((n): A.TypeExpr => ({ kind: 'named', name: n, span: S })),
  fc
    .tuple(nameNode, fc.array(dimExpr, { maxLength: 3 }))
    .map(([dtype, dims]): A.TypeExpr => ({ kind: 'tensor', dtype, dims, span: S })),
  fc
    .tuple(nameNode, fc.array(argArb, { maxLength: 2 }))
    .map(([module, args]): A.TypeExpr => ({ kind: 'instance', module, args, span: S })),
);
const binder: fc.Arbitrary<A.Binder> = fc
  .record({ name: nameNode, type: typeExpr, def: opt(expr) })
  .map(({ name: n, type, def }) =>
    def === undefined ? { name: n, type, span: S } : { name: n, type, default: def, span: S },
  );
const letDecl: fc.Arbitrary<A.LetDecl> = fc.oneof(
  fc.tuple(nameNode, expr).map(([n, value]): A.LetDecl => ({ kind: 'let', names: [n], tuple: false, value, span: S })),
  fc
    .tuple(fc.array(nameNode, { minLength: 1, maxLength: 3 }), expr)
    .map(([names, value]): A.LetDecl => ({ kind: 'let', names, tuple: true, value, span: S })),
);
const item: fc.Arbitrary<A.ModuleItem> = fc.oneof(
  fc
    .record({ frozen: fc.boolean(), name: nameNode, type: typeExpr, init: expr })
    .map((r): A.ModuleItem => ({ kind: 'param', ...r, span: S })),
  fc
    .record({ condition: expr, message: opt(fc.constantFrom('must hold', 'a "b"')) })
    .map(({ condition, message }): A.ModuleItem =>
      message === undefined
        ? { kind: 'require', condition, span: S }
        : { kind: 'require', condition, message, span: S },
    ),
  letDecl,
  fc.record({ name: nameNode, value: expr }).map((r): A.ModuleItem => ({ kind: 'submodule', ...r, span: S })),
  fc
    .record({
      inputs: fc.array(binder, { maxLength: 2 }),
      result: opt(typeExpr),
      body: fc.array(letDecl, { maxLength: 2 }),
      returns: expr,
    })
    .map(({ inputs, result, body, returns }): A.ModuleItem =>
      result === undefined
        ? { kind: 'forward', inputs, body, returns, span: S }
        : { kind: 'forward', inputs, result, body, returns, span: S },
    ),
);
const decl: fc.Arbitrary<A.Decl> = fc.oneof(
  fc
    .record({
      parts: fc.array(name, { minLength: 1, maxLength: 2 }),
      names: fc.array(nameNode, { minLength: 1, maxLength: 3 }),
    })
    .map(({ parts, names }): A.Decl => ({
      kind: 'import',
      source: { kind: 'std', parts: ['std', ...parts] },
      sourceSpan: S,
      names,
      span: S,
    })),
  fc
    .record({
      path: fc.constantFrom('./a.vitm', '../lib/b.vitm'),
      names: fc.array(nameNode, { minLength: 1, maxLength: 2 }),
    })
    .map(({ path: p, names }): A.Decl => ({
      kind: 'import',
      source: { kind: 'file', path: p },
      sourceSpan: S,
      names,
      span: S,
    })),
  fc
    .record({ name: nameNode, params: fc.array(binder, { maxLength: 3 }), items: fc.array(item, { maxLength: 4 }) })
    .map((r): A.Decl => ({ kind: 'module', ...r, span: S })),
  fc.record({ name: nameNode, value: expr }).map((r): A.Decl => ({ kind: 'model', ...r, span: S })),
  fc
    .record({
      name: nameNode,
      fields: fc.array(
        fc
          .record({ key: fc.oneof(nameNode, fc.constant({ text: 'model', span: S })), value: expr, as: opt(nameNode) })
          .map(({ key, value, as }): A.Field =>
            as === undefined ? { key, value, span: S } : { key, value, as, span: S },
          ),
        { maxLength: 3 },
      ),
    })
    .map((r): A.Decl => ({ kind: 'experiment', ...r, span: S })),
  fc
    .record({ name: nameNode, params: fc.array(binder, { maxLength: 2 }), when: opt(expr), body: expr })
    .map(({ name: n, params, when, body }): A.Decl =>
      when === undefined
        ? { kind: 'law', name: n, params, body, span: S }
        : { kind: 'law', name: n, params, when, body, span: S },
    ),
);

export const programArb: fc.Arbitrary<A.Program> = fc
  .array(decl, { maxLength: 4 })
  .map((decls) => ({ kind: 'program', file: 'gen.vitm', decls, span: S }));

/** The tree without spans (for structural comparison). */
export function stripSpans(x: unknown): unknown {
  return JSON.parse(
    JSON.stringify(x, (k, v: unknown) => (k === 'span' || k === 'sourceSpan' ? undefined : v)),
  ) as unknown;
}
