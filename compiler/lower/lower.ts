/**
 * Lowering: an elaborated model becomes one IR graph. Every module call is inlined (its forward body is lowered in
 * a frame binding its inputs to the caller's values and its dimension symbols to the caller's dimensions), every
 * parameter becomes a named graph input (its timm path; trainable or frozen; a shared parameter is one input used
 * wherever the instance is), and the root forward's inputs become data inputs.
 *
 * Two graphs are offered: `lowerForward` (the model's output) and `lowerLoss` (the batch-mean cross-entropy of the
 * output against integer labels, the graph that autodiff and `vitm gradcheck` start from).
 */
import { CompilerBug } from '../diagnostics/diagnostic.js';
import { GraphBuilder } from '../ir/builder.js';
import type { Graph, Value } from '../ir/graph.js';
import {
  type Attr,
  type ElaboratedLaw,
  type ElaboratedModel,
  isTupleType,
  type ModuleInstance,
  type Parameter,
  type TExpr,
  type TypedForward,
} from '../semantic/elaborated.js';
import { instancesOf } from '../semantic/models.js';
import { type Bindings, newBindings, REST, substituteShape, unify } from '../semantic/unify.js';
import type { Dim, TensorType } from '../types/shape.js';
import { LOWER_BUILTINS, type Lowered, strided } from './builtins.js';

/** The name of the graph input that seeds every random op of a step. */
export const SEED_INPUT = 'rng.seed';

export interface LowerOptions {
  /** Names for the root forward's data inputs (default: the forward's own parameter names). */
  readonly inputNames?: readonly string[];
}

/** One inlined forward body being lowered. */
interface Frame {
  readonly instance: ModuleInstance;
  readonly forward: TypedForward;
  readonly inputs: readonly Lowered[];
  readonly bindings: Bindings;
  /** Lowered `let` values, computed on first use (so unused lets emit nothing). */
  readonly lets: (Lowered | undefined)[];
}

class Lowerer {
  readonly b = new GraphBuilder();
  private readonly params = new Map<Parameter, Value>();
  private seedValue: Value | undefined;
  private salts = 0;

  /** `parameters`: every parameter tensor the bodies may reach, each with its graph input name. */
  constructor(parameters: readonly { readonly parameter: Parameter; readonly name: string }[]) {
    for (const { parameter, name } of parameters) {
      this.params.set(
        parameter,
        this.b.param(name, parameter.type.shape, {
          trainable: parameter.trainable,
          dtype: parameter.type.dtype,
        }),
      );
    }
  }

  seed(): Value {
    this.seedValue ??= this.b.data(SEED_INPUT, [], 'u32');
    return this.seedValue;
  }

  /** Lowers an expression outside any module (a law's side): `inputs` are the values of its `input` nodes. */
  topLevel(holder: ModuleInstance, forward: TypedForward, inputs: readonly Lowered[], e: TExpr): Lowered {
    return this.expr({ instance: holder, forward, inputs, bindings: newBindings(), lets: [] }, e);
  }

  /** Lowers `instance`'s forward applied to `args`, in a new frame. */
  call(instance: ModuleInstance, args: readonly Lowered[]): Lowered {
    const forward = instance.forward;
    if (forward === undefined) throw new CompilerBug(`the module instance '${instance.path}' has no forward`);
    const bindings = newBindings();
    const symbols = new Set(forward.symbols);
    forward.inputs.forEach((input, i) => {
      const arg = args[i];
      if (arg === undefined || Array.isArray(arg)) throw new CompilerBug(`bad argument ${i} to '${instance.path}'`);
      if (!unify(input.type, (arg as Value).type, bindings, symbols)) {
        throw new CompilerBug(`argument ${i} of '${instance.path}' does not match its checked type`);
      }
    });
    const frame: Frame = { instance, forward, inputs: args, bindings, lets: [] };
    return this.expr(frame, forward.result);
  }

  private tensor(frame: Frame, e: TExpr): Value {
    const v = this.expr(frame, e);
    if (Array.isArray(v)) throw new CompilerBug(`a tuple where a tensor was checked (${e.kind})`);
    return v as Value;
  }

  private typeIn(frame: Frame, type: TensorType): TensorType {
    return { dtype: type.dtype, shape: substituteShape(type.shape, frame.bindings) };
  }

  private local(frame: Frame, binding: number): Lowered {
    const known = frame.lets[binding];
    if (known !== undefined) return known;
    const decl = frame.forward.lets[binding];
    if (decl === undefined) throw new CompilerBug(`no let #${binding} in '${frame.instance.path}'`);
    const value = this.expr(frame, decl.value);
    frame.lets[binding] = value;
    return value;
  }

  expr(frame: Frame, e: TExpr): Lowered {
    this.b.setSpan(e.span);
    switch (e.kind) {
      case 'input': {
        const v = frame.inputs[e.index];
        if (v === undefined) throw new CompilerBug(`no input #${e.index} in '${frame.instance.path}'`);
        return v;
      }
      case 'local': {
        const v = this.local(frame, e.binding);
        if (e.element === undefined) return v;
        const item = Array.isArray(v) ? (v as readonly Value[])[e.element] : undefined;
        if (item === undefined) throw new CompilerBug(`no element ${e.element} in the let '${e.name}'`);
        return item;
      }
      case 'param': {
        const v = this.params.get(e.parameter);
        if (v === undefined) throw new CompilerBug(`the parameter '${e.parameter.path}' is not in the model's list`);
        return v;
      }
      case 'const':
        return this.b.full(e.value, [], e.type.dtype);
      case 'builtin': {
        const memo = new Map<number, Value>();
        const value = (i: number): Value => {
          let v = memo.get(i);
          if (v === undefined) {
            const operand = e.args[i];
            if (operand === undefined) throw new CompilerBug(`${e.op}: no operand #${i}`);
            v = this.tensor(frame, operand);
            memo.set(i, v);
          }
          return v;
        };
        const result = LOWER_BUILTINS[e.op]({
          builder: this.b,
          op: e.op,
          operands: e.args,
          attrs: e.attrs,
          type: isTupleType(e.type)
            ? { tuple: e.type.tuple.map((t) => this.typeIn(frame, t)) }
            : this.typeIn(frame, e.type),
          value,
          values: () => e.args.map((_, i) => value(i)),
          lower: (inner) => this.tensor(frame, inner),
          seed: () => this.seed(),
          salt: () => this.salts++ * 65_536 + saltOf(e.attrs.seed),
        });
        this.b.setSpan(e.span);
        return result;
      }
      case 'call':
        return this.call(
          e.instance,
          e.args.map((a) => this.expr(frame, a)),
        );
      case 'index':
        return this.index(frame, e);
      case 'tuple':
        return e.items.map((item) => this.tensor(frame, item));
      case 'project': {
        const v = this.expr(frame, e.tuple);
        const item = Array.isArray(v) ? (v as readonly Value[])[e.element] : undefined;
        if (item === undefined) throw new CompilerBug(`no element ${e.element} in a tuple`);
        return item;
      }
    }
  }

  /** `x[...]`: slices per axis (`at` keeps a unit axis), then one reshape to the checked type. */
  private index(frame: Frame, e: Extract<TExpr, { kind: 'index' }>): Value {
    let x = this.tensor(frame, e.target);
    e.axes.forEach((axis, i) => {
      switch (axis.kind) {
        case 'all':
          return;
        case 'at':
          x = this.b.slice(x, i, axis.index, axis.index + 1);
          return;
        case 'range':
          x = strided(this.b, x, i, axis.start, axis.stop, axis.step);
          return;
      }
    });
    const type = this.typeIn(frame, e.type);
    return e.axes.some((a) => a.kind === 'at') ? this.b.reshape(x, type.shape) : x;
  }
}

/** The call's own `seed:` attribute, folded into its salt so two calls with different seeds draw differently. */
function saltOf(seed: Attr | undefined): number {
  return seed?.kind === 'int' ? seed.value & 0xffff : 0;
}

function modelLowerer(model: ElaboratedModel): Lowerer {
  return new Lowerer(model.parameters.map(({ parameter }) => ({ parameter, name: parameter.path })));
}

/** The root forward and the data inputs it takes. */
function rootForward(model: ElaboratedModel): TypedForward {
  const forward = model.root.forward;
  if (forward === undefined) throw new CompilerBug(`the model '${model.name}' has no forward`);
  return forward;
}

function rootInputs(lowerer: Lowerer, forward: TypedForward, options: LowerOptions): Value[] {
  return forward.inputs.map((input, i) => {
    const shape: Dim[] = input.type.shape.filter((d) => !(d.syms.length === 1 && d.syms[0] === REST));
    if (shape.length !== input.type.shape.length) {
      throw new CompilerBug(`the root input '${input.name}' has a '...' shape and cannot be a graph input`);
    }
    return lowerer.b.data(options.inputNames?.[i] ?? input.name, shape, input.type.dtype);
  });
}

function outputs(result: Lowered, name: string): Record<string, Value> {
  if (!Array.isArray(result)) return { [name]: result as Value };
  return Object.fromEntries((result as readonly Value[]).map((v, i) => [`${name}.${i}`, v]));
}

/** The model's forward graph: parameters and the root forward's inputs in, `output` out. */
export function lowerForward(model: ElaboratedModel, options: LowerOptions = {}): Graph {
  const lowerer = modelLowerer(model);
  const forward = rootForward(model);
  const result = lowerer.call(model.root, rootInputs(lowerer, forward, options));
  return lowerer.b.build(outputs(result, 'output'));
}

/**
 * The training loss graph: the forward, then the batch mean of the cross-entropy of its output (`[..., classes]`)
 * against `labels` (i32, the output's leading shape), with optional label smoothing. Outputs `loss` and `logits`.
 */
export function lowerLoss(
  model: ElaboratedModel,
  options: LowerOptions & { readonly labelSmoothing?: number } = {},
): Graph {
  const lowerer = modelLowerer(model);
  const forward = rootForward(model);
  const logits = lowerer.call(model.root, rootInputs(lowerer, forward, options));
  if (Array.isArray(logits)) throw new CompilerBug(`the model '${model.name}' returns a tuple, not logits`);
  const z = logits as Value;
  const b = lowerer.b;
  const labels = b.data('labels', z.type.shape.slice(0, -1), 'i32');
  const loss = b.mean(b.crossEntropy(z, labels, options.labelSmoothing ?? 0));
  return b.build({ loss, logits: z });
}

/**
 * A law's graph (`vitm test`): both sides as outputs `lhs` and `rhs` (`lhs.0`, `lhs.1`, ... for tuples) and, when the
 * law has a `when` condition, `when`. Each tensor parameter is a data input named after it, with the law's dimension
 * symbols left symbolic; each parameter tensor of a module-instance parameter is a graph input named
 * `<law parameter>.<path>` (`f.fc1.weight`); random builtins read `rng.seed`.
 */
export function lowerLaw(law: ElaboratedLaw): Graph {
  const parameters: { parameter: Parameter; name: string }[] = [];
  const seen = new Set<Parameter>();
  for (const p of law.params) {
    if (p.kind !== 'instance') continue;
    for (const inst of instancesOf(p.instance)) {
      for (const parameter of inst.parameters) {
        if (seen.has(parameter)) continue;
        seen.add(parameter);
        parameters.push({ parameter, name: `${p.name}.${parameter.path}` });
      }
    }
  }
  const lowerer = new Lowerer(parameters);
  const inputs: Lowered[] = law.params.map((p) =>
    p.kind === 'tensor' ? lowerer.b.data(p.name, p.type.shape, p.type.dtype) : [],
  );
  const holder: ModuleInstance = {
    id: -1,
    module: `law ${law.name}`,
    file: law.span.file,
    path: '',
    hyperparameters: new Map(),
    parameters: [],
    children: [],
    forward: undefined,
    span: law.span,
    declSpan: law.span,
  };
  const forward: TypedForward = {
    inputs: law.params.flatMap((p) =>
      p.kind === 'tensor' ? [{ name: p.name, type: p.type, rest: false, span: p.span }] : [],
    ),
    lets: [],
    result: law.lhs,
    type: law.lhs.type,
    symbols: [],
    span: law.span,
  };
  const lhs = lowerer.topLevel(holder, forward, inputs, law.lhs);
  const rhs = lowerer.topLevel(holder, forward, inputs, law.rhs);
  const when = law.when === undefined ? undefined : lowerer.topLevel(holder, forward, inputs, law.when);
  return lowerer.b.build({
    ...outputs(lhs, 'lhs'),
    ...outputs(rhs, 'rhs'),
    ...(when === undefined ? {} : outputs(when, 'when')),
  });
}
