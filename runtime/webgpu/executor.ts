/**
 * The graph executor: runs a whole IR graph (a forward graph or its gradient graph) on a `GpuDevice`.
 *
 * For each binding of the shape symbols (e.g. `{ B: 8 }`) the graph is lowered once (`planGraph`: every equation to
 * WGSL kernels or a matmul of the tuned family) and prepared once: the memory plan (`planMemory`) maps values and
 * scratch buffers onto slots reused across disjoint lifetimes, one GPUBuffer per slot; then constant uploads,
 * pipelines from the pipeline cache, uniform blocks and bind groups. A run writes only the inputs it is given,
 * records every kernel into one command encoder (one compute pass, no readback between ops) followed by copies of
 * the requested outputs into host staging buffers, submits once, and maps the staging buffers.
 *
 * Inputs are resident: the memory plan pins them, so a value written once (by `setInputs`, or by an earlier run)
 * stays on the device until it is written again. A training loop sets the parameters once and passes only the data
 * and labels to each run. The executor remembers the latest host value of each input, so a binding prepared later
 * (another batch size) is brought up to date before its first run. Staging buffers come from a pool per size and
 * are reused, so after the first run of a binding a run creates no buffer. Runs of one executor share its buffers:
 * await each run before starting the next.
 *
 * Errors: preparing a kernel (WGSL compilation, bind groups) happens inside the device's error scopes labelled with
 * the kernel's name and its equation and `.vitm` span. If the single submission of a run raises an error, the run is
 * replayed one kernel per submission to find and name the kernel that fails.
 */

import type { Graph } from '../../compiler/ir/graph.js';
import {
  describeOrigin,
  matmulEpilogueOf,
  type BufferRef,
  type KernelPlan,
  type PlannedStep,
} from '../../compiler/codegen/kernel.js';
import type { MatmulConfig } from '../../compiler/codegen/wgsl/matmul.js';
import type { DeviceCaps } from '../../compiler/codegen/wgsl/ops/common.js';
import { planGraph, type PlanOptions } from '../../compiler/codegen/wgsl/ops/plan.js';
import {
  BufferTooLargeError,
  graphRoles,
  planMemory,
  slotOf,
  type MemoryPlan,
} from '../../compiler/codegen/plan-memory.js';
import { encodeValues } from '../../compiler/codegen/wgsl/ops/encode.js';
import { byteSize, evalShape, type DType, type SymbolValues } from '../../compiler/types/shape.js';
import type { WorkLabel } from '../errors.js';
import { VitmRuntimeError } from '../errors.js';
import { BufferUsage, type GpuDevice } from './device.js';
import { configFits, prepareMatmul, subgroupSize, type MatmulShape } from './matmul.js';
import { getPipeline } from './pipeline-cache.js';
import { CANDIDATE_CONFIGS } from './tuning.js';
import { deviceWait } from './waits.js';

/** A host tensor: row-major elements as numbers (bool as 0/1). */
export interface HostTensor {
  readonly dtype: DType;
  readonly shape: readonly number[];
  readonly data: ArrayLike<number>;
}

/** A result read back from the device (elements as float64, like the reference interpreter's tensors). */
export interface ResultTensor {
  readonly dtype: DType;
  readonly shape: readonly number[];
  readonly data: Float64Array;
}

export interface ExecutorOptions {
  /**
   * The matmul tile for a problem: by default the first candidate of `CANDIDATE_CONFIGS` that fits the device (pass
   * `(shape) => selectMatmulConfig(gpu, shape)` to tune by measurement).
   */
  readonly matmulConfig?: (shape: MatmulShape) => MatmulConfig | Promise<MatmulConfig>;
  /** How the graph is lowered (default `planGraph`); a hook for tests and later passes (fusion, memory plan). */
  readonly lower?: (graph: Graph, options: PlanOptions) => KernelPlan;
  /** Share buffers between values whose lifetimes do not overlap (default true; false: one buffer per value). */
  readonly reuse?: boolean;
  /** Optimizer state bytes per trainable parameter element, counted in the memory report (default 0). */
  readonly stateBytesPerParameterElement?: number;
  /**
   * Inputs held in buffers the caller owns (e.g. an evaluation graph reading the parameters a training executor
   * updates in place): the executor binds these buffers instead of allocating its own, never writes them, and treats
   * their values as present. Each must be at least as large as the input.
   */
  readonly externalInputs?: ReadonlyMap<string, GPUBuffer>;
}

export interface RunOptions {
  readonly symbols?: SymbolValues;
  /** Which outputs to read back (default all). */
  readonly outputs?: readonly string[];
  /**
   * More work recorded into the run's compute pass after the graph's kernels (e.g. an optimizer update reading the
   * gradients, which are pinned); dispatches in one pass see each other's writes in order.
   */
  readonly epilogue?: (pass: GPUComputePassEncoder) => void;
}

/** A step bound to its buffers, ready to record. */
interface BoundStep {
  readonly label: WorkLabel;
  encode(pass: GPUComputePassEncoder): void;
}

/** A plan with its buffers, pipelines and bind groups: prepared once per symbol binding, run many times. */
interface Prepared {
  readonly plan: KernelPlan;
  readonly memory: MemoryPlan;
  readonly symbols: SymbolValues;
  /** One buffer per memory slot. */
  readonly slots: GPUBuffer[];
  readonly steps: BoundStep[];
  readonly owned: Disposable[];
  /** The version of each input's value held on the device (see `GraphExecutor.resident`). */
  readonly written: Map<string, number>;
  /** Host memory each input is encoded into before it is written, by input name (allocated on first write). */
  readonly hostStaging: Map<string, ArrayBuffer>;
}

/** The latest host value of an input and its version (incremented on every write). */
interface ResidentInput {
  readonly tensor: HostTensor;
  readonly version: number;
}

/** Something to release with the plan: a buffer, or a bound matmul's uniform block. */
interface Disposable {
  destroy(): void;
}

/** The WorkLabel of a step: its kernel's name and where it came from. */
export function stepLabel(step: PlannedStep): WorkLabel {
  return { kernel: step.name, source: describeOrigin(step.origin) };
}

export function deviceCaps(gpu: GpuDevice): DeviceCaps {
  const lanes = subgroupSize(gpu);
  return {
    maxWorkgroupsPerDimension: gpu.limit('maxComputeWorkgroupsPerDimension'),
    shaderF16: gpu.features.has('shader-f16'),
    ...(lanes === undefined ? {} : { subgroupSize: lanes }),
  };
}

function defaultMatmulConfig(gpu: GpuDevice): MatmulConfig {
  const config = CANDIDATE_CONFIGS.find((c) => configFits(gpu, c));
  if (!config) throw new VitmRuntimeError('VT6002', 'no matmul tile fits this device');
  return config;
}

const STORAGE_USAGE = BufferUsage.STORAGE | BufferUsage.COPY_SRC | BufferUsage.COPY_DST;
const MAP_MODE_READ = 0x0001;

/** Decodes a buffer's bytes of `dtype` into float64 numbers. */
export function decodeValues(bytes: ArrayBuffer, dtype: DType, elements: number): Float64Array {
  switch (dtype) {
    case 'f32':
      return Float64Array.from(new Float32Array(bytes, 0, elements));
    case 'i32':
      return Float64Array.from(new Int32Array(bytes, 0, elements));
    case 'u32':
    case 'bool':
      return Float64Array.from(new Uint32Array(bytes, 0, elements));
    case 'f16': {
      const view = new DataView(bytes);
      return Float64Array.from({ length: elements }, (_, i) => halfToNumber(view.getUint16(i * 2, true)));
    }
  }
}

function halfToNumber(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant ? NaN : sign * Infinity;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

/**
 * The bytes of `tensor` in its dtype's storage layout, padded to whole words, encoded into the host buffer kept for
 * input `name` (f32, i32, u32 and bool; f16 is encoded afresh).
 */
function encodeInput(tensor: HostTensor, staging: Map<string, ArrayBuffer>, name: string): Uint8Array {
  const n = tensor.data.length;
  const words = Math.ceil((n * byteSize(tensor.dtype)) / 4);
  if (tensor.dtype === 'f16') {
    const bytes = encodeValues(Array.from(tensor.data), 'f16');
    const padded = new Uint8Array(words * 4);
    padded.set(bytes);
    return padded;
  }
  let host = staging.get(name);
  if (host?.byteLength !== words * 4) staging.set(name, (host = new ArrayBuffer(words * 4)));
  const data = tensor.data;
  switch (tensor.dtype) {
    case 'f32':
      new Float32Array(host).set(data);
      break;
    case 'i32': {
      const out = new Int32Array(host);
      for (let i = 0; i < n; i++) out[i] = Math.trunc(data[i] as number) | 0;
      break;
    }
    case 'u32': {
      const out = new Uint32Array(host);
      for (let i = 0; i < n; i++) out[i] = Math.trunc(data[i] as number) >>> 0;
      break;
    }
    case 'bool': {
      const out = new Uint32Array(host);
      for (let i = 0; i < n; i++) out[i] = data[i] !== 0 ? 1 : 0;
      break;
    }
  }
  return new Uint8Array(host);
}

export class GraphExecutor {
  private readonly prepared = new Map<string, Promise<Prepared>>();
  /** The latest host value of each input written through this executor, by input name. */
  private readonly resident = new Map<string, ResidentInput>();
  private version = 0;
  /** Idle host staging buffers for readback, by byte size. */
  private readonly staging = new Map<number, GPUBuffer[]>();

  constructor(
    readonly gpu: GpuDevice,
    readonly graph: Graph,
    private readonly options: ExecutorOptions = {},
  ) {}

  /** The kernel plan for a binding of the symbols (lowered once, cached with its buffers). */
  async plan(symbols: SymbolValues = {}): Promise<KernelPlan> {
    return (await this.prepare(symbols)).plan;
  }

  /** The memory plan for a binding of the symbols: its slots and its report (peak bytes, lower bound). */
  async memory(symbols: SymbolValues = {}): Promise<MemoryPlan> {
    return (await this.prepare(symbols)).memory;
  }

  /** The device buffer holding input `name` for a binding of the symbols (resident between runs). */
  async inputBuffer(name: string, symbols: SymbolValues = {}): Promise<GPUBuffer> {
    const input = this.graph.inputs.find((i) => i.name === name);
    if (!input) throw new RangeError(`the graph has no input named '${name}'`);
    return this.bufferOf(await this.prepare(symbols), input.value.id, `input '${name}'`);
  }

  /**
   * The device buffer holding output `name` for a binding of the symbols. Gradients are pinned, so an epilogue may
   * read them; other outputs hold their value from the end of a run until the next run starts.
   */
  async outputBuffer(name: string, symbols: SymbolValues = {}): Promise<GPUBuffer> {
    const output = this.graph.outputs.find((o) => o.name === name);
    if (!output) throw new RangeError(`the graph has no output named '${name}'`);
    return this.bufferOf(await this.prepare(symbols), output.value.id, `output '${name}'`);
  }

  private bufferOf(prepared: Prepared, id: number, what: string): GPUBuffer {
    const root = prepared.plan.aliases.get(id) ?? id;
    const buffer = prepared.slots[slotOf(prepared.memory, prepared.plan, { kind: 'value', id: root })];
    if (!buffer) throw new RangeError(`${what} has no buffer`);
    return buffer;
  }

  /**
   * Writes input values (typically the parameters) to the device for the binding `options.symbols`; they stay
   * resident, so later runs need not pass them. Other bindings receive them before their next run.
   */
  async setInputs(
    inputs: Readonly<Record<string, HostTensor>>,
    options: Pick<RunOptions, 'symbols'> = {},
  ): Promise<void> {
    const prepared = await this.prepare(options.symbols ?? {});
    this.writeInputs(prepared, inputs, false);
  }

  /**
   * Runs the graph and returns the requested outputs. `inputs` needs only the inputs that changed since the last
   * write (by `setInputs` or an earlier run); every input must have been given a value once.
   */
  async run(
    inputs: Readonly<Record<string, HostTensor>>,
    options: RunOptions = {},
  ): Promise<Record<string, ResultTensor>> {
    const symbols = options.symbols ?? {};
    const prepared = await this.prepare(symbols);
    this.writeInputs(prepared, inputs, true);
    const wanted = options.outputs ?? this.graph.outputs.map((o) => o.name);
    const reads = wanted.map((name) => {
      const output = this.graph.outputs.find((o) => o.name === name);
      if (!output) throw new RangeError(`the graph has no output named '${name}'`);
      const id = prepared.plan.aliases.get(output.value.id) ?? output.value.id;
      const spec = prepared.plan.values.get(id);
      const buffer = prepared.slots[slotOf(prepared.memory, prepared.plan, { kind: 'value', id })];
      if (!buffer || !spec) throw new RangeError(`output '${name}' has no buffer`);
      const bytes = spec.elements * byteSize(spec.dtype);
      return { name, output, spec, buffer, bytes, size: Math.max(4, Math.ceil(bytes / 4) * 4) };
    });
    const staged = reads.map((r) => this.takeStaging(r.size));
    try {
      try {
        await this.gpu.scoped({ kernel: 'graph', source: `${prepared.steps.length} kernels` }, (d) => {
          const encoder = d.createCommandEncoder({ label: 'vitm:graph' });
          const pass = encoder.beginComputePass({ label: 'vitm:graph' });
          for (const step of prepared.steps) step.encode(pass);
          options.epilogue?.(pass);
          pass.end();
          reads.forEach((r, i) => {
            encoder.copyBufferToBuffer(r.buffer, 0, staged[i] as GPUBuffer, 0, r.size);
          });
          d.queue.submit([encoder.finish()]);
        });
      } catch (error) {
        await this.localise(prepared);
        throw error;
      }
      await deviceWait(() => Promise.all(staged.map((b) => b.mapAsync(MAP_MODE_READ)))).catch((cause: unknown) => {
        this.gpu.assertHealthy();
        throw cause;
      });
      const result: Record<string, ResultTensor> = {};
      reads.forEach((r, i) => {
        const buffer = staged[i] as GPUBuffer;
        const bytes = buffer.getMappedRange(0, r.size).slice(0, r.bytes);
        buffer.unmap();
        result[r.name] = {
          dtype: r.output.value.type.dtype,
          shape: evalShape(r.output.value.type.shape, symbols),
          data: decodeValues(bytes, r.spec.dtype, r.spec.elements),
        };
      });
      return result;
    } finally {
      staged.forEach((b) => {
        this.returnStaging(b);
      });
    }
  }

  /** Releases every buffer this executor allocated. */
  dispose(): void {
    for (const p of this.prepared.values())
      void p.then(
        (prepared) => {
          prepared.owned.forEach((b) => {
            b.destroy();
          });
        },
        () => undefined,
      );
    this.prepared.clear();
    for (const pool of this.staging.values())
      pool.forEach((b) => {
        b.destroy();
      });
    this.staging.clear();
  }

  /**
   * Writes `inputs` into their buffers, then any input whose latest value this binding has not seen yet; with
   * `complete`, every input must then hold a value.
   */
  private writeInputs(prepared: Prepared, inputs: Readonly<Record<string, HostTensor>>, complete: boolean): void {
    const known = new Set(this.graph.inputs.map((i) => i.name));
    const external = this.options.externalInputs;
    for (const name of Object.keys(inputs)) {
      if (!known.has(name)) throw new RangeError(`the graph has no input named '${name}'`);
      if (external?.has(name)) throw new RangeError(`input '${name}' is held in an external buffer`);
    }
    for (const input of this.graph.inputs) {
      if (external?.has(input.name)) continue;
      const given = inputs[input.name];
      const shape = evalShape(input.value.type.shape, prepared.symbols);
      const fits = (t: HostTensor): boolean =>
        t.dtype === input.value.type.dtype &&
        t.shape.length === shape.length &&
        t.shape.every((d, i) => d === shape[i]);
      if (given !== undefined && !fits(given))
        throw new RangeError(
          `input '${input.name}' is ${given.dtype}[${given.shape.join(', ')}] but the graph expects ${input.value.type.dtype}[${shape.join(', ')}]`,
        );
      let version: number;
      let tensor: HostTensor;
      if (given !== undefined) {
        version = ++this.version;
        tensor = given;
        this.resident.set(input.name, { tensor, version });
      } else {
        const latest = this.resident.get(input.name);
        const held = prepared.written.get(input.name);
        if (latest && held !== undefined && held >= latest.version) continue;
        if (held !== undefined && (!latest || !fits(latest.tensor))) continue;
        if (!latest || !fits(latest.tensor)) {
          if (!complete) continue;
          throw new RangeError(`no value for input '${input.name}'`);
        }
        ({ tensor, version } = latest);
      }
      const buffer = prepared.slots[slotOf(prepared.memory, prepared.plan, { kind: 'value', id: input.value.id })];
      if (!buffer) throw new RangeError(`input '${input.name}' has no buffer`);
      const bytes = encodeInput(tensor, prepared.hostStaging, input.name);
      if (bytes.byteLength > 0)
        this.gpu.device.queue.writeBuffer(buffer, 0, bytes.buffer, bytes.byteOffset, bytes.byteLength);
      prepared.written.set(input.name, version);
    }
  }

  /** An idle staging buffer of `size` bytes from the pool, or a new one the first time. */
  private takeStaging(size: number): GPUBuffer {
    const idle = this.staging.get(size)?.pop();
    return idle ?? this.gpu.createBuffer(`vitm:readback:${size}`, size, BufferUsage.MAP_READ | BufferUsage.COPY_DST);
  }

  private returnStaging(buffer: GPUBuffer): void {
    if (buffer.mapState !== 'unmapped') buffer.unmap();
    let pool = this.staging.get(buffer.size);
    if (!pool) this.staging.set(buffer.size, (pool = []));
    pool.push(buffer);
  }

  /** Submits the steps one by one inside error scopes, so the failing kernel is named; throws its error. */
  private async localise(prepared: Prepared): Promise<void> {
    for (const step of prepared.steps) {
      await this.gpu.scoped(step.label, (d) => {
        const encoder = d.createCommandEncoder({ label: step.label.kernel });
        const pass = encoder.beginComputePass({ label: step.label.kernel });
        step.encode(pass);
        pass.end();
        d.queue.submit([encoder.finish()]);
      });
    }
  }

  private prepare(symbols: SymbolValues): Promise<Prepared> {
    const key = JSON.stringify(Object.entries(symbols).sort(([a], [b]) => (a < b ? -1 : 1)));
    let p = this.prepared.get(key);
    if (!p) {
      p = this.build(symbols);
      this.prepared.set(key, p);
      p.catch(() => this.prepared.delete(key));
    }
    return p;
  }

  private async build(symbols: SymbolValues): Promise<Prepared> {
    const gpu = this.gpu;
    const lower = this.options.lower ?? planGraph;
    const plan = lower(this.graph, { symbols, caps: deviceCaps(gpu) });
    const maxBindingBytes = Math.min(gpu.limit('maxStorageBufferBindingSize'), gpu.limit('maxBufferSize'));
    let memory: MemoryPlan;
    try {
      memory = planMemory(plan, graphRoles(this.graph), {
        maxBindingBytes,
        reuse: this.options.reuse ?? true,
        stateBytesPerParameterElement: this.options.stateBytesPerParameterElement ?? 0,
      });
    } catch (error) {
      if (error instanceof BufferTooLargeError)
        throw new VitmRuntimeError('VT6005', error.message, 'use a smaller batch or model', { cause: error });
      throw error;
    }
    const owned: Disposable[] = [];
    try {
      const externalSlots = new Map<number, GPUBuffer>();
      for (const [name, buffer] of this.options.externalInputs ?? []) {
        const input = this.graph.inputs.find((i) => i.name === name);
        if (!input) throw new RangeError(`the graph has no input named '${name}' to bind to an external buffer`);
        const index = slotOf(memory, plan, { kind: 'value', id: input.value.id });
        const slot = memory.slots[index];
        if (slot?.members.length !== 1 || buffer.size < slot.bytes)
          throw new RangeError(`input '${name}' cannot use an external buffer of ${buffer.size} bytes`);
        externalSlots.set(index, buffer);
      }
      const slots = memory.slots.map((slot, index) => {
        const external = externalSlots.get(index);
        if (external) return external;
        const label = slot.members.length > 1 ? `${slot.label}+${slot.members.length - 1}` : slot.label;
        const buffer = gpu.createBuffer(label, slot.bytes, STORAGE_USAGE);
        owned.push(buffer);
        return buffer;
      });
      const resolve = (ref: BufferRef): GPUBuffer => {
        const b = slots[slotOf(memory, plan, ref)];
        if (!b) throw new RangeError(`no buffer for ${ref.kind} ${ref.kind === 'value' ? ref.id : ref.index}`);
        return b;
      };
      // Compile every distinct kernel concurrently (the cache shares one compilation per WGSL text), then bind.
      await Promise.all(
        plan.steps.flatMap((s) => (s.kind === 'wgsl' ? [getPipeline(gpu, stepLabel(s), s.wgsl, s.entryPoint)] : [])),
      );
      const steps: BoundStep[] = [];
      for (const step of plan.steps) {
        const bound = await this.bindStep(step, resolve, owned);
        if (bound) steps.push(bound);
      }
      return { plan, memory, symbols, slots, steps, owned, written: new Map(), hostStaging: new Map() };
    } catch (error) {
      owned.forEach((b) => {
        b.destroy();
      });
      throw error;
    }
  }

  private async bindStep(
    step: PlannedStep,
    resolve: (ref: BufferRef) => GPUBuffer,
    owned: Disposable[],
  ): Promise<BoundStep | undefined> {
    const gpu = this.gpu;
    const label = stepLabel(step);
    switch (step.kind) {
      case 'upload': {
        const target = resolve(step.target);
        await gpu.scoped(label, (d) => {
          const padded = new Uint8Array(Math.ceil(step.bytes.byteLength / 4) * 4);
          padded.set(step.bytes);
          if (padded.byteLength > 0) d.queue.writeBuffer(target, 0, padded.buffer, 0, padded.byteLength);
        });
        return undefined;
      }
      case 'wgsl': {
        const pipeline = await getPipeline(gpu, label, step.wgsl, step.entryPoint);
        const uniform = gpu.upload(`${step.name}:params`, Uint32Array.from(step.params), BufferUsage.UNIFORM);
        owned.push(uniform);
        const buffers = step.bindings.map((b) => resolve(b.buffer));
        const bindGroup = await gpu.scoped(label, (d) =>
          d.createBindGroup({
            label: step.name,
            layout: pipeline.getBindGroupLayout(0),
            entries: [uniform, ...buffers].map((buffer, binding) => ({ binding, resource: { buffer } })),
          }),
        );
        const [x, y, z] = step.grid;
        return {
          label,
          encode(pass) {
            pass.setPipeline(pipeline);
            pass.setBindGroup(0, bindGroup);
            pass.dispatchWorkgroups(x, y, z);
          },
        };
      }
      case 'matmul': {
        const shape: MatmulShape = step.problem;
        const config = await (this.options.matmulConfig?.(shape) ?? defaultMatmulConfig(gpu));
        const epilogue = matmulEpilogueOf(step.epilogue);
        const prepared = await prepareMatmul(gpu, shape, config, epilogue, step.rowSums !== undefined).catch(
          (error: unknown) => {
            if (error instanceof VitmRuntimeError) throw error;
            throw new VitmRuntimeError(
              'VT6004',
              `${String(error)} in kernel '${label.kernel}' (from ${label.source ?? ''})`,
            );
          },
        );
        const bound = await gpu.scoped(label, () =>
          prepared.bind({
            a: resolve(step.a),
            b: resolve(step.b),
            c: resolve(step.c),
            epilogueInputs: step.epilogue?.inputs.map((i) => resolve(i.buffer)) ?? [],
            ...(step.epilogue?.second ? { c2: resolve(step.epilogue.second.out) } : {}),
            ...(step.rowSums ? { sums: resolve(step.rowSums) } : {}),
          }),
        );
        owned.push({
          destroy: () => {
            bound.dispose();
          },
        });
        return {
          label: { ...label, kernel: prepared.label.kernel },
          encode: (pass) => {
            bound.encode(pass);
          },
        };
      }
    }
  }
}

/** One-off convenience: lowers, prepares and runs `graph` once, then releases its buffers. */
export async function runGraphOnGpu(
  gpu: GpuDevice,
  graph: Graph,
  inputs: Readonly<Record<string, HostTensor>>,
  options: RunOptions & ExecutorOptions = {},
): Promise<Record<string, ResultTensor>> {
  const executor = new GraphExecutor(gpu, graph, options);
  try {
    return await executor.run(inputs, options);
  } finally {
    executor.dispose();
  }
}
