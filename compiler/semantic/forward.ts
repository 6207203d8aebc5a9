/**
 * Forward bodies: each instance's `forward` is checked once its model's instance tree is final. Inputs may carry
 * dimension symbols (capitalised names such as `B`, `N`) and a leading `...`; the body is typed node by node
 * (`forward-expr.ts`), and the result is compared with the declared result type (VT3008).
 */
import { didYouMean } from '../diagnostics/diagnostic.js';
import type * as A from '../syntax/ast.js';
import {
  type DType,
  DTYPES,
  type Dim,
  dimEquals,
  type Shape,
  shapeToString,
  type TensorType,
  typeToString,
} from '../types/shape.js';
import type { Ctx, Value } from './context.js';
import {
  type ExprType,
  isTupleType,
  type ModuleInstance,
  type TExpr,
  type TypedForward,
  type TypedLet,
} from './elaborated.js';
import { checkExpr, dimOf, type FEnv, type FVal, tensorOf } from './forward-expr.js';
import { REST } from './unify.js';

/** Is `name` a dimension symbol (a capitalised name that is not a constant)? */
export function isSymbolName(name: string): boolean {
  return /^[A-Z]/.test(name);
}

/** The forward environment of an instance: its constants, parameters and current submodules. */
export function instanceEnv(ctx: Ctx, inst: ModuleInstance): FEnv | undefined {
  const origin = ctx.origins.get(inst);
  if (origin === undefined) return undefined;
  const consts = new Map<string, Value>();
  for (const [k, v] of origin.consts) if (v.kind !== 'instance' && v.kind !== 'sequence') consts.set(k, v);
  return { ctx, inst, scope: origin.entity.scope, consts, symbols: new Map(), locals: new Map(), lets: [] };
}

/** A type annotation in a forward signature, with new symbols bound (inputs) or required to be known (result). */
export function annotationType(env: FEnv, t: A.TypeExpr, bindNew: boolean): TensorType | undefined {
  const diags = env.ctx.diags;
  if (t.kind !== 'tensor') {
    diags.error('VT3001', t.span, 'a forward input or result needs a tensor type such as f32[B, N, dim]');
    return undefined;
  }
  if (!(DTYPES as readonly string[]).includes(t.dtype.text)) {
    diags.error('VT3013', t.dtype.span, `unknown dtype '${t.dtype.text}'`, [
      { message: `dtypes: ${DTYPES.join(', ')}` },
      ...didYouMean(t.dtype.text, DTYPES),
    ]);
    return undefined;
  }
  const shape: Dim[] = [];
  for (const [i, d] of t.dims.entries()) {
    if (d.kind === 'ellipsis') {
      if (i !== 0) {
        diags.error('VT3001', d.span, '`...` may only stand for the leading dimensions');
        return undefined;
      }
      shape.push({ coeff: 1, syms: [REST] });
      continue;
    }
    if (bindNew && d.kind === 'name' && isSymbolName(d.name) && !env.consts.has(d.name) && !env.symbols.has(d.name)) {
      env.symbols.set(d.name, { coeff: 1, syms: [d.name] });
    }
    const v = checkExpr(env, d);
    const dd = v === undefined ? undefined : dimOf(env, v, d.span);
    if (dd === undefined) return undefined;
    shape.push(dd);
  }
  return { dtype: t.dtype.text as DType, shape };
}

function sameType(a: ExprType, b: ExprType): boolean {
  if (isTupleType(a) || isTupleType(b)) {
    return (
      isTupleType(a) &&
      isTupleType(b) &&
      a.tuple.length === b.tuple.length &&
      a.tuple.every((t, i) => sameType(t, b.tuple[i] as TensorType))
    );
  }
  return (
    a.dtype === b.dtype && a.shape.length === b.shape.length && a.shape.every((d, i) => dimEquals(d, b.shape[i] as Dim))
  );
}

function show(t: ExprType): string {
  return isTupleType(t) ? `(${t.tuple.map(typeToString).join(', ')})` : typeToString(t);
}

/** Binds a forward `let` (a tensor, a tuple destructured, or a compile-time constant). */
function bindLet(env: FEnv, l: A.LetDecl, lets: TypedLet[]): boolean {
  const v = checkExpr(env, l.value);
  if (v === undefined) return false;
  const names = l.names.map((n) => n.text);
  if (v.kind !== 'tensor') {
    if (l.tuple) {
      env.ctx.diags.error('VT3014', l.span, 'only a tuple of tensors can be destructured in a forward body');
      return false;
    }
    env.locals.set(names[0] ?? '', v);
    return true;
  }
  const binding = lets.length;
  lets.push({ names, value: v.expr, span: l.span });
  const type = v.expr.type;
  if (!l.tuple) {
    env.locals.set(names[0] ?? '', {
      kind: 'tensor',
      expr: { kind: 'local', binding, name: names[0] ?? '', type, span: l.span },
    });
    return true;
  }
  if (!isTupleType(type) || type.tuple.length !== names.length) {
    env.ctx.diags.error('VT3014', l.span, `cannot destructure ${show(type)} into ${names.length} names`);
    return false;
  }
  names.forEach((name, element) => {
    const t = type.tuple[element] as TensorType;
    env.locals.set(name, { kind: 'tensor', expr: { kind: 'local', binding, element, name, type: t, span: l.span } });
  });
  return true;
}

/** Checks an instance's forward (once); false after reporting errors. An instance without forward is fine here. */
export function checkInstanceForward(ctx: Ctx, inst: ModuleInstance): boolean {
  if (inst.forward !== undefined) return true;
  const env = instanceEnv(ctx, inst);
  if (env === undefined) return false;
  const forwards =
    env.ctx.origins.get(inst)?.entity.decl.items.filter((i): i is A.ForwardDecl => i.kind === 'forward') ?? [];
  const decl = forwards[0];
  if (decl === undefined) return true;
  if (forwards[1] !== undefined) {
    ctx.diags.error('VT2002', forwards[1].span, `${inst.module} has more than one forward`);
    return false;
  }
  const inputs: TypedForward['inputs'][number][] = [];
  for (const [index, b] of decl.inputs.entries()) {
    const type = annotationType(env, b.type, true);
    if (type === undefined) return false;
    if (env.locals.has(b.name.text)) {
      ctx.diags.error('VT2002', b.name.span, `the input '${b.name.text}' is declared twice`);
      return false;
    }
    const rest = type.shape[0]?.syms[0] === REST;
    inputs.push({ name: b.name.text, type, rest, span: b.span });
    env.locals.set(b.name.text, {
      kind: 'tensor',
      expr: { kind: 'input', index, name: b.name.text, type, span: b.span },
    });
  }
  const lets: TypedLet[] = [];
  for (const l of decl.body) if (!bindLet(env, l, lets)) return false;
  const resultVal: FVal | undefined = checkExpr(env, decl.returns);
  const result: TExpr | undefined =
    resultVal === undefined ? undefined : tensorOf(env, resultVal, decl.returns.span, true);
  if (result === undefined) return false;
  if (decl.result !== undefined) {
    const declared = annotationType(env, decl.result, false);
    if (declared === undefined) return false;
    if (!sameType(declared, result.type)) {
      ctx.diags.error(
        'VT3008',
        decl.returns.span,
        `${inst.module}'s forward returns ${show(result.type)}, but its declared result is ${show(declared)}`,
        [{ message: 'declared here', span: decl.result.span }],
      );
      return false;
    }
  }
  const symbols = [...env.symbols.keys(), ...(inputs.some((i) => i.rest) ? [REST] : [])];
  inst.forward = { inputs, lets, result, type: result.type, symbols, span: decl.span };
  return true;
}

/** `[2, B, 64]` etc. for messages. */
export function showShape(s: Shape): string {
  return shapeToString(s);
}
