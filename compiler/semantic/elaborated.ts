/**
 * The elaborated program: the contract between the front end and IR lowering. Everything here is resolved and
 * typed: module hyperparameters are evaluated, repetitions expanded, edits applied, every parameter has a concrete
 * shape (only dimension symbols of forward inputs, such as the batch `B`, stay symbolic in forward types), every
 * forward body is a typed expression tree whose nodes carry their type and source span, submodule calls point at the
 * instance they call, and builtin calls name their entry in `builtins.ts`.
 *
 * Sharing: a module instance passed to several places (a module-typed hyperparameter) is one object; its
 * parameters appear once in `ElaboratedModel.parameters`, under the path where the instance was first reached in
 * declaration order, with every other path in `uses`.
 */
import type { Span } from '../source/source.js';
import type { DType, TensorType } from '../types/shape.js';
import type { BuiltinName } from './builtins.js';

/** A compile-time constant: a hyperparameter value or a builtin attribute. */
export type ConstValue =
  | { readonly kind: 'int'; readonly value: number }
  | { readonly kind: 'float'; readonly value: number }
  | { readonly kind: 'bool'; readonly value: boolean }
  | { readonly kind: 'string'; readonly value: string }
  | { readonly kind: 'list'; readonly items: readonly ConstValue[] };

/** How a parameter is initialised (arguments as in `torch.nn.init`). */
export type Initializer =
  | { readonly kind: 'zeros' }
  | { readonly kind: 'ones' }
  | { readonly kind: 'constant'; readonly value: number }
  | { readonly kind: 'normal'; readonly mean: number; readonly std: number }
  /** Normal(mean, std) truncated to [a, b] (absolute bounds, as in timm's `trunc_normal_`). */
  | {
      readonly kind: 'trunc_normal';
      readonly mean: number;
      readonly std: number;
      readonly a: number;
      readonly b: number;
    }
  /** U(-bound, bound), bound = gain * sqrt(3 / fan), gain = sqrt(2 / (1 + a^2)) (leaky-relu gain). */
  | { readonly kind: 'kaiming_uniform'; readonly a: number; readonly mode: 'fan_in' | 'fan_out' }
  /** U(-bound, bound), bound = gain * sqrt(6 / (fan_in + fan_out)). */
  | { readonly kind: 'xavier_uniform'; readonly gain: number };

/**
 * One parameter tensor. `path` is its canonical timm-style name in the model (`blocks.0.attn.qkv.weight`);
 * `type.shape` is concrete. `trainable` is false for `frozen` parameters and those frozen by a model edit.
 */
export interface Parameter {
  /** The local name in its module (`weight`). */
  readonly name: string;
  /** The canonical dotted path, set when the model is finalised. */
  path: string;
  readonly type: TensorType;
  readonly init: Initializer;
  trainable: boolean;
  /** The `param` declaration. */
  readonly span: Span;
}

/** A named child of an instance: one submodule, or a repetition (`blocks = [Block(...); 12]`, paths `blocks.0`...). */
export type ChildSlot =
  | { readonly kind: 'single'; readonly name: string; instance: ModuleInstance }
  | { readonly kind: 'sequence'; readonly name: string; readonly instances: ModuleInstance[] };

/** A module instance: a module applied to evaluated hyperparameters. */
export interface ModuleInstance {
  /** Unique within one compilation. */
  readonly id: number;
  /** The module's name and defining file. */
  readonly module: string;
  readonly file: string;
  /** The canonical path of the instance in its model ('' for the root), set when the model is finalised. */
  path: string;
  /** The constant hyperparameters; module-typed ones are in `children` instead (the instance passed in, shared). */
  readonly hyperparameters: ReadonlyMap<string, ConstValue>;
  /** The instance's own parameters, in declaration order. */
  readonly parameters: Parameter[];
  /** Submodules in declaration order (edits replace and insert in place). */
  readonly children: ChildSlot[];
  /** The checked forward body; undefined for a module without `forward` (or one whose body has errors). */
  forward: TypedForward | undefined;
  /** Where the module was instantiated. */
  readonly span: Span;
  /** The module declaration's span. */
  readonly declSpan: Span;
}

/** A tuple of tensors (the result of `split`, `top_k`, or a forward returning `(a, b)`). */
export interface TupleType {
  readonly tuple: readonly TensorType[];
}

/** The type of a forward expression. */
export type ExprType = TensorType | TupleType;

/** Is this expression type a tuple (rather than one tensor)? */
export function isTupleType(t: ExprType): t is TupleType {
  return 'tuple' in t;
}

/** One axis of an index expression `x[:, 0, 1:5:2]`, normalised (no negative numbers, stop clamped). */
export type IndexAxis =
  | { readonly kind: 'all' }
  | { readonly kind: 'at'; readonly index: number }
  | { readonly kind: 'range'; readonly start: number; readonly stop: number; readonly step: number };

/**
 * A compile-time attribute of a builtin call (axis, eps, a target shape as dims, a dtype...). In a `reshape` target
 * shape, a `-1` written by the user is kept as a dimension with coefficient 0; the node's type has the inferred size.
 */
export type Attr =
  | ConstValue
  | { readonly kind: 'shape'; readonly shape: TensorType['shape'] }
  | { readonly kind: 'dtype'; readonly dtype: DType };

/**
 * A typed forward expression. Every node carries its type and the span of the source it came from.
 * - `input`: the forward's `index`-th input.
 * - `local`: the value bound by `lets[binding]` (element `element` when that let destructures a tuple).
 * - `param`: a parameter tensor of this instance or of a module-typed hyperparameter's instance.
 * - `const`: a scalar literal or folded hyperparameter (shape `[]`), typed as the operand it meets.
 * - `builtin`: a call of a tensor builtin: tensor operands in `args` (in the table's parameter order), the rest in `attrs`.
 * - `call`: a call of a submodule's forward; a repetition is a chain of calls, one per copy.
 * - `index`: indexing/slicing, one entry of `axes` per leading axis.
 * - `tuple`: a tuple of tensors; `project` takes one element of a tuple-typed node.
 */
export type TExpr =
  | {
      readonly kind: 'input';
      readonly index: number;
      readonly name: string;
      readonly type: TensorType;
      readonly span: Span;
    }
  | {
      readonly kind: 'local';
      readonly binding: number;
      readonly element?: number;
      readonly name: string;
      readonly type: ExprType;
      readonly span: Span;
    }
  | { readonly kind: 'param'; readonly parameter: Parameter; readonly type: TensorType; readonly span: Span }
  | { readonly kind: 'const'; readonly value: number; readonly type: TensorType; readonly span: Span }
  | {
      readonly kind: 'builtin';
      readonly op: BuiltinName;
      readonly args: readonly TExpr[];
      readonly attrs: Readonly<Record<string, Attr>>;
      readonly type: ExprType;
      readonly span: Span;
    }
  | {
      readonly kind: 'call';
      readonly instance: ModuleInstance;
      readonly args: readonly TExpr[];
      readonly type: ExprType;
      readonly span: Span;
    }
  | {
      readonly kind: 'index';
      readonly target: TExpr;
      readonly axes: readonly IndexAxis[];
      readonly type: TensorType;
      readonly span: Span;
    }
  | { readonly kind: 'tuple'; readonly items: readonly TExpr[]; readonly type: TupleType; readonly span: Span }
  | {
      readonly kind: 'project';
      readonly tuple: TExpr;
      readonly element: number;
      readonly type: TensorType;
      readonly span: Span;
    };

/** A `let` in a forward body. */
export interface TypedLet {
  readonly names: readonly string[];
  readonly value: TExpr;
  readonly span: Span;
}

/**
 * A checked forward body. Input types may hold dimension symbols (`B`, `N`) and one `...` (then `rest` is the
 * input index holding it); a caller binds them by unification.
 */
export interface TypedForward {
  readonly inputs: readonly {
    readonly name: string;
    readonly type: TensorType;
    readonly rest: boolean;
    readonly span: Span;
  }[];
  readonly lets: readonly TypedLet[];
  readonly result: TExpr;
  readonly type: ExprType;
  /** The dimension symbols the inputs introduce (`B`, `N`; `...` leading dims as `...`). */
  readonly symbols: readonly string[];
  readonly span: Span;
}

/** One entry of a model's flat parameter list. */
export interface ParameterEntry {
  readonly parameter: Parameter;
  /** Every path the parameter is reachable under, the canonical one first. */
  readonly uses: readonly string[];
}

/** How a model was made. */
export type ModelDerivation =
  | { readonly kind: 'instance' }
  | { readonly kind: 'edited'; readonly base?: string }
  /** A weight-space expression: the linear combination `sum coefficient * model` (average, task arithmetic, lerp). */
  | { readonly kind: 'merge'; readonly terms: readonly { readonly model: string; readonly coefficient: number }[] };

/** A `model` declaration, elaborated. */
export interface ElaboratedModel {
  readonly name: string;
  readonly span: Span;
  readonly root: ModuleInstance;
  /** All parameters, in declaration order of the instance tree, one entry per distinct tensor. */
  readonly parameters: readonly ParameterEntry[];
  readonly derivation: ModelDerivation;
}

/** A call-like experiment value: `adamw(lr: 1e-3)`, `cosine(warmup: 500)`, `fashion_mnist(split: "train")`. */
export interface Invocation {
  readonly name: string;
  readonly args: ReadonlyMap<string, ConstValue>;
  readonly span: Span;
}

/** A hook or export transform, with its path arguments resolved to instance paths of the experiment's model. */
export interface HookInvocation extends Invocation {
  /** Each path argument (in order) and the instance paths it matched. */
  readonly targets: readonly { readonly pattern: string; readonly matches: readonly string[] }[];
  /** Arguments that are schedules, such as `beta: linear(0, 0.3, steps: 2000)`. */
  readonly schedules: ReadonlyMap<string, Invocation>;
}

/** An `experiment` block, elaborated. */
export interface ElaboratedExperiment {
  readonly name: string;
  readonly span: Span;
  readonly model: string;
  readonly data?: Invocation;
  readonly eval?: Invocation;
  readonly loss: Invocation;
  readonly optimizer: Invocation;
  readonly schedule?: Invocation;
  readonly length: { readonly kind: 'epochs' | 'steps'; readonly count: number };
  readonly batch: number;
  /** Seeds initialisation, data order and augmentation (absent: 0). */
  readonly seed?: number;
  /** Clip the gradients to this global 2-norm. */
  readonly clipGrad?: number;
  readonly afterStep: readonly HookInvocation[];
  readonly export?: { readonly transform?: HookInvocation; readonly as?: string; readonly span: Span };
}

/** A law parameter: a tensor (symbolic dims allowed) or a module instance. */
export type LawParam =
  | { readonly kind: 'tensor'; readonly name: string; readonly type: TensorType; readonly span: Span }
  | { readonly kind: 'instance'; readonly name: string; readonly instance: ModuleInstance; readonly span: Span };

/** The values a law's dimension symbol is drawn from: `min` to `max` (no `max`: up to the runner's default). */
export interface DimBound {
  readonly min: number;
  readonly max?: number;
}

/**
 * A `law`: `lhs == rhs` for all parameter values (satisfying `when`), both sides typed. Conjuncts of `when` that
 * compare a dimension symbol with an int (`N >= 2`, `K <= 8`) are taken out of it as `bounds`.
 */
export interface ElaboratedLaw {
  readonly name: string;
  readonly span: Span;
  readonly params: readonly LawParam[];
  readonly bounds?: Readonly<Record<string, DimBound>>;
  readonly when?: TExpr;
  readonly lhs: TExpr;
  readonly rhs: TExpr;
}

/** The whole elaborated program of an entry file (declarations of imported files are reachable through it). */
export interface ElaboratedProgram {
  readonly models: readonly ElaboratedModel[];
  readonly experiments: readonly ElaboratedExperiment[];
  readonly laws: readonly ElaboratedLaw[];
}
