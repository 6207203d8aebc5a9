/**
 * Model editing: `base with { path = Module(..., from: it); insert blocks[3] = Block(...); freeze **; ... }`.
 * The base's instance tree is copied (sharing kept), then each edit applies in order to every node its path
 * pattern matches. A pattern that matches nothing is an error (VT4001), so a typo never silently edits nothing.
 */
import { didYouMean } from '../diagnostics/diagnostic.js';
import type * as A from '../syntax/ast.js';
import { printPath } from '../syntax/print.js';
import { type Ctx, describeValue, type Env, type Value } from './context.js';
import type { ModuleInstance, Parameter } from './elaborated.js';
import { evaluate } from './evaluate.js';

/** A deep copy of an instance tree; an instance reached twice is copied once (sharing is preserved). */
export function cloneTree(ctx: Ctx, root: ModuleInstance): ModuleInstance {
  const memo = new Map<ModuleInstance, ModuleInstance>();
  const copy = (inst: ModuleInstance): ModuleInstance => {
    const done = memo.get(inst);
    if (done !== undefined) return done;
    const out: ModuleInstance = {
      ...inst,
      id: ctx.nextId++,
      parameters: inst.parameters.map((p): Parameter => ({ ...p })),
      children: [],
      forward: undefined,
    };
    memo.set(inst, out);
    const origin = ctx.origins.get(inst);
    if (origin !== undefined) ctx.origins.set(out, origin);
    for (const c of inst.children) {
      out.children.push(
        c.kind === 'single'
          ? { kind: 'single', name: c.name, instance: copy(c.instance) }
          : { kind: 'sequence', name: c.name, instances: c.instances.map(copy) },
      );
    }
    return out;
  };
  return copy(root);
}

/** A node a path can reach: a child slot (single, or one element of a sequence), a whole sequence, or a parameter. */
type Target =
  | {
      readonly kind: 'slot';
      readonly parent: ModuleInstance;
      readonly name: string;
      readonly index?: number;
      readonly instance: ModuleInstance;
    }
  | {
      readonly kind: 'sequence';
      readonly parent: ModuleInstance;
      readonly name: string;
      readonly instances: ModuleInstance[];
    }
  | { readonly kind: 'param'; readonly parameter: Parameter };

type Step =
  | { readonly kind: 'name'; readonly name: string }
  | { readonly kind: 'index'; readonly index: number; readonly length: number };

function globToRegExp(pattern: string): RegExp {
  return new RegExp(`^${pattern.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*')}$`);
}

function selects(sel: A.IndexSelector, index: number, length: number): boolean {
  switch (sel.kind) {
    case 'all':
      return true;
    case 'at':
      return index === sel.index;
    case 'range': {
      const step = sel.step ?? 1;
      const start = sel.start ?? 0;
      const stop = sel.stop ?? length;
      return step > 0 && index >= start && index < stop && (index - start) % step === 0;
    }
  }
}

/** Does the concrete path `steps` match the pattern `segs`? (`**` matches any run of steps, including none.) */
function matches(segs: readonly A.PathSegment[], steps: readonly Step[]): boolean {
  const seg = segs[0];
  if (seg === undefined) return steps.length === 0;
  if (seg.kind === 'any') {
    for (let i = 0; i <= steps.length; i++) if (matches(segs.slice(1), steps.slice(i))) return true;
    return false;
  }
  const step = steps[0];
  if (step === undefined) return false;
  if (seg.kind === 'name')
    return step.kind === 'name' && globToRegExp(seg.pattern).test(step.name) && matches(segs.slice(1), steps.slice(1));
  return (
    step.kind === 'index' && selects(seg.selector, step.index, step.length) && matches(segs.slice(1), steps.slice(1))
  );
}

/** Every node under `root` with its path steps, in declaration order (each instance's subtree walked once). */
function enumerate(root: ModuleInstance): { steps: Step[]; target: Target }[] {
  const out: { steps: Step[]; target: Target }[] = [];
  const seen = new Set<ModuleInstance>();
  const walk = (inst: ModuleInstance, prefix: Step[]): void => {
    if (seen.has(inst)) return;
    seen.add(inst);
    for (const p of inst.parameters)
      out.push({ steps: [...prefix, { kind: 'name', name: p.name }], target: { kind: 'param', parameter: p } });
    for (const c of inst.children) {
      const at: Step[] = [...prefix, { kind: 'name', name: c.name }];
      if (c.kind === 'single') {
        out.push({ steps: at, target: { kind: 'slot', parent: inst, name: c.name, instance: c.instance } });
        walk(c.instance, at);
      } else {
        out.push({ steps: at, target: { kind: 'sequence', parent: inst, name: c.name, instances: c.instances } });
        c.instances.forEach((child, index) => {
          const el: Step[] = [...at, { kind: 'index', index, length: c.instances.length }];
          out.push({ steps: el, target: { kind: 'slot', parent: inst, name: c.name, index, instance: child } });
          walk(child, el);
        });
      }
    }
  };
  walk(root, []);
  return out;
}

/** The paths a pattern matches under `root`, as dotted strings (for hooks and exports). */
export function matchPaths(root: ModuleInstance, path: A.Path): { path: string; target: Target }[] {
  return enumerate(root)
    .filter((n) => matches(path.segments, n.steps))
    .map((n) => ({
      path: n.steps.map((s) => (s.kind === 'name' ? s.name : String(s.index))).join('.'),
      target: n.target,
    }));
}

function setTrainable(t: Target, trainable: boolean): void {
  const visit = (inst: ModuleInstance): void => {
    for (const p of inst.parameters) p.trainable = trainable;
    for (const c of inst.children) (c.kind === 'single' ? [c.instance] : c.instances).forEach(visit);
  };
  if (t.kind === 'param') t.parameter.trainable = trainable;
  else if (t.kind === 'slot') visit(t.instance);
  else t.instances.forEach(visit);
}

function nothingMatched(ctx: Ctx, root: ModuleInstance, path: A.Path): void {
  // Find the longest prefix that matches something, and suggest a name for the segment after it.
  let hint: { message: string }[] = [];
  let names = [...root.children.map((c) => c.name), ...root.parameters.map((p) => p.name)];
  for (let k = path.segments.length - 1; k >= 0; k--) {
    const seg = path.segments[k];
    const prefix: A.Path = { segments: path.segments.slice(0, k), span: path.span };
    const parents =
      k === 0 ? [root] : matchPaths(root, prefix).flatMap((m) => (m.target.kind === 'slot' ? [m.target.instance] : []));
    if (parents.length === 0) continue;
    names = [
      ...new Set(parents.flatMap((p) => [...p.children.map((c) => c.name), ...p.parameters.map((q) => q.name)])),
    ];
    if (seg?.kind === 'name' && !seg.pattern.includes('*')) hint = didYouMean(seg.pattern, names);
    break;
  }
  ctx.diags.error('VT4001', path.span, `the path '${printPath(path)}' matches nothing in ${root.module}`, [
    ...hint,
    { message: `names there: ${names.join(', ') || '(none)'}` },
  ]);
}

function replaceSlot(ctx: Ctx, env: Env, t: Target, value: A.Expr): boolean {
  if (t.kind === 'param') {
    ctx.diags.error(
      'VT4002',
      value.span,
      `the path reaches the parameter '${t.parameter.name}': only submodules can be replaced`,
    );
    return false;
  }
  const old: Value =
    t.kind === 'slot' ? { kind: 'instance', instance: t.instance } : { kind: 'sequence', instances: t.instances };
  const v = evaluate(ctx, { ...env, it: old }, value);
  if (v === undefined) return false;
  const slot = t.parent.children.findIndex((c) => c.name === t.name);
  const current = t.parent.children[slot];
  if (current === undefined) return false;
  if (t.kind === 'slot' && v.kind === 'instance') {
    if (current.kind === 'single') t.parent.children[slot] = { kind: 'single', name: t.name, instance: v.instance };
    else current.instances[t.index ?? 0] = v.instance;
    return true;
  }
  if (t.kind === 'sequence' && v.kind === 'sequence') {
    t.parent.children[slot] = { kind: 'sequence', name: t.name, instances: [...v.instances] };
    return true;
  }
  ctx.diags.error(
    'VT4002',
    value.span,
    `a replacement must be ${t.kind === 'slot' ? 'a module instance' : 'a repetition'}, got ${describeValue(v)}`,
  );
  return false;
}

function insert(ctx: Ctx, env: Env, root: ModuleInstance, e: Extract<A.Edit, { kind: 'insert' }>): boolean {
  const last = e.path.segments[e.path.segments.length - 1];
  if (last?.kind !== 'index' || last.selector.kind !== 'at') {
    ctx.diags.error(
      'VT4006',
      e.path.span,
      'insert needs a path ending in one index, such as blocks[3] (it inserts before that position)',
    );
    return false;
  }
  const seqPath: A.Path = { segments: e.path.segments.slice(0, -1), span: e.path.span };
  const seqs = matchPaths(root, seqPath).filter((m) => m.target.kind === 'sequence');
  if (seqs.length === 0) {
    ctx.diags.error(
      'VT4006',
      e.path.span,
      `'${printPath(seqPath)}' is not a repetition (insert adds an element to one)`,
    );
    return false;
  }
  for (const s of seqs) {
    const t = s.target as Extract<Target, { kind: 'sequence' }>;
    const at = last.selector.index;
    if (at < 0 || at > t.instances.length) {
      ctx.diags.error('VT4006', last.span, `position ${at} is outside 0..${t.instances.length} for '${s.path}'`);
      return false;
    }
    const v = evaluate(ctx, env, e.value);
    if (v === undefined) return false;
    if (v.kind !== 'instance') {
      ctx.diags.error('VT4002', e.value.span, `an inserted element must be a module instance, got ${describeValue(v)}`);
      return false;
    }
    t.instances.splice(at, 0, v.instance);
  }
  return true;
}

/** Applies `edits` to a copy of `root`; undefined after reporting an error. */
export function applyEdits(
  ctx: Ctx,
  env: Env,
  root: ModuleInstance,
  edits: readonly A.Edit[],
): ModuleInstance | undefined {
  const tree = cloneTree(ctx, root);
  let okay = true;
  for (const e of edits) {
    switch (e.kind) {
      case 'set': {
        const found = matchPaths(tree, e.path);
        if (found.length === 0) {
          nothingMatched(ctx, tree, e.path);
          okay = false;
        }
        for (const m of found) if (!replaceSlot(ctx, env, m.target, e.value)) okay = false;
        break;
      }
      case 'insert':
        if (!insert(ctx, env, tree, e)) okay = false;
        break;
      case 'freeze':
      case 'unfreeze':
        for (const p of e.paths) {
          const found = matchPaths(tree, p);
          if (found.length === 0) {
            nothingMatched(ctx, tree, p);
            okay = false;
          }
          for (const m of found) setTrainable(m.target, e.kind === 'unfreeze');
        }
        break;
    }
  }
  return okay ? tree : undefined;
}
