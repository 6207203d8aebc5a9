/**
 * `law` declarations: `law name(params) when condition: lhs == rhs`. Parameters are tensors (with dimension
 * symbols) or module instances (`m: Mlp(in_features: 8, hidden_features: 32)`); both sides are typed like forward
 * bodies and must have the same type. A later stage property-tests them.
 */
import type * as A from '../syntax/ast.js';
import type { Ctx, Env } from './context.js';
import { type ElaboratedLaw, isTupleType, type LawParam, type ModuleInstance, type TExpr } from './elaborated.js';
import { annotationType } from './forward.js';
import { checkExpr, type FEnv, tensorOf } from './forward-expr.js';
import { instantiate } from './instantiate.js';
import { finalize, instancesOf } from './models.js';
import { checkInstanceForward } from './forward.js';
import type { FileScope } from './scope.js';
import { typeToString } from '../types/shape.js';

/** Elaborates one law; undefined after reporting errors. */
export function elaborateLaw(ctx: Ctx, decl: A.LawDecl, scope: FileScope): ElaboratedLaw | undefined {
  const holder: ModuleInstance = {
    id: ctx.nextId++,
    module: `law ${decl.name.text}`,
    file: scope.file,
    path: '',
    hyperparameters: new Map(),
    parameters: [],
    children: [],
    forward: undefined,
    span: decl.span,
    declSpan: decl.span,
  };
  const env: FEnv = { ctx, inst: holder, scope, consts: new Map(), symbols: new Map(), locals: new Map(), lets: [] };
  const params: LawParam[] = [];
  for (const [index, b] of decl.params.entries()) {
    if (b.default !== undefined) {
      ctx.diags.error('VT5103', b.default.span, 'law parameters range over all values: they take no default');
      return undefined;
    }
    if (b.type.kind === 'instance') {
      const entity = scope.names.get(b.type.module.text);
      if (entity?.kind !== 'module') {
        ctx.diags.error('VT5103', b.type.module.span, `'${b.type.module.text}' is not a module`);
        return undefined;
      }
      const callEnv: Env = { scope, locals: new Map() };
      const inst = instantiate(ctx, entity, b.type.args, callEnv, b.type.span);
      if (inst === undefined) return undefined;
      finalize(inst);
      if (!instancesOf(inst).every((i) => checkInstanceForward(ctx, i))) return undefined;
      params.push({ kind: 'instance', name: b.name.text, instance: inst, span: b.span });
      env.locals.set(b.name.text, { kind: 'instance', instance: inst });
      continue;
    }
    if (b.type.kind === 'named') {
      ctx.diags.error(
        'VT5103',
        b.type.span,
        `a law parameter is a tensor (f32[B, D]) or a module instance (Module(...)), not '${b.type.name.text}'`,
      );
      return undefined;
    }
    const type = annotationType(env, b.type, true);
    if (type === undefined) return undefined;
    params.push({ kind: 'tensor', name: b.name.text, type, span: b.span });
    env.locals.set(b.name.text, {
      kind: 'tensor',
      expr: { kind: 'input', index, name: b.name.text, type, span: b.span },
    });
  }
  const symbols = new Set(params.flatMap((p) => (p.kind === 'tensor' ? p.type.shape.flatMap((d) => d.syms) : [])));
  const bounds = new Map<string, { min: number; max?: number }>();
  const condition = decl.when === undefined ? undefined : takeBounds(decl.when, symbols, bounds);
  for (const [name, b] of bounds) {
    if (b.max !== undefined && b.max < b.min) {
      ctx.diags.error(
        'VT5103',
        decl.when?.span ?? decl.span,
        `the bounds leave ${name} no value (${b.min} to ${b.max})`,
      );
      return undefined;
    }
  }
  let when: TExpr | undefined;
  if (condition !== undefined) {
    const w = checkExpr(env, condition);
    if (w === undefined) return undefined;
    when =
      w.kind === 'value'
        ? {
            kind: 'const',
            value: w.value.kind === 'bool' && w.value.value ? 1 : 0,
            type: { dtype: 'bool', shape: [] },
            span: condition.span,
          }
        : tensorOf(env, w, condition.span);
    if (when === undefined) return undefined;
  }
  if (decl.body.kind !== 'binary' || decl.body.op !== '==') {
    ctx.diags.error('VT5101', decl.body.span, 'a law body is an equation: lhs == rhs');
    return undefined;
  }
  const l = checkExpr(env, decl.body.left);
  const r = checkExpr(env, decl.body.right);
  const lhs = l === undefined ? undefined : tensorOf(env, l, decl.body.left.span, true);
  const rhs = r === undefined ? undefined : tensorOf(env, r, decl.body.right.span, true);
  if (lhs === undefined || rhs === undefined) return undefined;
  const show = (e: TExpr): string => (isTupleType(e.type) ? 'a tuple' : typeToString(e.type));
  if (show(lhs) !== show(rhs)) {
    ctx.diags.error('VT5102', decl.body.span, `the two sides differ in type: ${show(lhs)} and ${show(rhs)}`);
    return undefined;
  }
  return {
    name: decl.name.text,
    span: decl.span,
    params,
    ...(bounds.size === 0 ? {} : { bounds: Object.fromEntries(bounds) }),
    ...(when === undefined ? {} : { when }),
    lhs,
    rhs,
  };
}

type Comparison = '<' | '<=' | '>' | '>=' | '==';
const FLIPPED: Readonly<Record<Comparison, Comparison>> = { '<': '>', '<=': '>=', '>': '<', '>=': '<=', '==': '==' };

/** `N >= 2` (or `2 <= N`) on a dimension symbol: the symbol, the comparison and the int, else undefined. */
function boundOf(e: A.Expr, symbols: ReadonlySet<string>): { name: string; op: Comparison; value: number } | undefined {
  if (e.kind !== 'binary' || !(e.op in FLIPPED)) return undefined;
  const op = e.op as Comparison;
  if (e.left.kind === 'name' && e.right.kind === 'number' && e.right.isInt && symbols.has(e.left.name))
    return { name: e.left.name, op, value: e.right.value };
  if (e.right.kind === 'name' && e.left.kind === 'number' && e.left.isInt && symbols.has(e.right.name))
    return { name: e.right.name, op: FLIPPED[op], value: e.left.value };
  return undefined;
}

/**
 * Moves the conjuncts of `e` that bound a dimension symbol into `bounds` (a symbol is at least 1); returns the rest of
 * the condition, or undefined when nothing is left.
 */
function takeBounds(
  e: A.Expr,
  symbols: ReadonlySet<string>,
  bounds: Map<string, { min: number; max?: number }>,
): A.Expr | undefined {
  if (e.kind === 'binary' && e.op === 'and') {
    const l = takeBounds(e.left, symbols, bounds);
    const r = takeBounds(e.right, symbols, bounds);
    return l === undefined ? r : r === undefined ? l : { ...e, left: l, right: r };
  }
  const b = boundOf(e, symbols);
  if (b === undefined) return e;
  const known = bounds.get(b.name) ?? { min: 1 };
  let { min, max } = known;
  if (b.op === '>' || b.op === '>=' || b.op === '==') min = Math.max(min, b.op === '>' ? b.value + 1 : b.value);
  if (b.op === '<' || b.op === '<=' || b.op === '==') {
    const upper = b.op === '<' ? b.value - 1 : b.value;
    max = max === undefined ? upper : Math.min(max, upper);
  }
  bounds.set(b.name, max === undefined ? { min } : { min, max });
  return undefined;
}
