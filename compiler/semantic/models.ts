/**
 * `model` declarations: evaluate the expression to an instance tree (a module call, an edit of another model, or a
 * weight-space combination), then finalise: assign canonical paths, check every forward, and list the parameters.
 */
import type * as A from '../syntax/ast.js';
import { type Ctx, describeValue, type Env, type Value } from './context.js';
import { cloneTree } from './edits.js';
import type { ElaboratedModel, ModelDerivation, ModuleInstance, ParameterEntry } from './elaborated.js';
import { evaluate } from './evaluate.js';
import { checkInstanceForward } from './forward.js';
import type { FileScope } from './scope.js';

/** Assigns canonical paths (first reached in declaration order) and collects one entry per distinct parameter. */
export function finalize(root: ModuleInstance): ParameterEntry[] {
  const entries = new Map<object, { parameter: ParameterEntry['parameter']; uses: string[] }>();
  const seen = new Set<ModuleInstance>();
  const walk = (inst: ModuleInstance, path: string): void => {
    const first = !seen.has(inst);
    if (first) {
      seen.add(inst);
      inst.path = path;
    }
    for (const p of inst.parameters) {
      const full = path === '' ? p.name : `${path}.${p.name}`;
      const e = entries.get(p);
      if (e === undefined) {
        p.path = full;
        entries.set(p, { parameter: p, uses: [full] });
      } else if (!e.uses.includes(full)) e.uses.push(full);
    }
    for (const c of inst.children) {
      const at = path === '' ? c.name : `${path}.${c.name}`;
      if (c.kind === 'single') walk(c.instance, at);
      else
        c.instances.forEach((child, i) => {
          walk(child, `${at}.${i}`);
        });
    }
  };
  walk(root, '');
  return [...entries.values()];
}

/** Every distinct instance of a tree. */
export function instancesOf(root: ModuleInstance): ModuleInstance[] {
  const out: ModuleInstance[] = [];
  const seen = new Set<ModuleInstance>();
  const walk = (inst: ModuleInstance): void => {
    if (seen.has(inst)) return;
    seen.add(inst);
    out.push(inst);
    for (const c of inst.children) (c.kind === 'single' ? [c.instance] : c.instances).forEach(walk);
  };
  walk(root);
  return out;
}

/** Elaborates one `model` declaration (memoised; a model defined through itself is VT2013). */
export function elaborateModel(ctx: Ctx, decl: A.ModelDecl, scope: FileScope): ElaboratedModel | undefined {
  const state = ctx.models.get(decl);
  if (state === 'pending') {
    ctx.diags.error('VT2013', decl.name.span, `the model ${decl.name.text} is defined in terms of itself`);
    ctx.models.set(decl, 'failed');
    return undefined;
  }
  if (state === 'failed') return undefined;
  if (state !== undefined) return state;
  ctx.models.set(decl, 'pending');
  const env: Env = { scope, locals: new Map() };
  const v = evaluate(ctx, env, decl.value);
  const model = v === undefined ? undefined : toModel(ctx, decl, v);
  if (ctx.models.get(decl) === 'failed') return undefined;
  ctx.models.set(decl, model ?? 'failed');
  return model;
}

function toModel(ctx: Ctx, decl: A.ModelDecl, v: Value): ElaboratedModel | undefined {
  let root: ModuleInstance;
  let derivation: ModelDerivation;
  switch (v.kind) {
    case 'instance':
      root = cloneTree(ctx, v.instance);
      derivation = v.base === undefined ? { kind: 'instance' } : { kind: 'edited', base: v.base };
      break;
    case 'model':
      root = cloneTree(ctx, v.model.root);
      derivation = { kind: 'edited', base: v.name };
      break;
    case 'combo': {
      const first = v.terms[0];
      if (first === undefined) return undefined;
      root = cloneTree(ctx, first.model.root);
      derivation = { kind: 'merge', terms: v.terms.map((t) => ({ model: t.name, coefficient: t.coefficient })) };
      break;
    }
    case 'int':
    case 'float':
    case 'bool':
    case 'string':
    case 'list':
    case 'sequence':
    case 'init':
    case 'module':
      ctx.diags.error(
        'VT3001',
        decl.value.span,
        `a model must be a module instance, an edited model or a combination of models, got ${describeValue(v)}`,
      );
      return undefined;
  }
  const parameters = finalize(root);
  let okay = true;
  for (const inst of instancesOf(root)) if (!checkInstanceForward(ctx, inst)) okay = false;
  if (!okay) return undefined;
  return { name: decl.name.text, span: decl.span, root, parameters, derivation };
}
