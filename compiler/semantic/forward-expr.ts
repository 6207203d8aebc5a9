/**
 * Typing forward expressions. A forward expression is a tensor (a typed `TExpr` node), a compile-time constant
 * (folded), a dimension (`B`, `B * N`), a list (shapes, tensors to concat) or a submodule. Operators desugar to
 * builtins (`+` add, `@` matmul, ...); calls go to builtins (`builtins.ts`), to submodules (their forward, by
 * unification) or to compile-time functions on constants.
 */
import { didYouMean } from '../diagnostics/diagnostic.js';
import type { Span } from '../source/source.js';
import type * as A from '../syntax/ast.js';
import { type Dim, dim, divDim, DTYPES, type DType, mulDim, type TensorType, typeToString } from '../types/shape.js';
import { bindArgs } from './args.js';
import { BUILTIN_NAMES, BUILTINS, type BuiltinName, isBuiltin } from './builtins.js';
import { type Ctx, describeValue, isNumber, type Value } from './context.js';
import {
  type Attr,
  type IndexAxis,
  isTupleType,
  type ModuleInstance,
  type TExpr,
  type TypedLet,
} from './elaborated.js';
import { callConstFunction, foldBinary, isConstFunction } from './evaluate.js';
import { checkInstanceForward } from './forward.js';
import type { FileScope } from './scope.js';
import { addDims, isError } from './shape-rules.js';
import { newBindings, substituteType, unify } from './unify.js';

/** A forward expression's meaning. */
export type FVal =
  | { readonly kind: 'tensor'; readonly expr: TExpr }
  | { readonly kind: 'value'; readonly value: Value }
  | { readonly kind: 'dim'; readonly dim: Dim }
  | { readonly kind: 'list'; readonly items: readonly FVal[] }
  | { readonly kind: 'instance'; readonly instance: ModuleInstance }
  | { readonly kind: 'sequence'; readonly instances: readonly ModuleInstance[] };

/** Names visible in a forward body. */
export interface FEnv {
  readonly ctx: Ctx;
  readonly inst: ModuleInstance;
  readonly scope: FileScope;
  readonly consts: Map<string, Value>;
  readonly symbols: Map<string, Dim>;
  readonly locals: Map<string, FVal>;
  readonly lets: TypedLet[];
}

const OPS: Partial<Record<A.BinaryOp, BuiltinName>> = {
  '+': 'add',
  '-': 'sub',
  '*': 'mul',
  '/': 'div',
  '@': 'matmul',
  '==': 'eq',
  '!=': 'ne',
  '<': 'lt',
  '<=': 'le',
  '>': 'gt',
  '>=': 'ge',
};

/** Reports a diagnostic; the result is always undefined, typed as whatever the caller returns. */
// eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters -- T is the caller's result type, so `return err(...)` is a value, not a void call
function err<T>(
  env: FEnv,
  code: Parameters<Ctx['diags']['error']>[0],
  span: Span,
  message: string,
  notes: { message: string }[] = [],
): T | undefined {
  env.ctx.diags.error(code, span, message, notes);
  return undefined;
}

function describeF(v: FVal): string {
  switch (v.kind) {
    case 'tensor':
      return isTupleType(v.expr.type) ? 'a tuple of tensors' : `a tensor ${typeToString(v.expr.type)}`;
    case 'value':
      return describeValue(v.value);
    case 'dim':
      return 'a dimension';
    case 'list':
      return 'a list';
    case 'instance':
      return `the submodule ${v.instance.module}`;
    case 'sequence':
      return 'a repetition of submodules';
  }
}

/** The value as a dimension (an int > 0 or a symbolic dim), or undefined after reporting. */
export function dimOf(env: FEnv, v: FVal, span: Span): Dim | undefined {
  if (v.kind === 'dim') return v.dim;
  if (v.kind === 'value' && v.value.kind === 'int' && v.value.value > 0) return dim(v.value.value);
  return err(env, 'VT3010', span, `a dimension must be a positive int or a dimension symbol, got ${describeF(v)}`);
}

/** The value as a tensor node; a number becomes a scalar constant of dtype `like` (f32 by default). */
export function tensorOf(env: FEnv, v: FVal, span: Span, allowTuple = false, like: DType = 'f32'): TExpr | undefined {
  if (v.kind === 'tensor') {
    if (!allowTuple && isTupleType(v.expr.type))
      return err(env, 'VT3001', span, 'expected a tensor, got a tuple (destructure it with let (a, b) = ...)');
    return v.expr;
  }
  if (v.kind === 'value' && isNumber(v.value)) {
    const dtype: DType = v.value.kind === 'float' && (like === 'i32' || like === 'u32') ? 'f32' : like;
    return { kind: 'const', value: v.value.value, type: { dtype, shape: [] }, span };
  }
  if (allowTuple && v.kind === 'list') {
    const items = v.items.map((i) => tensorOf(env, i, span));
    if (items.some((i) => i === undefined)) return undefined;
    const ts = items as TExpr[];
    return { kind: 'tuple', items: ts, type: { tuple: ts.map((t) => t.type as TensorType) }, span };
  }
  return err(env, v.kind === 'dim' ? 'VT3011' : 'VT3001', span, `expected a tensor, got ${describeF(v)}`);
}

function tensorType(e: TExpr): TensorType {
  return isTupleType(e.type) ? { dtype: 'f32', shape: [] } : e.type;
}

function lookupName(env: FEnv, name: string, span: Span): FVal | undefined {
  const local = env.locals.get(name);
  if (local !== undefined) return local;
  const c = env.consts.get(name);
  if (c !== undefined) return { kind: 'value', value: c };
  const p = env.inst.parameters.find((q) => q.name === name);
  if (p !== undefined) return { kind: 'tensor', expr: { kind: 'param', parameter: p, type: p.type, span } };
  const child = env.inst.children.find((q) => q.name === name);
  if (child !== undefined)
    return child.kind === 'single'
      ? { kind: 'instance', instance: child.instance }
      : { kind: 'sequence', instances: child.instances };
  const s = env.symbols.get(name);
  if (s !== undefined) return { kind: 'dim', dim: s };
  const names = [
    ...env.locals.keys(),
    ...env.consts.keys(),
    ...env.inst.parameters.map((q) => q.name),
    ...env.inst.children.map((q) => q.name),
    ...env.symbols.keys(),
    ...BUILTIN_NAMES,
  ];
  return err(env, 'VT2001', span, `unknown name '${name}'`, didYouMean(name, names));
}

/** Applies a builtin to already-typed tensor operands (operators). */
function applyOp(env: FEnv, op: BuiltinName, a: TExpr, b: TExpr, span: Span): FVal | undefined {
  const spec = BUILTINS[op];
  const r = spec.infer({
    tensors: new Map([
      ['a', tensorType(a)],
      ['b', tensorType(b)],
    ]),
    lists: new Map(),
    attrs: {},
  });
  if (isError(r)) return err(env, r.code, span, r.message);
  return { kind: 'tensor', expr: { kind: 'builtin', op, args: [a, b], attrs: {}, type: r.type, span } };
}

function checkBinary(env: FEnv, e: Extract<A.Expr, { kind: 'binary' }>): FVal | undefined {
  const l = checkExpr(env, e.left);
  const r = checkExpr(env, e.right);
  if (l === undefined || r === undefined) return undefined;
  if (l.kind === 'value' && r.kind === 'value') {
    const v = foldBinary(e.op, l.value, r.value);
    return typeof v === 'string'
      ? err(env, v === 'division by zero' ? 'VT3010' : 'VT3001', e.span, v)
      : { kind: 'value', value: v };
  }
  if ((l.kind === 'dim' || l.kind === 'value') && (r.kind === 'dim' || r.kind === 'value')) {
    const a = dimOf(env, l, e.left.span);
    const b = dimOf(env, r, e.right.span);
    if (a === undefined || b === undefined) return undefined;
    const d = e.op === '*' ? mulDim(a, b) : e.op === '/' ? divDim(a, b) : e.op === '+' ? addDims(a, b) : undefined;
    return d === undefined
      ? err(env, 'VT3015', e.span, `'${e.op}' on these dimensions does not give a dimension vitm can express`)
      : { kind: 'dim', dim: d };
  }
  const op = OPS[e.op];
  if (op === undefined) return err(env, 'VT3001', e.span, `'${e.op}' does not apply to tensors`);
  const lt = l.kind === 'tensor' ? tensorOf(env, l, e.left.span) : undefined;
  const rt = r.kind === 'tensor' ? tensorOf(env, r, e.right.span) : undefined;
  const a = lt ?? tensorOf(env, l, e.left.span, false, rt === undefined ? 'f32' : tensorType(rt).dtype);
  const b = rt ?? tensorOf(env, r, e.right.span, false, lt === undefined ? 'f32' : tensorType(lt).dtype);
  if (a === undefined || b === undefined) return undefined;
  return applyOp(env, op, a, b, e.span);
}

function attrOf(env: FEnv, kind: string, v: FVal, span: Span, e: A.Expr): Attr | undefined {
  const bad = (want: string): Attr | undefined =>
    err(env, v.kind === 'tensor' ? 'VT3011' : 'VT3001', span, `expected ${want}, got ${describeF(v)}`);
  switch (kind) {
    case 'int':
      return v.kind === 'value' && v.value.kind === 'int' ? v.value : bad('an int');
    case 'float':
      return v.kind === 'value' && isNumber(v.value) ? { kind: 'float', value: v.value.value } : bad('a number');
    case 'bool':
      return v.kind === 'value' && v.value.kind === 'bool' ? v.value : bad('a bool');
    case 'string':
      return v.kind === 'value' && v.value.kind === 'string' ? v.value : bad('a string');
    case 'ints': {
      if (v.kind === 'value' && v.value.kind === 'int') return v.value;
      const items = v.kind === 'value' && v.value.kind === 'list' ? v.value.items : undefined;
      return items?.every((i) => i.kind === 'int') === true ? { kind: 'list', items } : bad('an int or a list of ints');
    }
    case 'shape': {
      const items: readonly FVal[] | undefined =
        v.kind === 'list'
          ? v.items
          : v.kind === 'value' && v.value.kind === 'list'
            ? v.value.items.map((value) => ({ kind: 'value', value }))
            : undefined;
      if (items === undefined) return bad('a shape such as [B, N, 64]');
      const shape: Dim[] = [];
      for (const i of items) {
        if (i.kind === 'value' && i.value.kind === 'int' && i.value.value === -1) shape.push({ coeff: 0, syms: [] });
        else {
          const d = dimOf(env, i, span);
          if (d === undefined) return undefined;
          shape.push(d);
        }
      }
      if (shape.filter((d) => d.coeff === 0).length > 1)
        return err(env, 'VT3006', span, 'a shape may contain -1 only once');
      return { kind: 'shape', shape };
    }
    case 'dtype':
      return e.kind === 'name' && (DTYPES as readonly string[]).includes(e.name)
        ? { kind: 'dtype', dtype: e.name as DType }
        : err(env, 'VT3013', span, `expected a dtype (${DTYPES.join(', ')})`);
    default:
      return bad(kind);
  }
}

function callBuiltin(env: FEnv, name: BuiltinName, args: readonly A.Arg[], span: Span): FVal | undefined {
  const spec = BUILTINS[name];
  const variadic = spec.params.find((p) => p.variadic === true);
  const tensors = new Map<string, TensorType>();
  const lists = new Map<string, TensorType[]>();
  const attrs: Record<string, Attr> = {};
  const operands: TExpr[] = [];
  const argSpans = new Map<string, Span>();
  let bound: Map<string, A.Arg | A.Arg[]> | undefined;
  if (variadic !== undefined) bound = new Map([[variadic.name, [...args]]]);
  else
    bound = bindArgs(
      env.ctx.diags,
      spec.params.map((p) => ({ name: p.name, optional: p.default !== undefined })),
      args,
      span,
      name,
    );
  if (bound === undefined) return undefined;
  for (const p of spec.params) {
    const given = bound.get(p.name);
    if (given === undefined) {
      if (p.default !== undefined) attrs[p.name] = p.default;
      continue;
    }
    const list = Array.isArray(given) ? given : [given];
    argSpans.set(p.name, list[0]?.span ?? span);
    if (p.kind === 'tensor' || p.kind === 'tensors') {
      const vals = list.map((a) => checkExpr(env, a.value));
      if (vals.some((v) => v === undefined)) return undefined;
      const flat: [FVal, Span][] = [];
      vals.forEach((v, i) => {
        const s = (list[i] as A.Arg).span;
        if (p.kind === 'tensors' && !Array.isArray(given) && v?.kind === 'list')
          v.items.forEach((it) => flat.push([it, s]));
        else flat.push([v as FVal, s]);
      });
      const ts = flat.map(([v, s]) => tensorOf(env, v, s));
      if (ts.some((t) => t === undefined)) return undefined;
      operands.push(...(ts as TExpr[]));
      if (p.kind === 'tensor') tensors.set(p.name, tensorType(ts[0] as TExpr));
      else lists.set(p.name, (ts as TExpr[]).map(tensorType));
      continue;
    }
    const a = list[0] as A.Arg;
    const v =
      p.kind === 'dtype' ? ({ kind: 'value', value: { kind: 'string', value: '' } } as FVal) : checkExpr(env, a.value);
    if (v === undefined) return undefined;
    const attr = attrOf(env, p.kind, v, a.value.span, a.value);
    if (attr === undefined) return undefined;
    attrs[p.name] = attr;
  }
  const r = spec.infer({ tensors, lists, attrs });
  if (isError(r))
    return err(env, r.code, r.at === undefined ? span : (argSpans.get(r.at) ?? span), `${name}: ${r.message}`);
  return { kind: 'tensor', expr: { kind: 'builtin', op: name, args: operands, attrs, type: r.type, span } };
}

/** Calls a submodule's forward on typed arguments. */
export function callInstance(
  env: FEnv,
  inst: ModuleInstance,
  args: readonly A.Arg[],
  span: Span,
  input?: TExpr,
): FVal | undefined {
  if (!checkInstanceForward(env.ctx, inst)) return undefined;
  const fwd = inst.forward;
  if (fwd === undefined) return err(env, 'VT2012', span, `${inst.module} has no forward, so it cannot be called`);
  let typed: { expr: TExpr; span: Span }[];
  if (input !== undefined) typed = [{ expr: input, span }];
  else {
    const bound = bindArgs(
      env.ctx.diags,
      fwd.inputs.map((i) => ({ name: i.name, optional: false })),
      args,
      span,
      `${inst.module}'s forward`,
    );
    if (bound === undefined) return undefined;
    typed = [];
    for (const i of fwd.inputs) {
      const a = bound.get(i.name) as A.Arg;
      const v = checkExpr(env, a.value);
      const t = v === undefined ? undefined : tensorOf(env, v, a.value.span);
      if (t === undefined) return undefined;
      typed.push({ expr: t, span: a.value.span });
    }
  }
  if (typed.length !== fwd.inputs.length)
    return err(env, 'VT2006', span, `${inst.module}'s forward takes ${fwd.inputs.length} inputs`);
  const b = newBindings();
  const symbols = new Set(fwd.symbols);
  for (const [i, inp] of fwd.inputs.entries()) {
    const a = typed[i] as { expr: TExpr; span: Span };
    if (!unify(inp.type, tensorType(a.expr), b, symbols)) {
      return err(
        env,
        'VT3016',
        a.span,
        `${inst.module} expects ${typeToString(inp.type)} for '${inp.name}', got ${typeToString(tensorType(a.expr))}`,
      );
    }
  }
  const type = substituteType(fwd.type, b);
  return { kind: 'tensor', expr: { kind: 'call', instance: inst, args: typed.map((t) => t.expr), type, span } };
}

function checkCall(env: FEnv, e: Extract<A.Expr, { kind: 'call' }>): FVal | undefined {
  const c = e.callee;
  if (c.kind === 'name' && !env.locals.has(c.name) && !env.inst.children.some((q) => q.name === c.name)) {
    if (isBuiltin(c.name)) return callBuiltin(env, c.name, e.args, e.span);
    if (isConstFunction(c.name)) {
      const vals = e.args.map((a) => checkExpr(env, a.value));
      if (vals.some((v) => v === undefined)) return undefined;
      if (vals.every((v) => v?.kind === 'value')) {
        const r = callConstFunction(
          env.ctx,
          c.name,
          vals.map((v) => (v as { value: Value }).value),
          e.span,
        );
        return r === undefined ? undefined : { kind: 'value', value: r };
      }
      return err(
        env,
        'VT3011',
        e.span,
        `${c.name} is a compile-time function of numbers; for tensors use the builtins`,
      );
    }
  }
  const callee = checkExpr(env, c);
  if (callee === undefined) return undefined;
  if (callee.kind === 'instance') return callInstance(env, callee.instance, e.args, e.span);
  if (callee.kind === 'sequence') {
    const [only] = e.args;
    if (e.args.length !== 1 || only === undefined)
      return err(env, 'VT2006', e.span, 'a repetition is called with one input, passed through each copy in turn');
    const v = checkExpr(env, only.value);
    let x = v === undefined ? undefined : tensorOf(env, v, only.value.span);
    for (const inst of callee.instances) {
      if (x === undefined) return undefined;
      const r = callInstance(env, inst, [], e.span, x);
      x = r?.kind === 'tensor' ? r.expr : undefined;
    }
    return x === undefined ? undefined : { kind: 'tensor', expr: x };
  }
  return err(env, 'VT2010', c.span, `${describeF(callee)} cannot be called`);
}

function constInt(env: FEnv, e: A.Expr | undefined, fallback: number): number | undefined {
  if (e === undefined) return fallback;
  const v = checkExpr(env, e);
  if (v === undefined) return undefined;
  if (v.kind === 'value' && v.value.kind === 'int') return v.value.value;
  return err(
    env,
    v.kind === 'tensor' ? 'VT3011' : 'VT3001',
    e.span,
    `an index must be a compile-time int, got ${describeF(v)} (use gather for tensor indices)`,
  );
}

function checkIndex(env: FEnv, e: Extract<A.Expr, { kind: 'index' }>): FVal | undefined {
  const target = checkExpr(env, e.target);
  if (target === undefined) return undefined;
  const first = e.items[0];
  if (
    target.kind === 'sequence' ||
    (target.kind === 'tensor' && isTupleType(target.expr.type)) ||
    target.kind === 'list'
  ) {
    if (e.items.length !== 1 || first?.kind !== 'at')
      return err(env, 'VT3001', e.span, `${describeF(target)} is indexed by one int`);
    const i = constInt(env, first.index, 0);
    if (i === undefined) return undefined;
    const n =
      target.kind === 'sequence'
        ? target.instances.length
        : target.kind === 'list'
          ? target.items.length
          : (target.expr.type as { tuple: unknown[] }).tuple.length;
    const at = i < 0 ? i + n : i;
    if (at < 0 || at >= n) return err(env, 'VT3005', first.span, `index ${i} is out of range for ${n} elements`);
    if (target.kind === 'sequence') return { kind: 'instance', instance: target.instances[at] as ModuleInstance };
    if (target.kind === 'list') return target.items[at];
    const type = (target.expr.type as { tuple: readonly TensorType[] }).tuple[at] as TensorType;
    return { kind: 'tensor', expr: { kind: 'project', tuple: target.expr, element: at, type, span: e.span } };
  }
  const x = tensorOf(env, target, e.target.span);
  if (x === undefined) return undefined;
  const shape = tensorType(x).shape;
  if (e.items.length > shape.length)
    return err(env, 'VT3005', e.span, `${e.items.length} indices for a tensor of rank ${shape.length}`);
  const axes: IndexAxis[] = [];
  const out: Dim[] = [];
  for (const [k, item] of e.items.entries()) {
    const d = shape[k] as Dim;
    if (item.kind === 'star')
      return err(env, 'VT3001', item.span, '`*` selects in edit paths; in a forward body use `:` for a whole axis');
    if (item.kind === 'slice' && item.start === undefined && item.stop === undefined && item.step === undefined) {
      axes.push({ kind: 'all' });
      out.push(d);
      continue;
    }
    if (d.syms.length > 0)
      return err(
        env,
        'VT3015',
        item.span,
        `cannot index the symbolic axis ${typeToString({ dtype: 'f32', shape: [d] }).slice(3)}`,
      );
    const n = d.coeff;
    if (item.kind === 'at') {
      const i = constInt(env, item.index, 0);
      if (i === undefined) return undefined;
      if (i < -n || i >= n) return err(env, 'VT3005', item.span, `index ${i} is out of range for an axis of size ${n}`);
      axes.push({ kind: 'at', index: i < 0 ? i + n : i });
      continue;
    }
    const step = constInt(env, item.step, 1);
    const rawStart = constInt(env, item.start, 0);
    const rawStop = constInt(env, item.stop, n);
    if (step === undefined || rawStart === undefined || rawStop === undefined) return undefined;
    const start = Math.min(n, rawStart < 0 ? rawStart + n : rawStart);
    const stop = Math.min(n, rawStop < 0 ? rawStop + n : rawStop);
    if (step <= 0 || start < 0 || stop <= start)
      return err(
        env,
        'VT3005',
        item.span,
        `the slice ${start}:${stop}:${step} is empty or invalid for an axis of size ${n}`,
      );
    axes.push({ kind: 'range', start, stop, step });
    out.push(dim(Math.ceil((stop - start) / step)));
  }
  const type: TensorType = { dtype: tensorType(x).dtype, shape: [...out, ...shape.slice(e.items.length)] };
  return { kind: 'tensor', expr: { kind: 'index', target: x, axes, type, span: e.span } };
}

/** Types one forward expression. */
export function checkExpr(env: FEnv, e: A.Expr): FVal | undefined {
  switch (e.kind) {
    case 'number':
      return { kind: 'value', value: e.isInt ? { kind: 'int', value: e.value } : { kind: 'float', value: e.value } };
    case 'string':
      return { kind: 'value', value: { kind: 'string', value: e.value } };
    case 'bool':
      return { kind: 'value', value: { kind: 'bool', value: e.value } };
    case 'name':
      return lookupName(env, e.name, e.span);
    case 'it':
      return err(env, 'VT4004', e.span, '`it` exists only on the right of an edit, not in a forward body');
    case 'tuple': {
      const items = e.items.map((i) => checkExpr(env, i));
      if (items.some((i) => i === undefined)) return undefined;
      const t = tensorOf(env, { kind: 'list', items: items as FVal[] }, e.span, true);
      return t === undefined ? undefined : { kind: 'tensor', expr: t };
    }
    case 'list': {
      const items = e.items.map((i) => checkExpr(env, i));
      if (items.some((i) => i === undefined)) return undefined;
      const fs = items as FVal[];
      if (fs.every((f) => f.kind === 'value'))
        return { kind: 'value', value: { kind: 'list', items: fs.map((f) => (f as { value: Value }).value) } };
      return { kind: 'list', items: fs };
    }
    case 'repeat':
    case 'comprehension':
      return err(env, 'VT3001', e.span, 'a repetition declares submodules; it cannot appear in a forward body');
    case 'unary': {
      const v = checkExpr(env, e.operand);
      if (v === undefined) return undefined;
      if (v.kind === 'value') {
        if (e.op === 'not' && v.value.kind === 'bool')
          return { kind: 'value', value: { kind: 'bool', value: !v.value.value } };
        if (e.op === '-' && isNumber(v.value))
          return { kind: 'value', value: { kind: v.value.kind, value: -v.value.value } };
      }
      if (e.op === '-' && v.kind === 'tensor') {
        const x = tensorOf(env, v, e.span);
        return x === undefined
          ? undefined
          : { kind: 'tensor', expr: { kind: 'builtin', op: 'neg', args: [x], attrs: {}, type: x.type, span: e.span } };
      }
      return err(env, 'VT3001', e.span, `'${e.op}' cannot apply to ${describeF(v)}`);
    }
    case 'binary':
      return checkBinary(env, e);
    case 'call':
      return checkCall(env, e);
    case 'index':
      return checkIndex(env, e);
    case 'member': {
      const t = checkExpr(env, e.target);
      if (t === undefined) return undefined;
      if (t.kind !== 'instance') return err(env, 'VT3001', e.span, `${describeF(t)} has no members`);
      const child = t.instance.children.find((q) => q.name === e.name.text);
      const param = child === undefined ? t.instance.parameters.find((q) => q.name === e.name.text) : undefined;
      if (param !== undefined)
        return { kind: 'tensor', expr: { kind: 'param', parameter: param, type: param.type, span: e.span } };
      if (child === undefined)
        return err(
          env,
          'VT2011',
          e.name.span,
          `${t.instance.module} has no submodule '${e.name.text}'`,
          didYouMean(
            e.name.text,
            t.instance.children.map((q) => q.name),
          ),
        );
      return child.kind === 'single'
        ? { kind: 'instance', instance: child.instance }
        : { kind: 'sequence', instances: child.instances };
    }
    case 'with':
      return err(
        env,
        'VT3001',
        e.span,
        'model edits (with { ... }) belong in model declarations, not in a forward body',
      );
  }
}
