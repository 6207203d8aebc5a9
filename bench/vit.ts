/**
 * The ViT cases of the benchmark: the tiny ViT of `vit_tiny_bench.vitm` (28x28x1 images, patch 4, width 64, depth 4,
 * 4 heads, MLP x4, 10 classes) at batch 64, forward and training step, in vitm and in TensorFlow.js.
 *
 * Both engines start from the same weights (the `.vitm` model's initialisers, seed 0), the same random images and
 * the same labels, and train with plain SGD at the same learning rate on the mean cross-entropy.
 *
 * vitm: the model is compiled from `.vitm` by `compileModel`. Forward runs the forward graph on a `GraphExecutor`.
 * A training step is what `vitm train` runs: the training graph (loss and every parameter's gradient) followed, in
 * the same compute pass and submission, by the trainer's step kernels (metrics, gradient norm, the SGD update of
 * every weight in place); the weights stay on the device, and a batch of steps reads back only its accumulated loss.
 *
 * TensorFlow.js: the same network written with tfjs-core ops (no layers API): patch embedding as a stride-4
 * convolution, class token, position embedding, pre-norm blocks with exact (erf) GELU, multi-head attention, final
 * norm and head on the class token. A training step is `tf.variableGrads` of the loss followed by
 * `tf.train.sgd(lr).applyGradients`; the weights stay on the device, and a batch of steps waits for its last loss
 * with `await data()`.
 */
import { fileURLToPath } from 'node:url';
import { nodeHost } from '../cli/check.js';
import { compileModel, compileProgram, type CompiledModel } from '../compiler/pipeline.js';
import { evalShape } from '../compiler/types/shape.js';
import { initialValues } from '../runtime/params/init.js';
import { normalFromBits, randomWords } from '../runtime/reference/philox.js';
import type { GpuDevice } from '../runtime/webgpu/device.js';
import { GraphExecutor, type HostTensor } from '../runtime/webgpu/executor.js';
import { selectMatmulConfig } from '../runtime/webgpu/tuning.js';
import { TrainStepKernels } from '../runtime/train/gpu-step.js';
import { peerWait, type Engine, type TfSession } from './engines.js';

/** The benchmark's batch size. */
export const VIT_BATCH = 64;
/** SGD's learning rate, for both engines. */
const LEARNING_RATE = 0.01;
const SEED = 0;

/** The hyperparameters of `TinyBench` in `vit_tiny_bench.vitm`, which the TensorFlow.js network is built from. */
const TINY = { image: 28, patch: 4, channels: 1, classes: 10, dim: 64, depth: 4, heads: 4, mlp: 256, eps: 1e-6 };

const MODEL_FILE = fileURLToPath(
  new URL(
    import.meta.url.includes('/dist/') ? '../../bench/vit_tiny_bench.vitm' : './vit_tiny_bench.vitm',
    import.meta.url,
  ),
);

interface ParamTensor {
  readonly name: string;
  readonly shape: readonly number[];
  /** The current weights (float32, row-major); vitm's SGD updates them in place. */
  readonly values: Float32Array;
}

/** The compiled model and one batch of data, shared by both engines. */
export interface TinyVit {
  readonly compiled: CompiledModel;
  readonly params: readonly ParamTensor[];
  /** Images, [B, 1, 28, 28] row-major (with one channel also the bytes of NHWC [B, 28, 28, 1]). */
  readonly x: Float32Array;
  /** Class labels, [B]. */
  readonly labels: Int32Array;
}

const count = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

/** Compiles `TinyBench` and draws its initial weights, images ~ N(0, 1) and uniform labels. */
export function loadTinyVit(): TinyVit {
  const result = compileProgram(MODEL_FILE, nodeHost());
  const model = result.program?.models.find((m) => m.name === 'TinyBench');
  if (model === undefined)
    throw new Error(`${MODEL_FILE} did not compile to a model TinyBench (${result.diagnostics.length} diagnostics)`);
  const compiled = compileModel(model);
  const inits = new Map(model.parameters.map((p) => [p.parameter.path, p.parameter.init]));
  const symbols = { B: VIT_BATCH };
  const params: ParamTensor[] = [];
  for (const input of compiled.training.inputs) {
    if (input.kind !== 'param') continue;
    const init = inits.get(input.name);
    if (init === undefined) throw new Error(`the parameter '${input.name}' has no initialiser`);
    if (!input.trainable) throw new Error(`the parameter '${input.name}' is frozen; the benchmark trains them all`);
    const shape = evalShape(input.value.type.shape, symbols);
    params.push({ name: input.name, shape, values: Float32Array.from(initialValues(input.name, shape, init, SEED)) });
  }
  const pixels = VIT_BATCH * TINY.channels * TINY.image * TINY.image;
  const x = Float32Array.from({ length: pixels }, (_, i) => {
    const w = randomWords(SEED, 0x1a6e, i);
    return normalFromBits(w[0], w[1]);
  });
  const labels = Int32Array.from({ length: VIT_BATCH }, (_, i) => randomWords(SEED, 0x1abe1, i)[0] % TINY.classes);
  return { compiled, params, x, labels };
}

/** The number of weights, summed over the parameter tensors. */
export const weightCount = (params: readonly { readonly shape: readonly number[] }[]): number =>
  params.reduce((n, p) => n + count(p.shape), 0);

/** The model's graph inputs: the current weights, the images, and the labels where the graph takes them. */
function hostInputs(vit: TinyVit, withLabels: boolean): Record<string, HostTensor> {
  const inputs: Record<string, HostTensor> = {};
  for (const p of vit.params) inputs[p.name] = { dtype: 'f32', shape: p.shape, data: p.values };
  inputs.x = { dtype: 'f32', shape: [VIT_BATCH, TINY.channels, TINY.image, TINY.image], data: vit.x };
  if (withLabels) inputs.labels = { dtype: 'i32', shape: [VIT_BATCH], data: vit.labels };
  return inputs;
}

const tunedExecutor = (gpu: GpuDevice, graph: CompiledModel['forward']): GraphExecutor =>
  new GraphExecutor(gpu, graph, { matmulConfig: (shape) => selectMatmulConfig(gpu, shape) });

/**
 * vitm's forward pass at batch 64. The weights are written to the device once and stay resident; a batch of n
 * iterations submits n runs of the forward graph, each uploading its batch of images, and reads back the logits of
 * the last one.
 */
export function vitmVitForward(gpu: GpuDevice, vit: TinyVit): Engine {
  const executor = tunedExecutor(gpu, vit.compiled.forward);
  const output = vit.compiled.forward.outputs[0]?.name;
  if (output === undefined) throw new Error('the forward graph has no output');
  const { x, ...weights } = hostInputs(vit, false);
  if (x === undefined) throw new Error('the forward graph takes no images');
  const symbols = { B: VIT_BATCH };
  let resident = false;
  const batch = async (n: number): Promise<number> => {
    if (!resident) {
      await executor.setInputs(weights, { symbols });
      resident = true;
    }
    const start = performance.now();
    for (let i = 0; i < n; i++) {
      const result = await executor.run({ x }, { symbols, outputs: i === n - 1 ? [output] : [] });
      if (i === n - 1 && !Number.isFinite(result[output]?.data[0])) throw new Error('vitm: the logits are not finite');
    }
    return (performance.now() - start) / 1000;
  };
  return {
    detail: `forward graph, ${vit.compiled.forward.equations.length} equations`,
    once: () => batch(1),
    batch,
    dispose() {
      executor.dispose();
    },
  };
}

/**
 * vitm's training step at batch 64, as the trainer runs it: the training graph and the SGD kernels in one submission
 * per step, the weights updated in place on the device (the shared host weights are not touched), the images and
 * labels written once; a batch of n steps submits n steps and reads back their accumulated loss at the end.
 */
export function vitmVitTrain(gpu: GpuDevice, vit: TinyVit): Engine {
  const graph = vit.compiled.training;
  const executor = tunedExecutor(gpu, graph);
  const { x, labels, ...weights } = hostInputs(vit, true);
  if (x === undefined || labels === undefined) throw new Error('the training graph takes no images or labels');
  const symbols = { B: VIT_BATCH };
  const sgd = { kind: 'sgd', lr: LEARNING_RATE, momentum: 0, nesterov: false, weightDecay: 0 } as const;
  let kernels: TrainStepKernels | undefined;
  let steps = 0;
  // The weights are written once and trained in place on the device (each run continues from the last).
  const prepare = async (): Promise<TrainStepKernels> => {
    if (kernels) return kernels;
    await executor.setInputs(weights, { symbols });
    const params = await Promise.all(
      vit.params.map(async (p) => ({
        name: p.name,
        elements: p.values.length,
        param: await executor.inputBuffer(p.name, symbols),
        grad: await executor.outputBuffer(`grad:${p.name}`, symbols),
        decay: false,
      })),
    );
    kernels = await TrainStepKernels.create(gpu, sgd, params, {
      loss: await executor.outputBuffer('loss', symbols),
      logits: await executor.outputBuffer('logits', symbols),
      labels: await executor.inputBuffer('labels', symbols),
      batch: VIT_BATCH,
      classes: TINY.classes,
    });
    return kernels;
  };
  const batch = async (n: number): Promise<number> => {
    const k = await prepare();
    const start = performance.now();
    for (let i = 0; i < n; i++) {
      k.prepareStep(++steps, LEARNING_RATE);
      await executor.run(i === 0 ? { x, labels } : {}, {
        symbols,
        outputs: [],
        epilogue: (pass) => {
          k.encode(pass);
        },
      });
    }
    // The mean loss of the batch of steps is read back at the end, which waits for the device to finish them.
    const m = await k.readMetrics();
    const seconds = (performance.now() - start) / 1000;
    if (!Number.isFinite(m.lossSum) || m.steps !== n) throw new Error(`vitm: the training loss is ${m.lossSum}`);
    return seconds;
  };
  return {
    detail: `training graph (${vit.params.length} gradients) and SGD kernels in one submission per step`,
    once: () => batch(1),
    batch,
    dispose() {
      kernels?.dispose();
      executor.dispose();
    },
  };
}

type Tf = TfSession['tf'];
type Tensor = ReturnType<Tf['tensor']>;
type Variable = ReturnType<Tf['variable']>;

/** The parameter tensors the TensorFlow.js network declares: names and shapes as in timm (and std.vit). */
function tfParameterShapes(): { name: string; shape: number[] }[] {
  const { dim, depth, mlp, classes, patch, channels, image } = TINY;
  const tokens = (image / patch) ** 2 + 1;
  const shapes = [
    { name: 'cls_token', shape: [1, 1, dim] },
    { name: 'pos_embed', shape: [1, tokens, dim] },
    { name: 'patch_embed.proj.weight', shape: [dim, channels, patch, patch] },
    { name: 'patch_embed.proj.bias', shape: [dim] },
  ];
  for (let b = 0; b < depth; b++) {
    const p = `blocks.${b}`;
    shapes.push(
      { name: `${p}.norm1.weight`, shape: [dim] },
      { name: `${p}.norm1.bias`, shape: [dim] },
      { name: `${p}.attn.qkv.weight`, shape: [3 * dim, dim] },
      { name: `${p}.attn.qkv.bias`, shape: [3 * dim] },
      { name: `${p}.attn.proj.weight`, shape: [dim, dim] },
      { name: `${p}.attn.proj.bias`, shape: [dim] },
      { name: `${p}.norm2.weight`, shape: [dim] },
      { name: `${p}.norm2.bias`, shape: [dim] },
      { name: `${p}.mlp.fc1.weight`, shape: [mlp, dim] },
      { name: `${p}.mlp.fc1.bias`, shape: [mlp] },
      { name: `${p}.mlp.fc2.weight`, shape: [dim, mlp] },
      { name: `${p}.mlp.fc2.bias`, shape: [dim] },
    );
  }
  shapes.push(
    { name: 'norm.weight', shape: [dim] },
    { name: 'norm.bias', shape: [dim] },
    { name: 'head.weight', shape: [classes, dim] },
    { name: 'head.bias', shape: [classes] },
  );
  return shapes;
}

/** The TensorFlow.js network: its variables (initialised from the `.vitm` model's weights) and its loss. */
interface TfVit {
  readonly variables: Variable[];
  readonly x: ReturnType<Tf['tensor4d']>;
  readonly labels: Tensor;
  logits(): Tensor;
  loss(): Tensor;
  dispose(): void;
}

function buildTfVit(session: TfSession, vit: TinyVit): TfVit {
  const { tf } = session;
  const { dim, heads, depth, patch, image, channels, classes, eps } = TINY;
  const shapes = tfParameterShapes();
  const vitmCount = weightCount(vit.params);
  const tfCount = weightCount(shapes);
  if (tfCount !== vitmCount || shapes.length !== vit.params.length)
    throw new Error(
      `the TensorFlow.js ViT has ${tfCount} weights in ${shapes.length} tensors, the vitm one ${vitmCount} in ${vit.params.length}`,
    );
  const byName = new Map(vit.params.map((p) => [p.name, p]));
  const w = new Map<string, Variable>();
  for (const s of shapes) {
    const p = byName.get(s.name);
    if (p?.shape.join(',') !== s.shape.join(','))
      throw new Error(`the vitm model has no parameter ${s.name}: [${s.shape.join(', ')}]`);
    w.set(s.name, tf.variable(tf.tensor(p.values, s.shape), true, s.name));
  }
  const param = (name: string): Variable => {
    const v = w.get(name);
    if (v === undefined) throw new Error(`no variable ${name}`);
    return v;
  };
  const grid = image / patch;
  const tokens = grid * grid + 1;
  const headDim = dim / heads;
  const x = tf.tensor4d(vit.x, [VIT_BATCH, image, image, channels]);
  const labels = tf.oneHot(tf.tensor1d(vit.labels, 'int32'), classes);

  /** x @ W^T + b over the last axis, for a [out, in] weight (torch's Linear). */
  const linear = (t: Tensor, name: string): Tensor => {
    const weight = param(`${name}.weight`);
    const [out, inner] = weight.shape as [number, number];
    const rows = tf.reshape(t, [-1, inner]);
    const y = tf.add(tf.matMul(rows, weight, false, true), param(`${name}.bias`));
    return tf.reshape(y, [...t.shape.slice(0, -1), out]);
  };
  const layerNorm = (t: Tensor, name: string): Tensor => {
    const { mean, variance } = tf.moments(t, -1, true);
    const normed = tf.mul(tf.sub(t, mean), tf.rsqrt(tf.add(variance, eps)));
    return tf.add(tf.mul(normed, param(`${name}.weight`)), param(`${name}.bias`));
  };
  /** Exact GELU: x/2 (1 + erf(x / sqrt 2)); tfjs has erf (with its gradient) on the WebGPU backend. */
  const gelu = (t: Tensor): Tensor => tf.mul(tf.mul(t, 0.5), tf.add(tf.erf(tf.mul(t, Math.SQRT1_2)), 1));
  const attention = (t: Tensor, name: string): Tensor => {
    const qkv = tf.reshape(linear(t, `${name}.qkv`), [VIT_BATCH, tokens, 3, heads, headDim]);
    const [q, k, v] = tf.unstack(tf.transpose(qkv, [2, 0, 3, 1, 4])) as [Tensor, Tensor, Tensor];
    const scores = tf.mul(tf.matMul(q, k, false, true), headDim ** -0.5);
    const out = tf.matMul(tf.softmax(scores, -1), v);
    return linear(tf.reshape(tf.transpose(out, [0, 2, 1, 3]), [VIT_BATCH, tokens, dim]), `${name}.proj`);
  };
  const logits = (): Tensor => {
    // The patch embedding: a patch-strided convolution, NHWC, with the [out, in, kh, kw] weight moved to HWIO.
    const filter = tf.transpose(param('patch_embed.proj.weight'), [2, 3, 1, 0]) as ReturnType<Tf['tensor4d']>;
    const patches = tf.add(tf.conv2d(x, filter, patch, 'valid'), param('patch_embed.proj.bias'));
    const cls = tf.tile(param('cls_token'), [VIT_BATCH, 1, 1]);
    let h: Tensor = tf.add(tf.concat([cls, tf.reshape(patches, [VIT_BATCH, grid * grid, dim])], 1), param('pos_embed'));
    for (let b = 0; b < depth; b++) {
      const p = `blocks.${b}`;
      h = tf.add(h, attention(layerNorm(h, `${p}.norm1`), `${p}.attn`));
      h = tf.add(h, linear(gelu(linear(layerNorm(h, `${p}.norm2`), `${p}.mlp.fc1`)), `${p}.mlp.fc2`));
    }
    const y = layerNorm(h, 'norm');
    return linear(tf.reshape(tf.slice(y, [0, 0, 0], [VIT_BATCH, 1, dim]), [VIT_BATCH, dim]), 'head');
  };
  return {
    variables: [...w.values()],
    x,
    labels,
    logits,
    loss: () => tf.losses.softmaxCrossEntropy(labels, logits()),
    dispose() {
      for (const v of w.values()) v.dispose();
      x.dispose();
      labels.dispose();
    },
  };
}

/** TensorFlow.js's forward pass at batch 64: n forward passes, then `await data()` on the last logits. */
export function tfVitForward(session: TfSession, vit: TinyVit): Engine {
  const { tf } = session;
  const net = buildTfVit(session, vit);
  const batch = async (n: number): Promise<number> => {
    const start = performance.now();
    const outs: Tensor[] = [];
    for (let i = 0; i < n; i++) outs.push(tf.tidy(() => net.logits()));
    const last = await peerWait(async () => outs[outs.length - 1]?.data());
    const seconds = (performance.now() - start) / 1000;
    for (const t of outs) t.dispose();
    if (!Number.isFinite(last?.[0])) throw new Error('tfjs: the logits are not finite');
    return seconds;
  };
  return {
    detail: 'tfjs-core ops',
    once: () => batch(1),
    batch,
    dispose() {
      net.dispose();
    },
  };
}

/**
 * TensorFlow.js's training step at batch 64: `tf.variableGrads` of the loss and `sgd.applyGradients`, n steps back
 * to back, then `await data()` on the last loss.
 */
export function tfVitTrain(session: TfSession, vit: TinyVit): Engine {
  const { tf } = session;
  const net = buildTfVit(session, vit);
  const optimizer = tf.train.sgd(LEARNING_RATE);
  const step = (): Tensor =>
    tf.tidy(() => {
      const { value, grads } = tf.variableGrads(() => net.loss() as ReturnType<Tf['scalar']>, net.variables);
      if (Object.keys(grads).length !== net.variables.length) throw new Error('tfjs: a variable has no gradient');
      optimizer.applyGradients(grads);
      return value;
    });
  const batch = async (n: number): Promise<number> => {
    const start = performance.now();
    const losses: Tensor[] = [];
    for (let i = 0; i < n; i++) losses.push(step());
    const last = await peerWait(async () => losses[losses.length - 1]?.data());
    const seconds = (performance.now() - start) / 1000;
    for (const t of losses) t.dispose();
    if (!Number.isFinite(last?.[0])) throw new Error(`tfjs: the training loss is ${String(last?.[0])}`);
    return seconds;
  };
  return {
    detail: 'tf.variableGrads + tf.train.sgd',
    once: () => batch(1),
    batch,
    dispose() {
      optimizer.dispose();
      net.dispose();
    },
  };
}

/** The largest |a - b| over the elements, relative to the largest |b|. */
function relativeError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Infinity;
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < a.length; i++) {
    diff = Math.max(diff, Math.abs((a[i] as number) - (b[i] as number)));
    scale = Math.max(scale, Math.abs(b[i] as number));
  }
  return diff / Math.max(scale, 1e-30);
}

/**
 * Checks that the two engines compute the same network: one training-graph run of vitm against `tf.variableGrads` of
 * the TensorFlow.js loss, at the shared initial weights. Compares the logits, the loss and every gradient (float32 on
 * both sides, different summation orders: agreement to ~1e-3 relative is expected); throws beyond `tolerance`.
 * Returns a one-line summary.
 */
export async function checkVitAgreement(
  gpu: GpuDevice,
  session: TfSession,
  vit: TinyVit,
  tolerance = 1e-2,
): Promise<string> {
  const { tf } = session;
  const executor = tunedExecutor(gpu, vit.compiled.training);
  const net = buildTfVit(session, vit);
  try {
    const ours = await executor.run(hostInputs(vit, true), { symbols: { B: VIT_BATCH } });
    const { value, grads } = tf.variableGrads(() => net.loss() as ReturnType<Tf['scalar']>, net.variables);
    const logits = tf.tidy(() => net.logits());
    const errors: [string, number][] = [
      ['loss', relativeError(ours.loss?.data ?? [], await value.data())],
      ['logits', relativeError(ours.logits?.data ?? [], await logits.data())],
    ];
    for (const p of vit.params) {
      const g = grads[p.name];
      errors.push([`grad:${p.name}`, g ? relativeError(ours[`grad:${p.name}`]?.data ?? [], await g.data()) : Infinity]);
    }
    value.dispose();
    logits.dispose();
    for (const g of Object.values(grads)) g.dispose();
    const worst = errors.reduce((a, b) => (b[1] > a[1] ? b : a));
    const loss = ours.loss?.data[0] ?? NaN;
    if (!(worst[1] <= tolerance))
      throw new Error(`vitm and TensorFlow.js disagree on the tiny ViT: ${worst[0]} off by ${worst[1]} (relative)`);
    return `same network: loss ${loss.toFixed(4)}, worst relative difference ${worst[1].toExponential(1)} (${worst[0]}) over logits, loss and ${vit.params.length} gradients`;
  } finally {
    executor.dispose();
    net.dispose();
  }
}
