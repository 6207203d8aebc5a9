/**
 * `experiment` blocks: each field is checked against a table of known fields and known optimizers, schedules,
 * losses, datasets and hooks (with their parameters), values are evaluated to constants, and path arguments of hooks
 * are resolved against the experiment's model.
 */
import { didYouMean } from '../diagnostics/diagnostic.js';
import type { Span } from '../source/source.js';
import type * as A from '../syntax/ast.js';
import { printPath } from '../syntax/print.js';
import { bindArgs } from './args.js';
import { type Ctx, describeValue, type Env, toConst, type Value } from './context.js';
import { matchPaths } from './edits.js';
import type { ConstValue, ElaboratedExperiment, ElaboratedModel, HookInvocation, Invocation } from './elaborated.js';
import { evaluate } from './evaluate.js';
import type { FileScope } from './scope.js';

type Table = Readonly<Record<string, readonly string[]>>;

/** Known callables per field, with their keyword parameters (all optional unless listed in REQUIRED). */
const OPTIMIZERS: Table = {
  sgd: ['lr', 'momentum', 'weight_decay', 'nesterov', 'no_decay'],
  adam: ['lr', 'beta1', 'beta2', 'eps', 'weight_decay', 'no_decay'],
  adamw: ['lr', 'beta1', 'beta2', 'eps', 'weight_decay', 'no_decay'],
};
const SCHEDULES: Table = {
  constant: ['warmup'],
  cosine: ['warmup', 'min_lr'],
  linear: ['start', 'end', 'steps', 'warmup'],
  step: ['every', 'gamma', 'warmup'],
};
const LOSSES: Table = { cross_entropy: ['label_smoothing'], mse: [] };
const DATASETS: Table = {
  fashion_mnist: ['split', 'classes', 'per_class', 'limit', 'transform', 'augment', 'seed'],
  mnist: ['split', 'classes', 'limit'],
  cifar10: ['split', 'limit'],
  synthetic: ['size', 'classes', 'seed', 'noise', 'split'],
};
/** Hooks take path arguments first (positional), then keyword arguments. */
const HOOKS: Table = { ewa: ['beta', 'until'], to_ffn: [] };
const EXPORTS: Table = { to_ffn: [], safetensors: ['path'] };

const FIELDS = [
  'model',
  'data',
  'eval',
  'loss',
  'optimizer',
  'schedule',
  'epochs',
  'steps',
  'batch',
  'after_step',
  'export',
  'seed',
  'clip_grad',
] as const;

/** An expression as a path pattern (`blocks[1::2].mlp`), or undefined if it is not one. */
export function exprToPath(e: A.Expr): A.Path | undefined {
  const segs: A.PathSegment[] = [];
  const walk = (x: A.Expr): boolean => {
    switch (x.kind) {
      case 'name':
        segs.push({ kind: 'name', pattern: x.name, span: x.span });
        return true;
      case 'member':
        if (!walk(x.target)) return false;
        segs.push({ kind: 'name', pattern: x.name.text, span: x.name.span });
        return true;
      case 'index': {
        if (!walk(x.target) || x.items.length !== 1) return false;
        const it = x.items[0];
        const lit = (v: A.Expr | undefined): number | undefined | false =>
          v === undefined ? undefined : v.kind === 'number' && v.isInt ? v.value : false;
        if (it?.kind === 'star') segs.push({ kind: 'index', selector: { kind: 'all' }, span: it.span });
        else if (it?.kind === 'at') {
          const n = lit(it.index);
          if (typeof n !== 'number') return false;
          segs.push({ kind: 'index', selector: { kind: 'at', index: n }, span: it.span });
        } else if (it?.kind === 'slice') {
          const [a, b, c] = [lit(it.start), lit(it.stop), lit(it.step)];
          if (a === false || b === false || c === false) return false;
          const sel: { kind: 'range'; start?: number; stop?: number; step?: number } = { kind: 'range' };
          if (a !== undefined) sel.start = a;
          if (b !== undefined) sel.stop = b;
          if (c !== undefined) sel.step = c;
          segs.push({ kind: 'index', selector: sel, span: it.span });
        } else return false;
        return true;
      }
      case 'number':
      case 'string':
      case 'bool':
      case 'it':
      case 'tuple':
      case 'list':
      case 'repeat':
      case 'comprehension':
      case 'unary':
      case 'binary':
      case 'call':
      case 'with':
        return false;
    }
  };
  return walk(e) ? { segments: segs, span: e.span } : undefined;
}

function callParts(e: A.Expr): { name: string; nameSpan: Span; args: readonly A.Arg[] } | undefined {
  if (e.kind === 'name') return { name: e.name, nameSpan: e.span, args: [] };
  if (e.kind === 'call' && e.callee.kind === 'name')
    return { name: e.callee.name, nameSpan: e.callee.span, args: e.args };
  return undefined;
}

function invocation(ctx: Ctx, env: Env, e: A.Expr, table: Table, what: string): Invocation | undefined {
  const parts = callParts(e);
  if (parts === undefined) {
    ctx.diags.error('VT5003', e.span, `expected ${what} such as ${Object.keys(table)[0] ?? ''}(...)`);
    return undefined;
  }
  const params = table[parts.name];
  if (params === undefined) {
    ctx.diags.error('VT5004', parts.nameSpan, `unknown ${what} '${parts.name}'`, [
      ...didYouMean(parts.name, Object.keys(table)),
      { message: `known: ${Object.keys(table).join(', ')}` },
    ]);
    return undefined;
  }
  const bound = bindArgs(
    ctx.diags,
    params.map((name) => ({ name, optional: true })),
    parts.args,
    e.span,
    parts.name,
  );
  if (bound === undefined) return undefined;
  const args = new Map<string, ConstValue>();
  for (const [k, a] of bound) {
    const v = evaluate(ctx, env, a.value);
    const c = v === undefined ? undefined : toConst(v);
    if (c === undefined) {
      if (v !== undefined)
        ctx.diags.error('VT5003', a.value.span, `'${k}' must be a number, bool or string, got ${describeValue(v)}`);
      return undefined;
    }
    args.set(k, c);
  }
  return { name: parts.name, args, span: e.span };
}

function hook(
  ctx: Ctx,
  env: Env,
  e: A.Expr,
  table: Table,
  model: ElaboratedModel,
  what: string,
): HookInvocation | undefined {
  const parts = callParts(e);
  const params = parts === undefined ? undefined : table[parts.name];
  if (parts === undefined || params === undefined) {
    if (parts === undefined) ctx.diags.error('VT5003', e.span, `expected ${what} call`);
    else
      ctx.diags.error('VT5004', parts.nameSpan, `unknown ${what} '${parts.name}'`, [
        ...didYouMean(parts.name, Object.keys(table)),
        { message: `known: ${Object.keys(table).join(', ')}` },
      ]);
    return undefined;
  }
  const targets: { pattern: string; matches: string[] }[] = [];
  const args = new Map<string, ConstValue>();
  const schedules = new Map<string, Invocation>();
  let okay = true;
  for (const a of parts.args) {
    if (a.name === undefined) {
      const path = exprToPath(a.value);
      if (path === undefined) {
        ctx.diags.error('VT5003', a.value.span, `${parts.name} expects module paths first, such as blocks[1::2].mlp`);
        okay = false;
        continue;
      }
      const found = matchPaths(model.root, path);
      if (found.length === 0) {
        ctx.diags.error(
          'VT4001',
          a.value.span,
          `the path matches nothing in the model ${model.name}`,
          didYouMean(
            path.segments[0]?.kind === 'name' ? path.segments[0].pattern : '',
            model.root.children.map((c) => c.name),
          ),
        );
        okay = false;
      }
      targets.push({ pattern: exprText(a), matches: found.map((f) => f.path) });
      continue;
    }
    if (!params.includes(a.name.text)) {
      ctx.diags.error(
        'VT2007',
        a.name.span,
        `${parts.name} has no parameter '${a.name.text}'`,
        didYouMean(a.name.text, params),
      );
      okay = false;
      continue;
    }
    const sched = callParts(a.value);
    if (sched !== undefined && Object.hasOwn(SCHEDULES, sched.name) && a.value.kind === 'call') {
      const positional = a.value.args.filter((x) => x.name === undefined);
      const named: A.Arg[] = a.value.args.filter((x) => x.name !== undefined);
      const names = ['start', 'end'];
      const rewritten: A.Expr = {
        ...a.value,
        args: [...positional.map((x, i) => ({ ...x, name: { text: names[i] ?? 'extra', span: x.span } })), ...named],
      };
      const inv = invocation(ctx, env, rewritten, SCHEDULES, 'schedule');
      if (inv === undefined) okay = false;
      else schedules.set(a.name.text, inv);
      continue;
    }
    const v = evaluate(ctx, env, a.value);
    const c = v === undefined ? undefined : toConst(v);
    if (c === undefined) {
      if (v !== undefined)
        ctx.diags.error(
          'VT5003',
          a.value.span,
          `'${a.name.text}' must be a constant or a schedule, got ${describeValue(v)}`,
        );
      okay = false;
      continue;
    }
    args.set(a.name.text, c);
  }
  return okay ? { name: parts.name, args, span: e.span, targets, schedules } : undefined;
}

function exprText(a: A.Arg): string {
  const p = exprToPath(a.value);
  if (p === undefined) return '';
  return printPath(p);
}

function positiveInt(ctx: Ctx, env: Env, f: A.Field): number | undefined {
  const v: Value | undefined = evaluate(ctx, env, f.value);
  if (v === undefined) return undefined;
  if (v.kind !== 'int' || v.value <= 0) {
    ctx.diags.error(
      'VT5003',
      f.value.span,
      `'${f.key.text}' must be a positive int, got ${v.kind === 'int' || v.kind === 'float' ? v.value : describeValue(v)}`,
    );
    return undefined;
  }
  return v.value;
}

/** Elaborates one experiment; undefined after reporting errors. */
export function elaborateExperiment(
  ctx: Ctx,
  decl: A.ExperimentDecl,
  scope: FileScope,
): ElaboratedExperiment | undefined {
  const env: Env = { scope, locals: new Map() };
  const fields = new Map<string, A.Field>();
  let okay = true;
  for (const f of decl.fields) {
    if (!(FIELDS as readonly string[]).includes(f.key.text)) {
      ctx.diags.error('VT5001', f.key.span, `experiments have no field '${f.key.text}'`, [
        ...didYouMean(f.key.text, FIELDS),
        { message: `fields: ${FIELDS.join(', ')}` },
      ]);
      okay = false;
      continue;
    }
    if (fields.has(f.key.text)) {
      ctx.diags.error('VT5005', f.key.span, `the field '${f.key.text}' is given twice`, [
        { message: 'first given here', span: fields.get(f.key.text)?.key.span ?? f.key.span },
      ]);
      okay = false;
      continue;
    }
    if (f.as !== undefined && f.key.text !== 'export') {
      ctx.diags.error('VT5003', f.as.span, '`as Model` belongs only to the export field');
      okay = false;
    }
    fields.set(f.key.text, f);
  }
  for (const required of ['model', 'loss', 'optimizer', 'batch'] as const) {
    if (!fields.has(required)) {
      ctx.diags.error('VT5002', decl.name.span, `the experiment ${decl.name.text} has no '${required}' field`);
      okay = false;
    }
  }
  const epochs = fields.get('epochs');
  const steps = fields.get('steps');
  if (epochs !== undefined && steps !== undefined) {
    ctx.diags.error('VT5006', steps.key.span, 'give either epochs or steps, not both');
    okay = false;
  } else if (epochs === undefined && steps === undefined) {
    ctx.diags.error('VT5002', decl.name.span, `the experiment ${decl.name.text} needs 'epochs' or 'steps'`);
    okay = false;
  }
  const modelField = fields.get('model');
  let model: ElaboratedModel | undefined;
  if (modelField !== undefined) {
    const v = evaluate(ctx, env, modelField.value);
    if (v !== undefined && v.kind !== 'model')
      ctx.diags.error(
        'VT5003',
        modelField.value.span,
        `'model' must name a model declared with \`model Name = ...\`, got ${describeValue(v)}`,
      );
    model = v?.kind === 'model' ? v.model : undefined;
  }
  const inv = (key: string, table: Table, what: string): Invocation | undefined => {
    const f = fields.get(key);
    if (f === undefined) return undefined;
    const r = invocation(ctx, env, f.value, table, what);
    if (r === undefined) okay = false;
    return r;
  };
  const data = inv('data', DATASETS, 'dataset');
  const evalSet = inv('eval', DATASETS, 'dataset');
  const loss = inv('loss', LOSSES, 'loss');
  const optimizer = inv('optimizer', OPTIMIZERS, 'optimizer');
  const schedule = inv('schedule', SCHEDULES, 'schedule');
  const lengthField = epochs ?? steps;
  const count = lengthField === undefined ? undefined : positiveInt(ctx, env, lengthField);
  const batchField = fields.get('batch');
  const batch = batchField === undefined ? undefined : positiveInt(ctx, env, batchField);
  const seed = seedOf(ctx, env, fields.get('seed'));
  if (seed === false) okay = false;
  const clip = fields.get('clip_grad');
  const clipValue = clip === undefined ? undefined : evaluate(ctx, env, clip.value);
  let clipGrad: number | undefined;
  if (clip !== undefined && clipValue !== undefined) {
    if ((clipValue.kind === 'int' || clipValue.kind === 'float') && clipValue.value > 0) clipGrad = clipValue.value;
    else {
      ctx.diags.error(
        'VT5003',
        clip.value.span,
        `'clip_grad' is the largest global gradient norm, a positive number; got ${describeValue(clipValue)}`,
      );
      okay = false;
    }
  } else if (clip !== undefined) okay = false;
  const afterStep: HookInvocation[] = [];
  const hooksField = fields.get('after_step');
  if (hooksField !== undefined && model !== undefined) {
    const items = hooksField.value.kind === 'list' ? hooksField.value.items : [hooksField.value];
    for (const h of items) {
      const r = hook(ctx, env, h, HOOKS, model, 'hook');
      if (r === undefined) okay = false;
      else afterStep.push(r);
    }
  }
  let exported: ElaboratedExperiment['export'];
  const exportField = fields.get('export');
  if (exportField !== undefined && model !== undefined) {
    const transform = hook(ctx, env, exportField.value, EXPORTS, model, 'export transform');
    if (transform === undefined) okay = false;
    const as = exportField.as;
    if (as !== undefined && scope.names.get(as.text)?.kind !== 'model') {
      ctx.diags.error(
        'VT2001',
        as.span,
        `unknown model '${as.text}'`,
        didYouMean(
          as.text,
          [...scope.names].filter(([, e]) => e.kind === 'model').map(([n]) => n),
        ),
      );
      okay = false;
    }
    exported = {
      ...(transform === undefined ? {} : { transform }),
      ...(as === undefined ? {} : { as: as.text }),
      span: exportField.span,
    };
  }
  if (
    !okay ||
    model === undefined ||
    loss === undefined ||
    optimizer === undefined ||
    count === undefined ||
    batch === undefined
  )
    return undefined;
  return {
    name: decl.name.text,
    span: decl.span,
    model: model.name,
    ...(data === undefined ? {} : { data }),
    ...(evalSet === undefined ? {} : { eval: evalSet }),
    loss,
    optimizer,
    ...(schedule === undefined ? {} : { schedule }),
    length: { kind: epochs !== undefined ? 'epochs' : 'steps', count },
    batch,
    ...(typeof seed === 'number' ? { seed } : {}),
    ...(clipGrad === undefined ? {} : { clipGrad }),
    afterStep,
    ...(exported === undefined ? {} : { export: exported }),
  };
}

/** The experiment's seed: undefined when not given, false after reporting an error. */
function seedOf(ctx: Ctx, env: Env, f: A.Field | undefined): number | undefined | false {
  if (f === undefined) return undefined;
  const v = evaluate(ctx, env, f.value);
  if (v === undefined) return false;
  if (v.kind !== 'int' || v.value < 0 || v.value > 0xffffffff) {
    ctx.diags.error('VT5003', f.value.span, `'seed' must be an int in 0..2^32-1, got ${describeValue(v)}`);
    return false;
  }
  return v.value;
}
