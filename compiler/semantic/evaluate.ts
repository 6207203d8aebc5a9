/**
 * Compile-time evaluation: hyperparameter arithmetic, module instantiation calls, initializers, model expressions
 * (`with` edits, weight-space arithmetic). Errors are reported and give `undefined`; evaluation carries on.
 */
import { closest, didYouMean } from '../diagnostics/diagnostic.js';
import type { Span } from '../source/source.js';
import type * as A from '../syntax/ast.js';
import { bindArgs } from './args.js';
import { type Ctx, describeValue, type Env, isNumber, type Value } from './context.js';
import { applyEdits } from './edits.js';
import type { Initializer } from './elaborated.js';
import { instantiate } from './instantiate.js';
import { combine, scaleCombo, toCombo } from './merge.js';
import { elaborateModel } from './models.js';

/** Compile-time functions on numbers, callable in hyperparameter expressions. */
const CONST_FUNCTIONS: Record<string, { params: string[]; fn: (xs: number[]) => number; int?: boolean }> = {
  int: { params: ['x'], fn: ([x = 0]) => Math.trunc(x), int: true },
  float: { params: ['x'], fn: ([x = 0]) => x },
  min: { params: ['a', 'b'], fn: ([a = 0, b = 0]) => Math.min(a, b) },
  max: { params: ['a', 'b'], fn: ([a = 0, b = 0]) => Math.max(a, b) },
  pow: { params: ['a', 'b'], fn: ([a = 0, b = 0]) => a ** b },
  sqrt: { params: ['x'], fn: ([x = 0]) => Math.sqrt(x) },
  abs: { params: ['x'], fn: ([x = 0]) => Math.abs(x) },
};

/** Initializers with their parameters and defaults. */
const INITIALIZERS: Record<
  string,
  { params: [string, number | string | undefined][]; make: (a: Map<string, number | string>) => Initializer }
> = {
  zeros: { params: [], make: () => ({ kind: 'zeros' }) },
  ones: { params: [], make: () => ({ kind: 'ones' }) },
  constant: { params: [['value', undefined]], make: (a) => ({ kind: 'constant', value: Number(a.get('value')) }) },
  normal: {
    params: [
      ['mean', 0],
      ['std', 1],
    ],
    make: (a) => ({ kind: 'normal', mean: Number(a.get('mean')), std: Number(a.get('std')) }),
  },
  trunc_normal: {
    params: [
      ['mean', 0],
      ['std', 1],
      ['a', -2],
      ['b', 2],
    ],
    make: (a) => ({
      kind: 'trunc_normal',
      mean: Number(a.get('mean')),
      std: Number(a.get('std')),
      a: Number(a.get('a')),
      b: Number(a.get('b')),
    }),
  },
  kaiming_uniform: {
    params: [
      ['a', 0],
      ['mode', 'fan_in'],
    ],
    make: (a) => ({
      kind: 'kaiming_uniform',
      a: Number(a.get('a')),
      mode: a.get('mode') === 'fan_out' ? 'fan_out' : 'fan_in',
    }),
  },
  xavier_uniform: { params: [['gain', 1]], make: (a) => ({ kind: 'xavier_uniform', gain: Number(a.get('gain')) }) },
};

/** Weight-space functions over models. */
const MODEL_FUNCTIONS = ['average', 'lerp'] as const;

export function isInitializerName(name: string): boolean {
  return Object.hasOwn(INITIALIZERS, name);
}

export function isConstFunction(name: string): boolean {
  return Object.hasOwn(CONST_FUNCTIONS, name);
}

/** Every name a compile-time expression could mean, for "did you mean". */
function candidates(env: Env): string[] {
  return [
    ...env.locals.keys(),
    ...env.scope.names.keys(),
    ...Object.keys(CONST_FUNCTIONS),
    ...Object.keys(INITIALIZERS),
    ...MODEL_FUNCTIONS,
  ];
}

/** Looks a name up: locals, then the file's top-level names. */
export function lookup(ctx: Ctx, env: Env, name: string, span: Span, report = true): Value | undefined {
  const local = env.locals.get(name);
  if (local !== undefined) return local;
  const entity = env.scope.names.get(name);
  if (entity !== undefined) {
    switch (entity.kind) {
      case 'module':
        return { kind: 'module', entity };
      case 'model': {
        const model = elaborateModel(ctx, entity.decl, entity.scope);
        return model === undefined ? undefined : { kind: 'model', name, model };
      }
      case 'experiment':
      case 'law':
        if (report)
          ctx.diags.error(
            'VT3001',
            span,
            `'${name}' is ${entity.kind === 'law' ? 'a law' : 'an experiment'}, not a value`,
          );
        return undefined;
    }
  }
  if (isInitializerName(name))
    return { kind: 'init', init: (INITIALIZERS[name] as (typeof INITIALIZERS)[string]).make(defaults(name)) };
  if (report) ctx.diags.error('VT2001', span, `unknown name '${name}'`, didYouMean(name, candidates(env)));
  return undefined;
}

function defaults(name: string): Map<string, number | string> {
  const m = new Map<string, number | string>();
  for (const [k, v] of INITIALIZERS[name]?.params ?? []) if (v !== undefined) m.set(k, v);
  return m;
}

/** Folds a binary operator over two numbers or bools; undefined if the operands do not fit it. */
export function foldBinary(op: A.BinaryOp, l: Value, r: Value): Value | string {
  if (op === 'and' || op === 'or') {
    if (l.kind !== 'bool' || r.kind !== 'bool') return `'${op}' needs two bools`;
    return { kind: 'bool', value: op === 'and' ? l.value && r.value : l.value || r.value };
  }
  if (op === '==' || op === '!=') {
    if ((isNumber(l) && isNumber(r)) || (l.kind === r.kind && (l.kind === 'bool' || l.kind === 'string'))) {
      const eq = (l as { value: unknown }).value === (r as { value: unknown }).value;
      return { kind: 'bool', value: op === '==' ? eq : !eq };
    }
    return `cannot compare ${describeValue(l)} with ${describeValue(r)}`;
  }
  if (!isNumber(l) || !isNumber(r)) return `'${op}' needs numbers, got ${describeValue(l)} and ${describeValue(r)}`;
  const bothInt = l.kind === 'int' && r.kind === 'int';
  const num = (value: number, int: boolean): Value => (int ? { kind: 'int', value } : { kind: 'float', value });
  switch (op) {
    case '+':
      return num(l.value + r.value, bothInt);
    case '-':
      return num(l.value - r.value, bothInt);
    case '*':
      return num(l.value * r.value, bothInt);
    case '/':
      if (r.value === 0) return 'division by zero';
      return num(l.value / r.value, bothInt && l.value % r.value === 0);
    case '%':
      if (r.value === 0) return 'division by zero';
      return num(l.value % r.value, bothInt);
    case '<':
      return { kind: 'bool', value: l.value < r.value };
    case '<=':
      return { kind: 'bool', value: l.value <= r.value };
    case '>':
      return { kind: 'bool', value: l.value > r.value };
    case '>=':
      return { kind: 'bool', value: l.value >= r.value };
    case '@':
      return "'@' is the matrix product of tensors, not of numbers";
  }
}

/** Calls a compile-time function on evaluated numbers. */
export function callConstFunction(ctx: Ctx, name: string, args: readonly Value[], span: Span): Value | undefined {
  const f = CONST_FUNCTIONS[name];
  if (f === undefined) return undefined;
  if (args.length !== f.params.length) {
    ctx.diags.error(
      'VT2006',
      span,
      `${name} takes ${f.params.length} argument${f.params.length === 1 ? '' : 's'}, got ${args.length}`,
    );
    return undefined;
  }
  const xs: number[] = [];
  for (const a of args) {
    if (!isNumber(a)) {
      ctx.diags.error('VT3001', span, `${name} needs numbers, got ${describeValue(a)}`);
      return undefined;
    }
    xs.push(a.value);
  }
  const value = f.fn(xs);
  if (!Number.isFinite(value)) {
    ctx.diags.error('VT3010', span, `${name}(${xs.join(', ')}) is not a finite number`);
    return undefined;
  }
  const int =
    f.int === true || (name !== 'float' && name !== 'pow' && name !== 'sqrt' && args.every((a) => a.kind === 'int'));
  return int ? { kind: 'int', value } : { kind: 'float', value };
}

function evalInitializer(ctx: Ctx, env: Env, name: string, args: readonly A.Arg[], span: Span): Value | undefined {
  const spec = INITIALIZERS[name];
  if (spec === undefined) return undefined;
  const bound = bindArgs(
    ctx.diags,
    spec.params.map(([p, d]) => ({ name: p, optional: d !== undefined })),
    args,
    span,
    name,
  );
  if (bound === undefined) return undefined;
  const values = defaults(name);
  for (const [k, arg] of bound) {
    const v = evaluate(ctx, env, arg.value);
    if (v === undefined) return undefined;
    if (k === 'mode' ? v.kind !== 'string' || (v.value !== 'fan_in' && v.value !== 'fan_out') : !isNumber(v)) {
      ctx.diags.error(
        'VT3001',
        arg.value.span,
        k === 'mode'
          ? `mode must be "fan_in" or "fan_out"`
          : `${name}'s ${k} must be a number, got ${describeValue(v)}`,
      );
      return undefined;
    }
    values.set(k, (v as { value: number | string }).value);
  }
  return { kind: 'init', init: spec.make(values) };
}

function evalCall(ctx: Ctx, env: Env, e: Extract<A.Expr, { kind: 'call' }>): Value | undefined {
  if (e.callee.kind === 'name' && !env.locals.has(e.callee.name) && !env.scope.names.has(e.callee.name)) {
    const name = e.callee.name;
    if (isInitializerName(name)) return evalInitializer(ctx, env, name, e.args, e.span);
    if (name === 'average' || name === 'lerp') return evalModelFunction(ctx, env, name, e);
    if (isConstFunction(name)) {
      if (e.args.some((a) => a.name !== undefined)) {
        ctx.diags.error('VT2007', e.span, `${name} takes positional arguments only`);
        return undefined;
      }
      const args = e.args.map((a) => evaluate(ctx, env, a.value));
      if (args.some((a) => a === undefined)) return undefined;
      return callConstFunction(ctx, name, args as Value[], e.span);
    }
  }
  const callee = evaluate(ctx, env, e.callee);
  if (callee === undefined) return undefined;
  if (callee.kind === 'module') {
    const inst = instantiate(ctx, callee.entity, e.args, env, e.span);
    return inst === undefined ? undefined : { kind: 'instance', instance: inst };
  }
  ctx.diags.error('VT2010', e.callee.span, `${describeValue(callee)} cannot be called here`);
  return undefined;
}

function evalModelFunction(
  ctx: Ctx,
  env: Env,
  name: 'average' | 'lerp',
  e: Extract<A.Expr, { kind: 'call' }>,
): Value | undefined {
  const values = e.args.map((a) => evaluate(ctx, env, a.value));
  if (values.some((v) => v === undefined)) return undefined;
  const vs = values as Value[];
  if (name === 'average') {
    if (vs.length === 0) {
      ctx.diags.error('VT2006', e.span, 'average needs at least one model');
      return undefined;
    }
    let acc: Value | undefined;
    for (let i = 0; i < vs.length; i++) {
      const c = toCombo(ctx, vs[i] as Value, (e.args[i] as A.Arg).span);
      if (c === undefined) return undefined;
      const scaled = scaleCombo(c, 1 / vs.length);
      acc = acc === undefined ? scaled : combine(ctx, acc, scaled, 1, e.span);
      if (acc === undefined) return undefined;
    }
    return acc;
  }
  const [a, b, t] = vs;
  if (vs.length !== 3 || a === undefined || b === undefined || t === undefined) {
    ctx.diags.error('VT2006', e.span, 'lerp takes three arguments: lerp(a, b, t) = (1 - t) a + t b');
    return undefined;
  }
  if (!isNumber(t)) {
    ctx.diags.error('VT4005', (e.args[2] as A.Arg).span, `lerp's t must be a number, got ${describeValue(t)}`);
    return undefined;
  }
  const ca = toCombo(ctx, a, (e.args[0] as A.Arg).span);
  const cb = toCombo(ctx, b, (e.args[1] as A.Arg).span);
  if (ca === undefined || cb === undefined) return undefined;
  return combine(ctx, scaleCombo(ca, 1 - t.value), scaleCombo(cb, t.value), 1, e.span);
}

function evalBinary(ctx: Ctx, env: Env, e: Extract<A.Expr, { kind: 'binary' }>): Value | undefined {
  const l = evaluate(ctx, env, e.left);
  const r = evaluate(ctx, env, e.right);
  if (l === undefined || r === undefined) return undefined;
  const modelish = (v: Value): boolean => v.kind === 'model' || v.kind === 'combo';
  if (modelish(l) || modelish(r)) {
    if ((e.op === '+' || e.op === '-') && modelish(l) && modelish(r)) {
      const a = toCombo(ctx, l, e.left.span);
      const b = toCombo(ctx, r, e.right.span);
      return a === undefined || b === undefined ? undefined : combine(ctx, a, b, e.op === '+' ? 1 : -1, e.span);
    }
    if (e.op === '*' && isNumber(l) !== isNumber(r)) {
      const [k, m, mspan] = isNumber(l) ? [l.value, r, e.right.span] : [(r as { value: number }).value, l, e.left.span];
      const c = toCombo(ctx, m, mspan);
      return c === undefined ? undefined : scaleCombo(c, k);
    }
    if (e.op === '/' && modelish(l) && isNumber(r)) {
      const c = toCombo(ctx, l, e.left.span);
      if (r.value === 0) {
        ctx.diags.error('VT3010', e.right.span, 'division by zero');
        return undefined;
      }
      return c === undefined ? undefined : scaleCombo(c, 1 / r.value);
    }
    ctx.diags.error(
      'VT4005',
      e.span,
      `'${e.op}' is not a weight-space operation on ${describeValue(l)} and ${describeValue(r)}`,
      [{ message: 'models combine linearly: a + b, a - b, k * a, a / k, average(a, b, ...), lerp(a, b, t)' }],
    );
    return undefined;
  }
  const v = foldBinary(e.op, l, r);
  if (typeof v === 'string') {
    ctx.diags.error(v === 'division by zero' ? 'VT3010' : 'VT3001', e.span, v);
    return undefined;
  }
  return v;
}

function evalIndex(ctx: Ctx, env: Env, e: Extract<A.Expr, { kind: 'index' }>): Value | undefined {
  const target = evaluate(ctx, env, e.target);
  if (target === undefined) return undefined;
  const item = e.items[0];
  if (e.items.length !== 1 || item?.kind !== 'at' || (target.kind !== 'sequence' && target.kind !== 'list')) {
    ctx.diags.error(
      'VT3001',
      e.span,
      `cannot index ${describeValue(target)} this way at compile time (use one integer)`,
    );
    return undefined;
  }
  const i = evaluate(ctx, env, item.index);
  if (i === undefined) return undefined;
  const n = target.kind === 'sequence' ? target.instances.length : target.items.length;
  if (i.kind !== 'int' || i.value < -n || i.value >= n) {
    ctx.diags.error(
      'VT3005',
      item.span,
      `index ${i.kind === 'int' ? i.value : describeValue(i)} is out of range for ${n} elements`,
    );
    return undefined;
  }
  const at = i.value < 0 ? i.value + n : i.value;
  if (target.kind === 'list') return target.items[at];
  const inst = target.instances[at];
  return inst === undefined ? undefined : { kind: 'instance', instance: inst };
}

function evalMember(ctx: Ctx, env: Env, e: Extract<A.Expr, { kind: 'member' }>): Value | undefined {
  const target = evaluate(ctx, env, e.target);
  if (target === undefined) return undefined;
  const inst = target.kind === 'instance' ? target.instance : target.kind === 'model' ? target.model.root : undefined;
  if (inst === undefined) {
    ctx.diags.error('VT3001', e.span, `${describeValue(target)} has no members`);
    return undefined;
  }
  const slot = inst.children.find((c) => c.name === e.name.text);
  if (slot === undefined) {
    ctx.diags.error(
      'VT2011',
      e.name.span,
      `${inst.module} has no submodule '${e.name.text}'`,
      didYouMean(
        e.name.text,
        inst.children.map((c) => c.name),
      ),
    );
    return undefined;
  }
  return slot.kind === 'single'
    ? { kind: 'instance', instance: slot.instance }
    : { kind: 'sequence', instances: slot.instances };
}

/** Evaluates a compile-time expression. */
export function evaluate(ctx: Ctx, env: Env, e: A.Expr): Value | undefined {
  switch (e.kind) {
    case 'number':
      return e.isInt ? { kind: 'int', value: e.value } : { kind: 'float', value: e.value };
    case 'string':
      return { kind: 'string', value: e.value };
    case 'bool':
      return { kind: 'bool', value: e.value };
    case 'name':
      return lookup(ctx, env, e.name, e.span);
    case 'it':
      if (env.it === undefined)
        ctx.diags.error('VT4004', e.span, '`it` (the submodule being replaced) exists only on the right of an edit');
      return env.it;
    case 'tuple':
    case 'list': {
      const items = e.items.map((i) => evaluate(ctx, env, i));
      return items.every((i) => i !== undefined) ? { kind: 'list', items: items } : undefined;
    }
    case 'repeat': {
      const count = evaluate(ctx, env, e.count);
      if (count === undefined) return undefined;
      if (count.kind !== 'int' || count.value < 0 || count.value > 10_000) {
        ctx.diags.error(
          'VT3010',
          e.count.span,
          `a repetition count must be an int from 0 to 10000, got ${count.kind === 'int' ? count.value : describeValue(count)}`,
        );
        return undefined;
      }
      const items: Value[] = [];
      for (let i = 0; i < count.value; i++) {
        const v = evaluate(ctx, env, e.item);
        if (v === undefined) return undefined;
        items.push(v);
      }
      if (items.every((v) => v.kind === 'instance'))
        return { kind: 'sequence', instances: items.map((v) => v.instance) };
      return { kind: 'list', items };
    }
    case 'unary': {
      const v = evaluate(ctx, env, e.operand);
      if (v === undefined) return undefined;
      if (e.op === 'not' && v.kind === 'bool') return { kind: 'bool', value: !v.value };
      if (e.op === '-' && isNumber(v)) return { kind: v.kind, value: -v.value };
      if (e.op === '-' && (v.kind === 'model' || v.kind === 'combo')) {
        const c = toCombo(ctx, v, e.span);
        return c === undefined ? undefined : scaleCombo(c, -1);
      }
      ctx.diags.error('VT3001', e.span, `'${e.op}' cannot apply to ${describeValue(v)}`);
      return undefined;
    }
    case 'binary':
      return evalBinary(ctx, env, e);
    case 'call':
      return evalCall(ctx, env, e);
    case 'index':
      return evalIndex(ctx, env, e);
    case 'member':
      return evalMember(ctx, env, e);
    case 'with': {
      const target = evaluate(ctx, env, e.target);
      if (target === undefined) return undefined;
      const root =
        target.kind === 'instance' ? target.instance : target.kind === 'model' ? target.model.root : undefined;
      if (root === undefined) {
        ctx.diags.error(
          'VT4002',
          e.target.span,
          `only a model or a module instance can be edited, not ${describeValue(target)}`,
        );
        return undefined;
      }
      const edited = applyEdits(ctx, env, root, e.edits);
      if (edited === undefined) return undefined;
      const base = target.kind === 'model' ? target.name : target.kind === 'instance' ? target.base : undefined;
      return base === undefined ? { kind: 'instance', instance: edited } : { kind: 'instance', instance: edited, base };
    }
  }
}

/** The closest known name to `name` in `env` (for callers building their own messages). */
export function suggest(env: Env, name: string): string | undefined {
  return closest(name, candidates(env));
}
