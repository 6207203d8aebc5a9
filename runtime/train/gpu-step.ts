/**
 * The part of a training step that follows the training graph, as GPU kernels recorded into the same compute pass
 * (the executor's `epilogue`), so a step is one submission and the host reads nothing back between steps:
 *
 *   1. metrics: adds the batch's loss, its number of correct predictions (arg-max of the logits, first maximum) and
 *      its size to an accumulator, and records the first step whose loss is not finite;
 *   2. global gradient norm: one workgroup per gradient sums its squares (a fixed-order tree, so the result is the
 *      same on every run), then one thread adds the partial sums in parameter order, takes the square root and
 *      computes the clipping factor `min(1, maxNorm / (norm + 1e-6))` (1 without clipping);
 *   3. the optimizer update of each trainable parameter, in place, with its state (`optimizer.ts` gives the formulas).
 *
 * The per-step constants (learning rate, bias corrections, weight decay factors, the step number) are one small
 * buffer written with `queue.writeBuffer` before the step's submission; everything else is bound once. Frozen
 * parameters are not part of any of this: no kernel writes them and they have no state.
 */
import { VitmRuntimeError } from '../errors.js';
import { BufferUsage, type GpuDevice } from '../webgpu/device.js';
import { getPipeline } from '../webgpu/pipeline-cache.js';
import { stateSlots, stepConstants, type OptimizerSpec } from './optimizer.js';

/** A trainable parameter as the update sees it: its buffer (updated in place) and its gradient's. */
export interface TrainableBuffers {
  readonly name: string;
  readonly elements: number;
  readonly param: GPUBuffer;
  readonly grad: GPUBuffer;
  /** Whether weight decay applies. */
  readonly decay: boolean;
}

/** The graph buffers the metrics kernel reads. */
export interface MetricBuffers {
  readonly loss: GPUBuffer;
  readonly logits: GPUBuffer;
  readonly labels: GPUBuffer;
  readonly batch: number;
  readonly classes: number;
}

/** Sums read back from the accumulator: over the steps since the last read. */
export interface StepMetrics {
  readonly steps: number;
  readonly lossSum: number;
  readonly correct: number;
  readonly count: number;
  readonly gradNormSum: number;
  /** The first step (1-based) whose loss was not finite, if any. */
  readonly nonFiniteStep: number | undefined;
}

const WORKGROUP = 256;
/** Update kernels loop over the elements, so a grid never exceeds this many workgroups. */
const MAX_UPDATE_GROUPS = 4096;
/** The per-step constants: 8 floats per parameter group (with decay, without), then the step number. */
const HYPER_FLOATS = 24;
const ACC_FLOATS = 8;

const NON_FINITE = `fn nonFinite(x: f32) -> bool { return (bitcast<u32>(x) & 0x7f800000u) == 0x7f800000u; }`;

const METRICS_WGSL = `
struct Params { batch: u32, classes: u32, pad0: u32, pad1: u32 }
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> hyper: array<f32>;
@group(0) @binding(2) var<storage, read> loss: array<f32>;
@group(0) @binding(3) var<storage, read> logits: array<f32>;
@group(0) @binding(4) var<storage, read> labels: array<i32>;
@group(0) @binding(5) var<storage, read_write> acc: array<f32>;
var<workgroup> hits: array<u32, 64>;
${NON_FINITE}
@compute @workgroup_size(64)
fn main(@builtin(local_invocation_index) lid: u32) {
  var correct = 0u;
  for (var r = lid; r < params.batch; r += 64u) {
    let base = r * params.classes;
    var best = 0u;
    var top = logits[base];
    for (var c = 1u; c < params.classes; c++) {
      let v = logits[base + c];
      if (v > top) { top = v; best = c; }
    }
    if (i32(best) == labels[r]) { correct += 1u; }
  }
  hits[lid] = correct;
  workgroupBarrier();
  for (var s = 32u; s > 0u; s >>= 1u) {
    if (lid < s) { hits[lid] += hits[lid + s]; }
    workgroupBarrier();
  }
  if (lid == 0u) {
    let l = loss[0];
    acc[0] += l;
    acc[1] += f32(hits[0]);
    acc[2] += f32(params.batch);
    acc[5] += 1.0;
    if (nonFinite(l) && acc[4] == 0.0) { acc[4] = hyper[16]; }
  }
}`;

const SUMSQ_WGSL = `
struct Params { n: u32, slot: u32, pad0: u32, pad1: u32 }
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> grad: array<f32>;
@group(0) @binding(2) var<storage, read_write> partials: array<f32>;
var<workgroup> sums: array<f32, ${WORKGROUP}>;
@compute @workgroup_size(${WORKGROUP})
fn main(@builtin(local_invocation_index) lid: u32) {
  var s = 0.0;
  for (var i = lid; i < params.n; i += ${WORKGROUP}u) {
    let g = grad[i];
    s += g * g;
  }
  sums[lid] = s;
  workgroupBarrier();
  for (var k = ${WORKGROUP / 2}u; k > 0u; k >>= 1u) {
    if (lid < k) { sums[lid] += sums[lid + k]; }
    workgroupBarrier();
  }
  if (lid == 0u) { partials[params.slot] = sums[0]; }
}`;

const FINALIZE_WGSL = `
struct Params { count: u32, pad0: u32, pad1: u32, pad2: u32 }
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> hyper: array<f32>;
@group(0) @binding(2) var<storage, read> partials: array<f32>;
@group(0) @binding(3) var<storage, read_write> clip: array<f32>;
@group(0) @binding(4) var<storage, read_write> acc: array<f32>;
@compute @workgroup_size(1)
fn main() {
  var s = 0.0;
  for (var i = 0u; i < params.count; i++) { s += partials[i]; }
  let norm = sqrt(s);
  let maxNorm = hyper[17];
  var scale = 1.0;
  if (maxNorm > 0.0) { scale = min(1.0, maxNorm / (norm + 1e-6)); }
  clip[0] = norm;
  clip[1] = scale;
  acc[3] += norm;
}`;

/** The update kernel of an optimizer kind; `withState` is false only for SGD without momentum. */
function updateWgsl(spec: OptimizerSpec): string {
  const slots = stateSlots(spec).length;
  const stateDecls = Array.from(
    { length: slots },
    (_, k) => `@group(0) @binding(${5 + k}) var<storage, read_write> s${k}: array<f32>;`,
  ).join('\n');
  let body: string;
  if (spec.kind === 'sgd') {
    body =
      slots === 0
        ? `    let g = grad[i] * scale + h[1] * p;
    param[i] = p - h[0] * g;`
        : `    var g = grad[i] * scale + h[1] * p;
    let b = h[2] * s0[i] + g;
    s0[i] = b;
    if (h[3] != 0.0) { g = g + h[2] * b; } else { g = b; }
    param[i] = p - h[0] * g;`;
  } else {
    body = `    let g = grad[i] * scale + h[3] * p;
    let m = h[5] * s0[i] + (1.0 - h[5]) * g;
    let v = h[6] * s1[i] + (1.0 - h[6]) * g * g;
    s0[i] = m;
    s1[i] = v;
    param[i] = p * h[2] - (h[0] * m) / (sqrt(v) / h[1] + h[4]);`;
  }
  return `
struct Params { n: u32, group: u32, stride: u32, pad0: u32 }
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> hyper: array<f32>;
@group(0) @binding(2) var<storage, read> clip: array<f32>;
@group(0) @binding(3) var<storage, read_write> param: array<f32>;
@group(0) @binding(4) var<storage, read> grad: array<f32>;
${stateDecls}
@compute @workgroup_size(${WORKGROUP})
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let base = params.group * 8u;
  var h: array<f32, 8>;
  for (var k = 0u; k < 8u; k++) { h[k] = hyper[base + k]; }
  let scale = clip[1];
  for (var i = gid.x; i < params.n; i += params.stride) {
    let p = param[i];
${body}
  }
}`;
}

interface Dispatch {
  readonly pipeline: GPUComputePipeline;
  readonly bindGroup: GPUBindGroup;
  readonly groups: number;
}

const STORAGE = BufferUsage.STORAGE | BufferUsage.COPY_SRC | BufferUsage.COPY_DST;

/** The kernels after the training graph, bound to one executor's buffers. */
export class TrainStepKernels {
  private readonly owned: GPUBuffer[] = [];
  private readonly dispatches: Dispatch[] = [];
  private readonly hyper: GPUBuffer;
  private readonly acc: GPUBuffer;
  /** Optimizer state, by parameter name, one buffer per slot (in `stateSlots` order). */
  private readonly state = new Map<string, GPUBuffer[]>();
  private readonly hostHyper = new Float32Array(HYPER_FLOATS);

  private constructor(
    private readonly gpu: GpuDevice,
    readonly spec: OptimizerSpec,
    readonly params: readonly TrainableBuffers[],
    readonly maxGradNorm: number,
  ) {
    this.hyper = this.buffer('vitm:train:hyper', HYPER_FLOATS * 4);
    this.acc = this.buffer('vitm:train:metrics', ACC_FLOATS * 4);
  }

  /** Compiles the kernels and binds them to the parameters, gradients and metric buffers. */
  static async create(
    gpu: GpuDevice,
    spec: OptimizerSpec,
    params: readonly TrainableBuffers[],
    metrics: MetricBuffers,
    maxGradNorm = 0,
  ): Promise<TrainStepKernels> {
    const k = new TrainStepKernels(gpu, spec, params, maxGradNorm);
    try {
      await k.bind(metrics);
    } catch (error) {
      k.dispose();
      throw error;
    }
    return k;
  }

  private buffer(label: string, bytes: number): GPUBuffer {
    const b = this.gpu.createBuffer(label, bytes, STORAGE);
    this.owned.push(b);
    return b;
  }

  private uniform(label: string, words: readonly number[]): GPUBuffer {
    const b = this.gpu.upload(label, Uint32Array.from(words), BufferUsage.UNIFORM);
    this.owned.push(b);
    return b;
  }

  private async bind(metrics: MetricBuffers): Promise<void> {
    const gpu = this.gpu;
    const label = (kernel: string): { kernel: string; source: string } => ({ kernel, source: 'training step' });
    const [metricsPipeline, sumsqPipeline, finalizePipeline, updatePipeline] = await Promise.all([
      getPipeline(gpu, label('train_metrics'), METRICS_WGSL),
      getPipeline(gpu, label('grad_sumsq'), SUMSQ_WGSL),
      getPipeline(gpu, label('grad_norm'), FINALIZE_WGSL),
      getPipeline(gpu, label(`${this.spec.kind}_update`), updateWgsl(this.spec)),
    ]);
    const group = (pipeline: GPUComputePipeline, name: string, buffers: GPUBuffer[]): Promise<GPUBindGroup> =>
      gpu.scoped(label(name), (d) =>
        d.createBindGroup({
          label: name,
          layout: pipeline.getBindGroupLayout(0),
          entries: buffers.map((buffer, binding) => ({ binding, resource: { buffer } })),
        }),
      );
    const partials = this.buffer('vitm:train:grad-partials', Math.max(1, this.params.length) * 4);
    const clip = this.buffer('vitm:train:clip', 8);

    this.dispatches.push({
      pipeline: metricsPipeline,
      bindGroup: await group(metricsPipeline, 'train_metrics', [
        this.uniform('train_metrics:params', [metrics.batch, metrics.classes, 0, 0]),
        this.hyper,
        metrics.loss,
        metrics.logits,
        metrics.labels,
        this.acc,
      ]),
      groups: 1,
    });
    for (const [slot, p] of this.params.entries()) {
      this.dispatches.push({
        pipeline: sumsqPipeline,
        bindGroup: await group(sumsqPipeline, `grad_sumsq:${p.name}`, [
          this.uniform(`grad_sumsq:${p.name}:params`, [p.elements, slot, 0, 0]),
          p.grad,
          partials,
        ]),
        groups: 1,
      });
    }
    this.dispatches.push({
      pipeline: finalizePipeline,
      bindGroup: await group(finalizePipeline, 'grad_norm', [
        this.uniform('grad_norm:params', [this.params.length, 0, 0, 0]),
        this.hyper,
        partials,
        clip,
        this.acc,
      ]),
      groups: 1,
    });
    const slots = stateSlots(this.spec);
    for (const p of this.params) {
      const state = slots.map((s) => this.buffer(`vitm:train:${p.name}.${s}`, p.elements * 4));
      this.state.set(p.name, state);
      const groups = Math.max(1, Math.min(MAX_UPDATE_GROUPS, Math.ceil(p.elements / WORKGROUP)));
      this.dispatches.push({
        pipeline: updatePipeline,
        bindGroup: await group(updatePipeline, `update:${p.name}`, [
          this.uniform(`update:${p.name}:params`, [p.elements, p.decay ? 0 : 1, groups * WORKGROUP, 0]),
          this.hyper,
          clip,
          p.param,
          p.grad,
          ...state,
        ]),
        groups,
      });
    }
  }

  /** Writes the constants of step `step` (1-based) with learning rate `lr`; call before recording the step. */
  prepareStep(step: number, lr: number): void {
    this.hostHyper.set(stepConstants(this.spec, lr, step, true), 0);
    this.hostHyper.set(stepConstants(this.spec, lr, step, false), 8);
    this.hostHyper[16] = step;
    this.hostHyper[17] = this.maxGradNorm;
    this.gpu.device.queue.writeBuffer(this.hyper, 0, this.hostHyper);
  }

  /** Records the metrics, the gradient norm and the updates into the step's compute pass. */
  encode(pass: GPUComputePassEncoder): void {
    for (const d of this.dispatches) {
      pass.setPipeline(d.pipeline);
      pass.setBindGroup(0, d.bindGroup);
      pass.dispatchWorkgroups(d.groups);
    }
  }

  /** Reads the metric sums since the last read (after all submitted steps) and starts new sums. */
  async readMetrics(): Promise<StepMetrics> {
    const a = new Float32Array(await this.gpu.read(this.acc, ACC_FLOATS * 4));
    this.gpu.device.queue.writeBuffer(this.acc, 0, new Float32Array(ACC_FLOATS));
    const nonFinite = a[4] ?? 0;
    return {
      lossSum: a[0] ?? 0,
      correct: a[1] ?? 0,
      count: a[2] ?? 0,
      gradNormSum: a[3] ?? 0,
      steps: a[5] ?? 0,
      nonFiniteStep: nonFinite > 0 ? nonFinite : undefined,
    };
  }

  /** The optimizer state, as `<parameter>.<slot>` float32 tensors. */
  async readState(): Promise<Map<string, Float32Array>> {
    const out = new Map<string, Float32Array>();
    const slots = stateSlots(this.spec);
    for (const p of this.params) {
      const buffers = this.state.get(p.name) ?? [];
      for (const [k, b] of buffers.entries())
        out.set(`${p.name}.${slots[k] ?? ''}`, await this.gpu.readFloat32(b, p.elements));
    }
    return out;
  }

  /** Writes optimizer state read from a checkpoint; every slot of every trainable parameter must be there. */
  writeState(state: ReadonlyMap<string, Float32Array>): void {
    const slots = stateSlots(this.spec);
    for (const p of this.params) {
      const buffers = this.state.get(p.name) ?? [];
      for (const [k, b] of buffers.entries()) {
        const name = `${p.name}.${slots[k] ?? ''}`;
        const values = state.get(name);
        if (values?.length !== p.elements)
          throw new VitmRuntimeError(
            'VT6015',
            `the checkpoint's optimizer state has no tensor '${name}' of ${p.elements} elements`,
            'resume with the optimizer the run was started with',
          );
        this.gpu.device.queue.writeBuffer(b, 0, new Float32Array(values));
      }
    }
  }

  dispose(): void {
    this.owned.forEach((b) => {
      b.destroy();
    });
    this.owned.length = 0;
  }
}
