/**
 * One device interface over every WebGPU implementation vitm runs on: Dawn in Node (`./node.ts`) and
 * `navigator.gpu` in a browser (`./browser.ts`). Both open a `GPU` object their own way and hand it to
 * `GpuDevice.open`, which requests the adapter's real limits and the optional features it has, turns device loss
 * and uncaptured errors into coded `VitmRuntimeError`s, and releases everything in `dispose()`.
 *
 * This file uses no Node or DOM API beyond WebGPU itself, so the same code runs in both places.
 */
import { deviceLostError, gpuError, noAdapterError, VitmRuntimeError, type WorkLabel } from '../errors.js';
import { deviceWait } from './waits.js';

export type Backend = 'dawn' | 'browser';

/** Optional features vitm uses when the adapter has them (kernels fall back when it does not). */
export const OPTIONAL_FEATURES = ['shader-f16', 'subgroups', 'timestamp-query'] as const;
export type OptionalFeature = (typeof OPTIONAL_FEATURES)[number];

/** The limits that decide how vitm tiles, packs and splits its kernels, in the order `vitm doctor` prints them. */
export const KEY_LIMITS = [
  'maxStorageBuffersPerShaderStage',
  'maxStorageBufferBindingSize',
  'maxBufferSize',
  'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupsPerDimension',
  'maxUniformBufferBindingSize',
  'minStorageBufferOffsetAlignment',
] as const;
export type KeyLimit = (typeof KEY_LIMITS)[number];

/** Buffer usage and map-mode flags (values fixed by the WebGPU spec; Node has no `GPUBufferUsage` global). */
export const BufferUsage = {
  MAP_READ: 0x0001,
  MAP_WRITE: 0x0002,
  COPY_SRC: 0x0004,
  COPY_DST: 0x0008,
  UNIFORM: 0x0040,
  STORAGE: 0x0080,
} as const;
const MAP_MODE_READ = 0x0001;

export interface AdapterDescription {
  readonly vendor: string;
  readonly architecture: string;
  readonly device: string;
  readonly description: string;
  readonly isFallbackAdapter: boolean;
  /** The sizes subgroups can have on this adapter (0 where the implementation does not say). */
  readonly subgroupMinSize: number;
  readonly subgroupMaxSize: number;
}

export interface OpenOptions {
  readonly powerPreference?: GPUPowerPreference;
  /** Leave these optional features off even where the adapter has them (to exercise fallbacks). */
  readonly disableFeatures?: readonly OptionalFeature[];
  /** Request WebGPU's default limits instead of the adapter's (to see how a model fits a weaker device). */
  readonly defaultLimits?: boolean;
  /**
   * Whether matmul kernels claim their tiles from a counter (`GpuDevice.claimTiles`). Default: on llvmpipe (lavapipe),
   * off elsewhere.
   */
  readonly claimTiles?: boolean;
}

type ErrorKind = 'validation' | 'out-of-memory' | 'internal';

function errorKind(error: GPUError): ErrorKind {
  const name = error.constructor.name;
  if (name === 'GPUOutOfMemoryError') return 'out-of-memory';
  if (name === 'GPUInternalError') return 'internal';
  return 'validation';
}

function describeAdapter(adapter: GPUAdapter): AdapterDescription {
  const info = adapter.info;
  return {
    vendor: info.vendor,
    architecture: info.architecture,
    device: info.device,
    description: info.description,
    // `isFallbackAdapter` moved from GPUAdapter to GPUAdapterInfo; read whichever the implementation has.
    isFallbackAdapter: Boolean(
      (info as { isFallbackAdapter?: boolean }).isFallbackAdapter ??
      (adapter as { isFallbackAdapter?: boolean }).isFallbackAdapter,
    ),
    subgroupMinSize: (info as { subgroupMinSize?: number }).subgroupMinSize ?? 0,
    subgroupMaxSize: (info as { subgroupMaxSize?: number }).subgroupMaxSize ?? 0,
  };
}

/** Whether the adapter is Mesa's llvmpipe (lavapipe), whose threads take fixed shares of a dispatch. */
export function isLlvmpipe(adapter: AdapterDescription): boolean {
  return /llvmpipe/i.test(`${adapter.device} ${adapter.description}`);
}

/** Every numeric limit the adapter reports (the WebGPU limit objects expose them as prototype getters). */
function readLimits(limits: GPUSupportedLimits): Record<string, number> {
  const out: Record<string, number> = {};
  for (const key in limits) {
    const value: unknown = (limits as unknown as Record<string, unknown>)[key];
    if (typeof value === 'number') out[key] = value;
  }
  return out;
}

export class GpuDevice {
  readonly backend: Backend;
  readonly adapter: AdapterDescription;
  /** The limits the device was created with: the adapter's own unless `defaultLimits` was asked for. */
  readonly limits: Readonly<Record<string, number>>;
  readonly features: ReadonlySet<OptionalFeature>;
  /**
   * Matmul kernels whose workgroup is one subgroup claim their tiles from a counter rather than by workgroup id
   * (`MatmulKernelSpec.claimTiles`). llvmpipe gives each of its threads a fixed share of a dispatch's workgroups, so
   * when one core is slowed by other work the other threads wait for it at the end of every dispatch; claimed tiles go
   * to whichever thread is free. On by default on llvmpipe only: GPUs schedule workgroups as they free up anyway, and
   * SwiftShader had not finished compiling the claiming loop around the element-by-element subgroup loads after 25 s.
   */
  readonly claimTiles: boolean;

  private counter: GPUBuffer | undefined;
  private gpuDevice: GPUDevice | undefined;
  private lostError: VitmRuntimeError | undefined;
  private readonly uncaptured: VitmRuntimeError[] = [];
  private readonly lostListeners = new Set<(error: VitmRuntimeError) => void>();
  private release: (() => void) | undefined;
  private disposed = false;

  private constructor(
    backend: Backend,
    adapter: AdapterDescription,
    device: GPUDevice,
    limits: Record<string, number>,
    features: ReadonlySet<OptionalFeature>,
    claimTiles: boolean,
    release: (() => void) | undefined,
  ) {
    this.backend = backend;
    this.adapter = adapter;
    this.gpuDevice = device;
    this.limits = limits;
    this.features = features;
    this.claimTiles = claimTiles;
    this.release = release;
    void device.lost.then((info) => {
      // Only dispose() destroys the device on purpose; anything else (driver reset, destroy() from outside) is a loss.
      if (this.disposed) return;
      const error = deviceLostError(info.reason, info.message);
      this.lostError = error;
      for (const listener of this.lostListeners) listener(error);
    });
    device.onuncapturederror = (event: GPUUncapturedErrorEvent) => {
      this.uncaptured.push(gpuError(errorKind(event.error), event.error.message));
    };
  }

  /**
   * Opens the adapter's device with its real limits and the optional features it has. `release` is called once by
   * `dispose()` to let go of the implementation (Dawn's instance keeps a Node process alive while referenced).
   */
  static async open(gpu: GPU, backend: Backend, options: OpenOptions = {}, release?: () => void): Promise<GpuDevice> {
    const adapter = await deviceWait(() =>
      gpu.requestAdapter({ powerPreference: options.powerPreference ?? 'high-performance' }),
    );
    if (!adapter) {
      release?.();
      throw noAdapterError(backend);
    }
    const disabled = new Set<string>(options.disableFeatures ?? []);
    const features = new Set<OptionalFeature>(
      OPTIONAL_FEATURES.filter((f) => adapter.features.has(f) && !disabled.has(f)),
    );
    const adapterLimits = readLimits(adapter.limits);
    let device: GPUDevice;
    try {
      device = await deviceWait(() =>
        adapter.requestDevice({
          label: 'vitm',
          requiredFeatures: [...features],
          ...(options.defaultLimits ? {} : { requiredLimits: adapterLimits }),
        }),
      );
    } catch (cause) {
      release?.();
      throw new VitmRuntimeError(
        'VT6002',
        `the adapter '${adapter.info.description || adapter.info.vendor}' refused to create a device: ${String(cause)}`,
        'update the GPU driver, or try `vitm doctor` to see the adapter and its limits',
        { cause },
      );
    }
    const limits = options.defaultLimits ? readLimits(device.limits) : adapterLimits;
    const description = describeAdapter(adapter);
    const claim = options.claimTiles ?? isLlvmpipe(description);
    return new GpuDevice(backend, description, device, limits, features, claim, release);
  }

  /** The underlying `GPUDevice`; throws the loss error if the device was lost, or if this was disposed. */
  get device(): GPUDevice {
    if (this.lostError) throw this.lostError;
    if (!this.gpuDevice) throw new VitmRuntimeError('VT6003', 'the WebGPU device was disposed and cannot be used');
    return this.gpuDevice;
  }

  /** The loss error, once the device has been lost (not by `dispose()`). */
  get lost(): VitmRuntimeError | undefined {
    return this.lostError;
  }

  limit(name: KeyLimit): number {
    const value = this.limits[name];
    if (value === undefined) throw new VitmRuntimeError('VT6002', `the device does not report the limit ${name}`);
    return value;
  }

  /** Calls `listener` if the device is lost (never after `dispose()`). Returns a function that unsubscribes. */
  onLost(listener: (error: VitmRuntimeError) => void): () => void {
    this.lostListeners.add(listener);
    return () => this.lostListeners.delete(listener);
  }

  /** Throws the first problem seen so far: device loss, or an error no scope captured. */
  assertHealthy(): void {
    if (this.lostError) throw this.lostError;
    const first = this.uncaptured.shift();
    if (first) throw first;
  }

  /**
   * Runs `work` (which records and submits GPU commands) inside validation, out-of-memory and internal error scopes,
   * and throws the first error as a coded `VitmRuntimeError` naming `label`'s kernel and source span.
   */
  async scoped<T>(label: WorkLabel, work: (device: GPUDevice) => T): Promise<T> {
    const device = this.device;
    device.pushErrorScope('internal');
    device.pushErrorScope('out-of-memory');
    device.pushErrorScope('validation');
    let outcome: { value: T } | { error: unknown };
    try {
      outcome = { value: work(device) };
    } catch (error) {
      outcome = { error };
    }
    const errors = await deviceWait(() =>
      Promise.all([device.popErrorScope(), device.popErrorScope(), device.popErrorScope()]),
    );
    const first = errors.find((e): e is GPUError => e !== null);
    if (first) throw gpuError(errorKind(first), first.message, label);
    if ('error' in outcome) throw outcome.error;
    this.assertHealthy();
    return outcome.value;
  }

  createBuffer(label: string, size: number, usage: number): GPUBuffer {
    // WebGPU requires sizes that are multiples of 4 for copies; round up so every caller gets a copyable buffer.
    return this.device.createBuffer({ label, size: Math.max(4, Math.ceil(size / 4) * 4), usage });
  }

  /** A new buffer holding `data`, with `usage` plus COPY_DST. */
  upload(label: string, data: ArrayBufferView, usage: number): GPUBuffer {
    const buffer = this.createBuffer(label, data.byteLength, usage | BufferUsage.COPY_DST);
    const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    // writeBuffer copies whole 4-byte words: pad a ragged tail with zeros (the buffer itself is already rounded up).
    const padded = bytes.byteLength % 4 === 0 ? bytes : new Uint8Array(buffer.size);
    if (padded !== bytes) padded.set(bytes);
    this.device.queue.writeBuffer(buffer, 0, padded.buffer, padded.byteOffset, padded.byteLength);
    return buffer;
  }

  /**
   * The counter that matmul kernels claiming their tiles share (`claimTiles`): one u32, zero between dispatches
   * (each dispatch's last claim resets it), created on first use. Dispatches that write the same storage buffer run
   * one after the other, so kernels can share it.
   */
  tileCounter(): GPUBuffer {
    this.counter ??= this.createBuffer('vitm:tile-counter', 4, BufferUsage.STORAGE | BufferUsage.COPY_SRC);
    return this.counter;
  }

  /** Copies `byteLength` bytes of `buffer` (which needs COPY_SRC) back to the host. */
  async read(buffer: GPUBuffer, byteLength: number = buffer.size): Promise<ArrayBuffer> {
    const device = this.device;
    const size = Math.ceil(byteLength / 4) * 4;
    const staging = device.createBuffer({
      label: `${buffer.label}:readback`,
      size,
      usage: BufferUsage.MAP_READ | BufferUsage.COPY_DST,
    });
    try {
      const encoder = device.createCommandEncoder({ label: 'vitm:readback' });
      encoder.copyBufferToBuffer(buffer, 0, staging, 0, size);
      device.queue.submit([encoder.finish()]);
      await deviceWait(() => staging.mapAsync(MAP_MODE_READ));
      return staging.getMappedRange(0, size).slice(0, byteLength);
    } catch (cause) {
      this.assertHealthy();
      throw cause;
    } finally {
      staging.destroy();
    }
  }

  async readFloat32(buffer: GPUBuffer, length: number): Promise<Float32Array> {
    return new Float32Array(await this.read(buffer, length * 4));
  }

  /** Destroys the device and lets go of the implementation, so a Node process can exit by itself. Idempotent. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.lostListeners.clear();
    const device = this.gpuDevice;
    this.gpuDevice = undefined;
    this.counter = undefined;
    if (device) {
      device.onuncapturederror = null;
      device.destroy();
    }
    const release = this.release;
    this.release = undefined;
    release?.();
  }
}
