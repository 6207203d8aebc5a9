/**
 * Module instantiation: binds hyperparameters (checking their kinds), evaluates module-level lets, checks
 * `require`s (VT3004, reported at the call with the module's message), creates parameters with concrete shapes and
 * builds submodules. Forward bodies are checked later, once the model's instance tree is final (after edits).
 */
import type { Span } from '../source/source.js';
import type * as A from '../syntax/ast.js';
import { dim, type DType, DTYPES, type TensorType } from '../types/shape.js';
import { printNumber, printString } from '../syntax/print.js';
import { bindArgs } from './args.js';
import { type Ctx, describeValue, type Env, type ModuleEntity, toConst, type Value } from './context.js';
import type { ChildSlot, ConstValue, ModuleInstance, Parameter } from './elaborated.js';
import { evaluate } from './evaluate.js';

/** Instantiations nested deeper than this are refused (a guard for runaway recursion through arguments). */
const MAX_DEPTH = 64;

const SCALAR_TYPES = ['int', 'float', 'bool', 'string'] as const;

/** Checks a hyperparameter value against its declared type; returns the (possibly converted) value. */
function checkKind(ctx: Ctx, env: Env, binder: A.Binder, v: Value, at: Span): Value | undefined {
  const t = binder.type;
  if (t.kind !== 'named') {
    ctx.diags.error(
      'VT3001',
      t.span,
      `a hyperparameter is an int, float, bool, string or module instance, not ${t.kind === 'tensor' ? 'a tensor' : 'a module call'}`,
    );
    return undefined;
  }
  const want = t.name.text;
  if ((SCALAR_TYPES as readonly string[]).includes(want)) {
    if (want === v.kind) return v;
    if (want === 'float' && v.kind === 'int') return { kind: 'float', value: v.value };
    ctx.diags.error(
      'VT3001',
      at,
      `'${binder.name.text}' must be ${want === 'int' ? 'an int' : `a ${want}`}, got ${describeValue(v)}`,
    );
    return undefined;
  }
  const entity = env.scope.names.get(want);
  if (entity?.kind !== 'module') {
    ctx.diags.error('VT2001', t.name.span, `unknown type '${want}'`, [
      { message: 'hyperparameter types: int, float, bool, string, or a module name' },
    ]);
    return undefined;
  }
  if (v.kind !== 'instance' || v.instance.module !== want) {
    ctx.diags.error('VT3001', at, `'${binder.name.text}' must be an instance of ${want}, got ${describeValue(v)}`);
    return undefined;
  }
  return v;
}

/** A tensor type with concrete dims (parameters). */
function paramType(ctx: Ctx, env: Env, t: A.TypeExpr): TensorType | undefined {
  if (t.kind !== 'tensor') {
    ctx.diags.error('VT3001', t.span, 'a parameter needs a tensor type such as f32[out, in]');
    return undefined;
  }
  if (!(DTYPES as readonly string[]).includes(t.dtype.text)) {
    ctx.diags.error('VT3013', t.dtype.span, `unknown dtype '${t.dtype.text}'`, [
      { message: `dtypes: ${DTYPES.join(', ')}` },
    ]);
    return undefined;
  }
  const shape = [];
  for (const d of t.dims) {
    if (d.kind === 'ellipsis') {
      ctx.diags.error('VT3010', d.span, 'a parameter shape must be concrete (no ...)');
      return undefined;
    }
    const v = evaluate(ctx, env, d);
    if (v === undefined) return undefined;
    if (v.kind !== 'int' || v.value <= 0) {
      ctx.diags.error(
        'VT3010',
        d.span,
        `a parameter dimension must be a positive int, got ${v.kind === 'int' || v.kind === 'float' ? v.value : describeValue(v)}`,
      );
      return undefined;
    }
    shape.push(dim(v.value));
  }
  return { dtype: t.dtype.text as DType, shape };
}

function showConst(c: ConstValue): string {
  switch (c.kind) {
    case 'int':
      return String(c.value);
    case 'float':
      return printNumber(c.value, false);
    case 'bool':
      return String(c.value);
    case 'string':
      return printString(c.value);
    case 'list':
      return `[${c.items.map(showConst).join(', ')}]`;
  }
}

/** Instantiates `entity` with call arguments evaluated in `callEnv`. */
export function instantiate(
  ctx: Ctx,
  entity: ModuleEntity,
  args: readonly A.Arg[],
  callEnv: Env,
  span: Span,
): ModuleInstance | undefined {
  const decl = entity.decl;
  if (ctx.stack.includes(decl) || ctx.stack.length >= MAX_DEPTH) {
    ctx.diags.error(
      'VT2013',
      span,
      `instantiating ${decl.name.text} here never ends: it contains itself (${[...ctx.stack, decl].map((d) => d.name.text).join(' -> ')})`,
    );
    return undefined;
  }
  const bound = bindArgs(
    ctx.diags,
    decl.params.map((p) => ({ name: p.name.text, optional: p.default !== undefined })),
    args,
    span,
    decl.name.text,
  );
  if (bound === undefined) return undefined;
  ctx.stack.push(decl);
  ctx.calls.push(span);
  try {
    return build(ctx, entity, bound, callEnv, span);
  } finally {
    ctx.stack.pop();
    ctx.calls.pop();
  }
}

function build(
  ctx: Ctx,
  entity: ModuleEntity,
  bound: Map<string, A.Arg>,
  callEnv: Env,
  span: Span,
): ModuleInstance | undefined {
  const decl = entity.decl;
  const locals = new Map<string, Value>();
  const env = (): Env => ({ scope: entity.scope, locals });
  const hyper = new Map<string, ConstValue>();
  const children: ChildSlot[] = [];
  let okay = true;
  for (const p of decl.params) {
    const arg = bound.get(p.name.text);
    const raw =
      arg !== undefined
        ? evaluate(ctx, callEnv, arg.value)
        : p.default !== undefined
          ? evaluate(ctx, env(), p.default)
          : undefined;
    const v = raw === undefined ? undefined : checkKind(ctx, env(), p, raw, arg?.value.span ?? p.span);
    if (v === undefined) {
      okay = false;
      continue;
    }
    locals.set(p.name.text, v);
    const c = toConst(v);
    if (c !== undefined) hyper.set(p.name.text, c);
    else if (v.kind === 'instance') children.push({ kind: 'single', name: p.name.text, instance: v.instance });
  }
  if (!okay) return undefined;
  const parameters: Parameter[] = [];
  for (const item of decl.items) {
    switch (item.kind) {
      case 'let': {
        const v = evaluate(ctx, env(), item.value);
        if (v === undefined) return undefined;
        if (item.tuple) {
          const items = v.kind === 'list' ? v.items : undefined;
          if (items?.length !== item.names.length) {
            ctx.diags.error(
              'VT3014',
              item.span,
              `cannot destructure ${describeValue(v)} into ${item.names.length} names`,
            );
            return undefined;
          }
          item.names.forEach((n, i) => locals.set(n.text, items[i] as Value));
        } else locals.set(item.names[0]?.text ?? '', v);
        break;
      }
      case 'require': {
        const v = evaluate(ctx, env(), item.condition);
        if (v === undefined) return undefined;
        if (v.kind !== 'bool') {
          ctx.diags.error('VT3001', item.condition.span, `a requirement must be a bool, got ${describeValue(v)}`);
          return undefined;
        }
        if (!v.value) {
          const values = [...hyper].map(([k, c]) => `${k} = ${showConst(c)}`).join(', ');
          // Point at the innermost call in the user's own code; the library calls below it become notes.
          const user = ctx.calls.map((s, i) => [s, i] as const).filter(([s]) => !ctx.library(s.file));
          const [at, depth] = user[user.length - 1] ?? [span, ctx.calls.length - 1];
          const inner = ctx.calls.slice(depth + 1).map((s) => ({ message: 'instantiated from here', span: s }));
          ctx.diags.error('VT3004', at, `${decl.name.text}: ${item.message ?? 'requirement does not hold'}`, [
            ...inner,
            { message: 'required here', span: item.condition.span },
            ...(values === '' ? [] : [{ message: `with ${values}` }]),
          ]);
          return undefined;
        }
        break;
      }
      case 'param': {
        const type = paramType(ctx, env(), item.type);
        const init = evaluate(ctx, env(), item.init);
        if (type === undefined || init === undefined) return undefined;
        if (init.kind !== 'init') {
          ctx.diags.error(
            'VT3001',
            item.init.span,
            `a parameter initializer must be zeros(), ones(), constant(v), normal(...), trunc_normal(...), kaiming_uniform(...) or xavier_uniform(...), got ${describeValue(init)}`,
          );
          return undefined;
        }
        if (locals.has(item.name.text)) {
          ctx.diags.error('VT2002', item.name.span, `'${item.name.text}' is already defined in ${decl.name.text}`);
          return undefined;
        }
        const p: Parameter = {
          name: item.name.text,
          path: item.name.text,
          type,
          init: init.init,
          trainable: !item.frozen,
          span: item.span,
        };
        parameters.push(p);
        break;
      }
      case 'submodule': {
        const v = evaluate(ctx, env(), item.value);
        if (v === undefined) return undefined;
        if (locals.has(item.name.text) || parameters.some((p) => p.name === item.name.text)) {
          ctx.diags.error('VT2002', item.name.span, `'${item.name.text}' is already defined in ${decl.name.text}`);
          return undefined;
        }
        if (v.kind === 'instance') children.push({ kind: 'single', name: item.name.text, instance: v.instance });
        else if (v.kind === 'sequence')
          children.push({ kind: 'sequence', name: item.name.text, instances: [...v.instances] });
        else {
          ctx.diags.error(
            'VT3001',
            item.value.span,
            `a submodule must be a module instance or a repetition [Module(...); n], got ${describeValue(v)}`,
            [{ message: 'for a constant, write `let name = ...`' }],
          );
          return undefined;
        }
        locals.set(item.name.text, v);
        break;
      }
      case 'forward':
        break;
    }
  }
  const consts = new Map(locals);
  const inst: ModuleInstance = {
    id: ctx.nextId++,
    module: decl.name.text,
    file: entity.scope.file,
    path: '',
    hyperparameters: hyper,
    parameters,
    children,
    forward: undefined,
    span,
    declSpan: decl.span,
  };
  ctx.origins.set(inst, { entity, consts });
  return inst;
}
