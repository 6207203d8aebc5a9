/**
 * The two things a benchmark case times: vitm's own kernels on a `GpuDevice`, and TensorFlow.js's WebGPU backend
 * on a second Dawn device over the same adapter, in the same process.
 *
 * Every engine exposes the same contract, so the harness can interleave them: `once()` runs one iteration and waits
 * for its result (warm-up; it also sizes the batches), `batch(n)` runs n iterations back to back and waits for the
 * last result with a readback, returning the wall time. Both engines therefore pay exactly one readback per batch,
 * except vitm's ViT training step, which reads its gradients back every step (see `vit.ts`).
 */
import type { MatmulConfig } from '../compiler/codegen/wgsl/matmul.js';
import { BufferUsage, type GpuDevice } from '../runtime/webgpu/device.js';
import { matmulShape, prepareMatmul, submitMatmul, type BoundMatmul } from '../runtime/webgpu/matmul.js';
import { selectMatmulConfig } from '../runtime/webgpu/tuning.js';
import { deviceWait } from '../runtime/webgpu/waits.js';

export interface Engine {
  /** Runs one iteration and waits for it; seconds. */
  once(): Promise<number>;
  /** Runs `n` iterations and waits for the last one; seconds for all n. */
  batch(n: number): Promise<number>;
  dispose(): void;
  /** What ran, for the table (the tile vitm's tuner chose, say). */
  readonly detail: string;
}

const random = (n: number): Float32Array => Float32Array.from({ length: n }, () => Math.random() * 2 - 1);

export function describeConfig(c: MatmulConfig): string {
  const base = `${c.family} ${c.wgY}x${c.wgX}, ${c.tm}x${c.tn}/invocation`;
  return c.family === 'workgroup' ? `${base}, k${c.bk}` : base;
}

/** vitm's matmul of two random `size` x `size` matrices, with the tile the tuner picks for this device. */
export async function vitmMatmul(gpu: GpuDevice, size: number): Promise<Engine> {
  const shape = matmulShape(size, size, size);
  const config = await selectMatmulConfig(gpu, shape);
  const a = gpu.upload('bench:A', random(size * size), BufferUsage.STORAGE);
  const b = gpu.upload('bench:B', random(size * size), BufferUsage.STORAGE);
  const c = gpu.createBuffer('bench:C', size * size * 4, BufferUsage.STORAGE | BufferUsage.COPY_SRC);
  const prepared = await prepareMatmul(gpu, shape, config);
  const bound: BoundMatmul = await gpu.scoped(prepared.label, () => prepared.bind({ a, b, c }));
  const batch = async (n: number): Promise<number> => {
    const start = performance.now();
    submitMatmul(gpu, bound, n);
    await gpu.read(c);
    return (performance.now() - start) / 1000;
  };
  return {
    detail: `${describeConfig(config)}${prepared.spec.claimTiles ? ', tiles claimed' : ''}`,
    once: () => batch(1),
    batch,
    dispose() {
      bound.dispose();
      a.destroy();
      b.destroy();
      c.destroy();
    },
  };
}

type Tf = typeof import('@tensorflow/tfjs-core');

/**
 * How the peer's waits poll Dawn: `dawn` (as TensorFlow.js ships: Dawn's own polling, a busy loop on the JavaScript
 * thread while the device works) or `throttled` (counted as device waits, so they poll as vitm's do; see
 * `runtime/webgpu/node-poll.ts`). The second separates the kernels' speed from the cost of the busy loop.
 */
export type PeerPoll = 'dawn' | 'throttled';
let peerPoll: PeerPoll = 'dawn';

export function setPeerPoll(mode: PeerPoll): void {
  peerPoll = mode;
}

export function getPeerPoll(): PeerPoll {
  return peerPoll;
}

/** Runs one of the peer's waits on the device under the chosen polling. */
export const peerWait = <T>(start: () => Promise<T>): Promise<T> =>
  peerPoll === 'throttled' ? deviceWait(start) : start();

/** A TensorFlow.js (WebGPU backend) session on its own Dawn instance. */
export interface TfSession {
  readonly tf: Tf;
  readonly adapter: string;
  dispose(): void;
}

interface WebgpuModule {
  create(flags: string[]): GPU;
  globals: Record<string, unknown>;
}

/**
 * Loads tfjs-core and the WebGPU backend on Dawn: `navigator.gpu` is Dawn's `GPU` object, and the WebGPU constant
 * namespaces (`GPUBufferUsage`, ...) that the backend reads as globals come from Dawn's `globals`.
 */
export async function openTf(): Promise<TfSession> {
  const dawn = (await import('webgpu')) as WebgpuModule;
  const g = globalThis as Record<string, unknown>;
  for (const [name, value] of Object.entries(dawn.globals)) if (!(name in g)) g[name] = value;
  const gpu = dawn.create([]);
  Object.defineProperty(globalThis, 'navigator', { value: { gpu }, configurable: true, writable: true });
  const tf = await import('@tensorflow/tfjs-core');
  // tfjs-core's Node entry registers no gradients (the union package @tensorflow/tfjs does that); its own module
  // registers them all, into the registry that every copy of tfjs-core shares through the global namespace. The
  // relative path makes the bench's bundler include it (package imports stay external).
  await import('../node_modules/@tensorflow/tfjs-core/dist/register_all_gradients.js');
  await import('@tensorflow/tfjs-backend-webgpu');
  if (!(await tf.setBackend('webgpu'))) throw new Error('TensorFlow.js could not start its WebGPU backend');
  await tf.ready();
  const adapter = await gpu.requestAdapter();
  return {
    tf,
    adapter: adapter ? `${adapter.info.vendor}/${adapter.info.architecture}` : 'unknown',
    dispose() {
      tf.engine().reset();
    },
  };
}

/** TensorFlow.js's `matMul` of two random `size` x `size` tensors. */
export function tfMatmul(session: TfSession, size: number): Engine {
  const { tf } = session;
  const a = tf.tensor2d(random(size * size), [size, size]);
  const b = tf.tensor2d(random(size * size), [size, size]);
  const batch = async (n: number): Promise<number> => {
    const start = performance.now();
    const outs: ReturnType<Tf['matMul']>[] = [];
    for (let i = 0; i < n; i++) outs.push(tf.matMul(a, b));
    await peerWait(async () => outs[outs.length - 1]?.data());
    const seconds = (performance.now() - start) / 1000;
    for (const t of outs) t.dispose();
    return seconds;
  };
  return {
    detail: 'tf.matMul',
    once: () => batch(1),
    batch,
    dispose() {
      a.dispose();
      b.dispose();
    },
  };
}
