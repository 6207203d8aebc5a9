/**
 * `GraphBuilder`: the one way to make IR. Every `emit` runs the op's type rule, so an ill-typed equation is rejected
 * where it is built (with `IrTypeError`), and the convenience methods (`b.matmul(x, w, { transposeB: true })`) are what
 * tests, the lowering from the front end, autodiff and the passes all use. A number where a tensor is expected becomes
 * a scalar `full` of the other operand's dtype. Negative axes count from the end.
 *
 * The builder is the only mutable object of the IR; `build` returns an immutable `Graph`.
 */

import type { Span } from '../source/source.js';
import { shape as makeShape, type DType, type Dim, type Shape, type TensorType } from '../types/shape.js';
import type { OpAttrs, OpName } from '../ops/op.js';
import { inferType } from '../ops/registry.js';
import { IrTypeError } from './errors.js';
import type { Equation, Graph, GraphInput, GraphOutput, Value } from './graph.js';

/** A tensor, or a number standing for a scalar of the other operand's dtype. */
export type Operand = Value | number;
/** A shape written with numbers, symbol names or dimensions: `['B', 197, 768]`. */
export type ShapeLike = readonly (number | string | Dim)[];

export interface ParamOptions {
  readonly trainable?: boolean;
  readonly dtype?: DType;
}

export class GraphBuilder {
  private readonly inputs: GraphInput[] = [];
  private readonly equations: Equation[] = [];
  private readonly defs = new Map<number, Equation>();
  private nextId = 0;
  private span: Span | undefined;

  /** A builder that continues `graph`: same inputs and equations (same value numbers), outputs dropped. */
  static extending(graph: Graph): GraphBuilder {
    const b = new GraphBuilder();
    b.inputs.push(...graph.inputs);
    b.equations.push(...graph.equations);
    b.nextId = graph.inputs.length + graph.equations.length;
    return b;
  }

  /** A builder with a fresh copy of `graph`'s inputs; `map` sends each old input value to the new one. */
  static withInputsOf(graph: Graph): { builder: GraphBuilder; map: Map<number, Value> } {
    const b = new GraphBuilder();
    const map = new Map<number, Value>();
    for (const input of graph.inputs) {
      const v =
        input.kind === 'param'
          ? b.param(input.name, input.value.type.shape, { trainable: input.trainable, dtype: input.value.type.dtype })
          : b.data(input.name, input.value.type.shape, input.value.type.dtype);
      map.set(input.value.id, v);
    }
    return { builder: b, map };
  }

  private fresh(type: TensorType): Value {
    return { id: this.nextId++, type };
  }

  private checkName(name: string): void {
    if (this.inputs.some((i) => i.name === name)) throw new IrTypeError(`duplicate input name '${name}'`);
  }

  /** A parameter input (trainable unless `trainable: false`). */
  param(name: string, shape: ShapeLike, options: ParamOptions = {}): Value {
    this.checkName(name);
    const value = this.fresh({ dtype: options.dtype ?? 'f32', shape: makeShape(shape) });
    this.inputs.push({ kind: 'param', name, trainable: options.trainable ?? true, value });
    return value;
  }

  /** A data input (images, labels, a random seed). */
  data(name: string, shape: ShapeLike, dtype: DType = 'f32'): Value {
    this.checkName(name);
    const value = this.fresh({ dtype, shape: makeShape(shape) });
    this.inputs.push({ kind: 'data', name, value });
    return value;
  }

  /** The equation this builder emitted to define `v`, or undefined (an input, or a value of a graph it extends). */
  definition(v: Value): Equation | undefined {
    return this.defs.get(v.id);
  }

  /** Sets the span given to the equations emitted from now on (undefined: none). */
  setSpan(span: Span | undefined): void {
    this.span = span;
  }

  /** Runs `f` with `span` as the current span, then restores the previous one. */
  at<T>(span: Span | undefined, f: () => T): T {
    const saved = this.span;
    this.span = span;
    try {
      return f();
    } finally {
      this.span = saved;
    }
  }

  /** Emits `op(args) {attrs}` after checking it against the op's type rule. */
  emit<P extends OpName>(op: P, args: readonly Value[], attrs: OpAttrs[P], span: Span | undefined = this.span): Value {
    const type = inferType(
      op,
      args.map((a) => a.type),
      attrs,
    );
    const out = this.fresh(type);
    const eq = { op, out, args: [...args], attrs, ...(span === undefined ? {} : { span }) };
    this.equations.push(eq as unknown as Equation);
    this.defs.set(out.id, eq as unknown as Equation);
    return out;
  }

  /**
   * The finished graph with the given named outputs (in the object's key order). Values are renumbered into the
   * canonical order: inputs first (in declaration order), then equations, whatever order they were declared in.
   */
  build(outputs: Readonly<Record<string, Value>> | readonly GraphOutput[]): Graph {
    const outs: GraphOutput[] = Array.isArray(outputs)
      ? [...(outputs as readonly GraphOutput[])]
      : Object.entries(outputs as Readonly<Record<string, Value>>).map(([name, value]) => ({ name, value }));
    const renumbered = new Map<number, Value>();
    const renumber = (v: Value): Value => {
      const r = renumbered.get(v.id);
      if (r === undefined) throw new IrTypeError(`%${v.id} is not defined in this graph`);
      return r;
    };
    const define = (v: Value): Value => {
      const r = { id: renumbered.size, type: v.type };
      renumbered.set(v.id, r);
      return r;
    };
    const inputs = this.inputs.map((i): GraphInput => ({ ...i, value: define(i.value) }));
    const equations = this.equations.map((eq) => ({ ...eq, args: eq.args.map(renumber), out: define(eq.out) }));
    return { inputs, equations, outputs: outs.map((o) => ({ name: o.name, value: renumber(o.value) })) };
  }

  // ---- Sources ----

  full(value: number, shape: ShapeLike, dtype: DType = 'f32'): Value {
    return this.emit('full', [], { value, dtype, shape: makeShape(shape) });
  }

  scalar(value: number, dtype: DType = 'f32'): Value {
    return this.full(value, [], dtype);
  }

  constant(values: readonly number[], shape: ShapeLike, dtype: DType = 'f32'): Value {
    return this.emit('constant', [], { values: [...values], dtype, shape: makeShape(shape) });
  }

  /** A scalar holding the run-time value of a (possibly symbolic) dimension. */
  dimSize(d: Dim, dtype: DType = 'f32'): Value {
    return this.emit('dim_size', [], { dim: d, dtype });
  }

  private operands(a: Operand, b: Operand): [Value, Value] {
    if (typeof a === 'number' && typeof b === 'number') throw new IrTypeError('two numbers are not a tensor operation');
    const va = typeof a === 'number' ? this.scalar(a, (b as Value).type.dtype) : a;
    const vb = typeof b === 'number' ? this.scalar(b, va.type.dtype) : b;
    return [va, vb];
  }

  // ---- Elementwise ----

  neg(x: Value): Value {
    return this.emit('neg', [x], {});
  }
  exp(x: Value): Value {
    return this.emit('exp', [x], {});
  }
  log(x: Value): Value {
    return this.emit('log', [x], {});
  }
  sqrt(x: Value): Value {
    return this.emit('sqrt', [x], {});
  }
  rsqrt(x: Value): Value {
    return this.emit('rsqrt', [x], {});
  }
  tanh(x: Value): Value {
    return this.emit('tanh', [x], {});
  }
  erf(x: Value): Value {
    return this.emit('erf', [x], {});
  }
  /** The arc cosine, in [0, pi] (NaN outside [-1, 1]; clamp a cosine first). */
  acos(x: Value): Value {
    return this.emit('acos', [x], {});
  }
  /** GELU: exact (`x * Phi(x)`, the default, as in timm) or its tanh approximation. */
  gelu(x: Value, approximate: 'none' | 'tanh' = 'none'): Value {
    return this.emit('gelu', [x], { approximate });
  }
  /** The derivative of `gelu(x, approximate)` at x. */
  geluGrad(x: Value, approximate: 'none' | 'tanh' = 'none'): Value {
    return this.emit('gelu_grad', [x], { approximate });
  }
  relu(x: Value): Value {
    return this.emit('relu', [x], {});
  }
  sigmoid(x: Value): Value {
    return this.emit('sigmoid', [x], {});
  }
  abs(x: Value): Value {
    return this.emit('abs', [x], {});
  }
  cast(x: Value, dtype: DType): Value {
    return this.emit('cast', [x], { dtype });
  }
  stopGradient(x: Value): Value {
    return this.emit('stop_gradient', [x], {});
  }

  add(a: Operand, b: Operand): Value {
    return this.emit('add', this.operands(a, b), {});
  }
  sub(a: Operand, b: Operand): Value {
    return this.emit('sub', this.operands(a, b), {});
  }
  mul(a: Operand, b: Operand): Value {
    return this.emit('mul', this.operands(a, b), {});
  }
  div(a: Operand, b: Operand): Value {
    return this.emit('div', this.operands(a, b), {});
  }
  pow(a: Operand, b: Operand): Value {
    return this.emit('pow', this.operands(a, b), {});
  }
  maximum(a: Operand, b: Operand): Value {
    return this.emit('maximum', this.operands(a, b), {});
  }
  minimum(a: Operand, b: Operand): Value {
    return this.emit('minimum', this.operands(a, b), {});
  }
  less(a: Operand, b: Operand): Value {
    return this.emit('less', this.operands(a, b), {});
  }
  lessEqual(a: Operand, b: Operand): Value {
    return this.emit('less_equal', this.operands(a, b), {});
  }
  greater(a: Operand, b: Operand): Value {
    return this.emit('greater', this.operands(a, b), {});
  }
  greaterEqual(a: Operand, b: Operand): Value {
    return this.emit('greater_equal', this.operands(a, b), {});
  }
  equal(a: Operand, b: Operand): Value {
    return this.emit('equal', this.operands(a, b), {});
  }
  notEqual(a: Operand, b: Operand): Value {
    return this.emit('not_equal', this.operands(a, b), {});
  }
  /** `cond ? a : b` elementwise, broadcasting all three. */
  where(cond: Value, a: Operand, b: Operand): Value {
    const [va, vb] = this.operands(a, b);
    return this.emit('where', [cond, va, vb], {});
  }
  /** The sum of same-shaped tensors. */
  addN(xs: readonly Value[]): Value {
    return this.emit('add_n', xs, {});
  }
  /** The mean of same-shaped tensors (weight averaging): `add_n` times `1/n`. */
  meanN(xs: readonly Value[]): Value {
    return this.mul(this.addN(xs), 1 / xs.length);
  }

  // ---- Reductions and normalisations ----

  private reduceAttrs(
    x: Value,
    axes: number | readonly number[] | undefined,
    keepdims: boolean,
  ): OpAttrs['reduce_sum'] {
    const rank = x.type.shape.length;
    const list = axes === undefined ? [...Array(rank).keys()] : typeof axes === 'number' ? [axes] : axes;
    const norm = [...new Set(list.map((a) => (a < 0 ? a + rank : a)))].sort((p, q) => p - q);
    return { axes: norm, keepdims };
  }
  private axis(x: Value, axis: number): number {
    return axis < 0 ? axis + x.type.shape.length : axis;
  }

  /** Sum over `axes` (all axes when omitted). */
  sum(x: Value, axes?: number | readonly number[], keepdims = false): Value {
    return this.emit('reduce_sum', [x], this.reduceAttrs(x, axes, keepdims));
  }
  mean(x: Value, axes?: number | readonly number[], keepdims = false): Value {
    return this.emit('reduce_mean', [x], this.reduceAttrs(x, axes, keepdims));
  }
  max(x: Value, axes?: number | readonly number[], keepdims = false): Value {
    return this.emit('reduce_max', [x], this.reduceAttrs(x, axes, keepdims));
  }
  logsumexp(x: Value, axes?: number | readonly number[], keepdims = false): Value {
    return this.emit('logsumexp', [x], this.reduceAttrs(x, axes, keepdims));
  }
  softmax(x: Value, axis = -1): Value {
    return this.emit('softmax', [x], { axis: this.axis(x, axis) });
  }
  /** The gradient of `softmax(x, axis)` for the cotangent `g` of its result `y`: `y (g - sum(g y))` along `axis`. */
  softmaxGrad(y: Value, g: Value, axis = -1): Value {
    return this.emit('softmax_grad', [y, g], { axis: this.axis(y, axis) });
  }
  /** Normalisation over the last axis without affine parameters. */
  layerNorm(x: Value, eps = 1e-6): Value {
    return this.emit('layer_norm', [x], { eps });
  }
  /** The gradient of `layerNorm(x, eps)` for the cotangent `g` of its result. */
  layerNormGrad(x: Value, g: Value, eps = 1e-6): Value {
    return this.emit('layer_norm_grad', [x, g], { eps });
  }
  /** LayerNorm over the last axis with weight and bias (timm's `nn.LayerNorm`). */
  layerNormAffine(x: Value, weight: Value, bias: Value, eps = 1e-6): Value {
    return this.add(this.mul(this.layerNorm(x, eps), weight), bias);
  }
  /** Per-example cross-entropy of `logits` [..., K] against integer `labels` [...], with label smoothing. */
  crossEntropy(logits: Value, labels: Value, labelSmoothing = 0): Value {
    return this.emit('cross_entropy', [logits, labels], { labelSmoothing });
  }
  /** `x / max(|x|, eps)` along `axis` (as torch's `F.normalize`); a zero vector maps to zero. */
  l2Normalize(x: Value, axis = -1, eps = 1e-12): Value {
    const sq = this.sum(this.mul(x, x), axis, true);
    return this.mul(x, this.rsqrt(this.maximum(sq, eps * eps)));
  }
  /** The cosine similarity along `axis`: the dot product of the two L2-normalised tensors. */
  cosineSimilarity(a: Value, b: Value, axis = -1, eps = 1e-12): Value {
    return this.sum(this.mul(this.l2Normalize(a, axis, eps), this.l2Normalize(b, axis, eps)), axis);
  }

  // ---- Linear algebra ----

  matmul(a: Value, b: Value, options: { transposeA?: boolean; transposeB?: boolean } = {}): Value {
    return this.emit('matmul', [a, b], {
      transposeA: options.transposeA ?? false,
      transposeB: options.transposeB ?? false,
    });
  }
  /** `x W^T + bias`, with `W` stored [out, in] as in PyTorch. */
  linear(x: Value, weight: Value, bias?: Value): Value {
    const vector = x.type.shape.length === 1;
    const x2 = vector ? this.reshape(x, [1, ...x.type.shape]) : x;
    const product = this.matmul(x2, weight, { transposeB: true });
    const y = vector ? this.reshape(product, product.type.shape.slice(1)) : product;
    return bias === undefined ? y : this.add(y, bias);
  }

  // ---- Layout ----

  reshape(x: Value, shape: ShapeLike): Value {
    return this.emit('reshape', [x], { shape: makeShape(shape) });
  }
  transpose(x: Value, perm: readonly number[]): Value {
    return this.emit('transpose', [x], { perm: [...perm] });
  }
  broadcastTo(x: Value, shape: ShapeLike): Value {
    return this.emit('broadcast_to', [x], { shape: makeShape(shape) });
  }
  concat(xs: readonly Value[], axis: number): Value {
    const first = xs[0];
    return this.emit('concat', xs, { axis: first === undefined ? axis : this.axis(first, axis) });
  }
  slice(x: Value, axis: number, start: number, end: number): Value {
    return this.emit('slice', [x], { axis: this.axis(x, axis), start, end });
  }
  pad(x: Value, axis: number, before: number, after: number): Value {
    return this.emit('pad', [x], { axis: this.axis(x, axis), before, after });
  }
  /** Splits along `axis` into pieces of the given sizes (a composite of `slice`). */
  split(x: Value, axis: number, sizes: readonly number[]): Value[] {
    const out: Value[] = [];
    let start = 0;
    for (const size of sizes) {
      out.push(this.slice(x, axis, start, start + size));
      start += size;
    }
    return out;
  }

  // ---- Indexing ----

  take(x: Value, indices: Value, axis: number): Value {
    return this.emit('take', [x, indices], { axis: this.axis(x, axis) });
  }
  scatterAdd(indices: Value, updates: Value, axis: number, size: Dim | number): Value {
    const a = this.axis(updates, axis);
    return this.emit('scatter_add', [indices, updates], { axis: a, size: makeShape([size])[0] as Dim });
  }
  takeAlongAxis(x: Value, indices: Value, axis: number): Value {
    return this.emit('take_along_axis', [x, indices], { axis: this.axis(x, axis) });
  }
  scatterAddAlongAxis(indices: Value, updates: Value, axis: number, size: Dim | number): Value {
    const a = this.axis(updates, axis);
    return this.emit('scatter_add_along_axis', [indices, updates], { axis: a, size: makeShape([size])[0] as Dim });
  }
  oneHot(indices: Value, depth: number, dtype: DType = 'f32'): Value {
    return this.emit('one_hot', [indices], { depth, dtype });
  }
  argmax(x: Value, axis = -1): Value {
    return this.emit('argmax', [x], { axis: this.axis(x, axis) });
  }
  /** The indices of the `k` largest entries along the last axis, largest first (ties: lower index first). */
  topK(x: Value, k: number): Value {
    return this.emit('top_k', [x], { k });
  }

  // ---- Random ----

  randomUniform(seed: Value, shape: ShapeLike, salt: number, dtype: DType = 'f32'): Value {
    return this.emit('random_uniform', [seed], { shape: makeShape(shape), dtype, salt });
  }
  randomNormal(seed: Value, shape: ShapeLike, salt: number, dtype: DType = 'f32'): Value {
    return this.emit('random_normal', [seed], { shape: makeShape(shape), dtype, salt });
  }
  randomPermutation(seed: Value, n: Dim | number, salt: number): Value {
    return this.emit('random_permutation', [seed], { n: makeShape([n])[0] as Dim, salt });
  }
}

/** Re-exported for callers that only need the shape helper with the builder. */
export type { Shape };
