/**
 * The state of one elaboration: compile-time values, environments, and the context shared by the semantic passes
 * (diagnostics, instance ids, the instantiation stack, the models elaborated so far).
 */
import type { DiagnosticBag } from '../diagnostics/diagnostic.js';
import type { Span } from '../source/source.js';
import type * as A from '../syntax/ast.js';
import type { ConstValue, ElaboratedModel, Initializer, ModuleInstance } from './elaborated.js';
import type { Entity, FileScope } from './scope.js';

export type ModuleEntity = Extract<Entity, { kind: 'module' }>;

/** A compile-time value. */
export type Value =
  | { readonly kind: 'int'; readonly value: number }
  | { readonly kind: 'float'; readonly value: number }
  | { readonly kind: 'bool'; readonly value: boolean }
  | { readonly kind: 'string'; readonly value: string }
  | { readonly kind: 'list'; readonly items: readonly Value[] }
  /** A module instance; `base` names the model it was derived from by `with`, if any. */
  | { readonly kind: 'instance'; readonly instance: ModuleInstance; readonly base?: string }
  | { readonly kind: 'sequence'; readonly instances: readonly ModuleInstance[] }
  | { readonly kind: 'init'; readonly init: Initializer }
  | { readonly kind: 'module'; readonly entity: ModuleEntity }
  | { readonly kind: 'model'; readonly name: string; readonly model: ElaboratedModel }
  /** A weight-space linear combination of models. */
  | { readonly kind: 'combo'; readonly terms: readonly ComboTerm[] };

export interface ComboTerm {
  readonly name: string;
  readonly coefficient: number;
  readonly model: ElaboratedModel;
}

/** Where an instance came from: what its forward is checked against. */
export interface Origin {
  readonly entity: ModuleEntity;
  /** Hyperparameters and module-level lets, by name. */
  readonly consts: ReadonlyMap<string, Value>;
}

/** Names visible while evaluating an expression. */
export interface Env {
  readonly scope: FileScope;
  readonly locals: ReadonlyMap<string, Value>;
  /** The value `it` stands for inside an edit. */
  readonly it?: Value;
}

export interface Ctx {
  readonly diags: DiagnosticBag;
  nextId: number;
  /** Modules being instantiated (to catch a module that instantiates itself). */
  readonly stack: A.ModuleDecl[];
  readonly origins: WeakMap<ModuleInstance, Origin>;
  /** Models by declaration: done, or in progress (to catch a model defined through itself). */
  readonly models: Map<A.ModelDecl, ElaboratedModel | 'pending' | 'failed'>;
  /** Call sites of the instantiations in progress, outermost first (to point errors at the user's code). */
  readonly calls: Span[];
  /** Is this file part of the standard library? */
  readonly library: (file: string) => boolean;
}

/** A readable name for a value's kind, for messages. */
export function describeValue(v: Value): string {
  switch (v.kind) {
    case 'int':
      return 'an int';
    case 'float':
      return 'a float';
    case 'bool':
      return 'a bool';
    case 'string':
      return 'a string';
    case 'list':
      return 'a list';
    case 'instance':
      return `an instance of ${v.instance.module}`;
    case 'sequence':
      return `a sequence of ${v.instances.length} instances`;
    case 'init':
      return 'an initializer';
    case 'module':
      return `the module ${v.entity.decl.name.text} (not instantiated: call it)`;
    case 'model':
      return `the model ${v.name}`;
    case 'combo':
      return 'a weight-space combination of models';
  }
}

/** The value as a hyperparameter constant, when it is one. */
export function toConst(v: Value): ConstValue | undefined {
  switch (v.kind) {
    case 'int':
    case 'float':
    case 'bool':
    case 'string':
      return v;
    case 'list': {
      const items = v.items.map(toConst);
      return items.every((i) => i !== undefined) ? { kind: 'list', items: items } : undefined;
    }
    case 'instance':
    case 'sequence':
    case 'init':
    case 'module':
    case 'model':
    case 'combo':
      return undefined;
  }
}

export function isNumber(v: Value): v is Extract<Value, { kind: 'int' | 'float' }> {
  return v.kind === 'int' || v.kind === 'float';
}
