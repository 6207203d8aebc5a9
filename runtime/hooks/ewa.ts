/**
 * Experts Weights Averaging (EWA, arXiv 2308.06093) as one GPU kernel: after an optimizer step, every expert of a
 * stacked tensor `W` of shape [N, ...] (N experts, each of `elements` values; std.moe's `fc1.weight`, `fc1.bias`, ...)
 * moves towards the others,
 *
 *   W_i <- (1 - beta) W_i + beta / (N - 1) * sum_{j != i} W_j,
 *
 * simultaneously for all i. The kernel computes it as `keep W_i + share S` with `S = sum_j W_j`,
 * `share = beta / (N - 1)` and `keep = 1 - beta - share`: one invocation per element position, which sums the N
 * experts' values there and then rewrites them in place, so one dispatch updates the whole tensor with no scratch
 * buffer. At beta = (N - 1)/N, `keep` is exactly 0 and every expert becomes the same value `S / N` bit for bit.
 *
 * `ewaOnHost` is the float64 definition the kernel is tested against; std.moe's `EwaStep` states the same update in
 * the language, and its laws (the mean is kept, deviations shrink by `1 - beta N / (N - 1)`) hold for both.
 *
 * An `after_step: ewa(paths, beta)` hook averages every expert weight and bias under its paths at once:
 * `expertTensors(model, matchedPaths)` (`fold.ts`) lists them with their expert counts and sizes, and one `runEwa`
 * call over their buffers updates them all in one submission.
 */
import { BufferUsage, type GpuDevice } from '../webgpu/device.js';
import { getPipeline } from '../webgpu/pipeline-cache.js';
import { deviceWait } from '../webgpu/waits.js';

const WORKGROUP = 64;

export const EWA_WGSL = /* wgsl */ `
struct Params {
  count: u32,
  experts: u32,
  keep: f32,
  share: f32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read_write> w: array<f32>;

@compute @workgroup_size(${WORKGROUP})
fn main(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) groups: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let k = (wid.y * groups.x + wid.x) * ${WORKGROUP}u + lid;
  if (k >= params.count) {
    return;
  }
  var total = 0.0;
  for (var i = 0u; i < params.experts; i++) {
    total = total + w[i * params.count + k];
  }
  for (var i = 0u; i < params.experts; i++) {
    let at = i * params.count + k;
    w[at] = params.keep * w[at] + params.share * total;
  }
}
`;

/** A stacked expert tensor on the device: f32 [experts, elements], row-major (expert i at offset i * elements). */
export interface EwaTensor {
  readonly buffer: GPUBuffer;
  readonly experts: number;
  /** Values per expert. */
  readonly elements: number;
}

export interface EwaOptions {
  /** The most workgroups per grid dimension (default: the device's limit); larger launches use a 2-D grid. */
  readonly maxWorkgroupsPerDimension?: number;
}

/** The update's coefficients: `W_i <- keep W_i + share sum_j W_j`. */
export function ewaCoefficients(experts: number, beta: number): { keep: number; share: number } {
  const share = beta / (experts - 1);
  return { keep: 1 - beta - share, share };
}

function validate(experts: number, elements: number, beta: number): void {
  if (!Number.isInteger(experts) || experts < 2) throw new RangeError(`EWA needs at least 2 experts, got ${experts}`);
  if (!Number.isInteger(elements) || elements < 1)
    throw new RangeError(`EWA needs a positive element count per expert, got ${elements}`);
  if (!Number.isFinite(beta)) throw new RangeError(`the EWA share rate beta must be finite, got ${beta}`);
}

/** The definition, in float64: `W_i <- (1 - beta) W_i + beta / (N - 1) sum_{j != i} W_j` for every expert. */
export function ewaOnHost(w: ArrayLike<number>, experts: number, beta: number): Float64Array {
  const elements = w.length / experts;
  validate(experts, elements, beta);
  const out = new Float64Array(w.length);
  for (let k = 0; k < elements; k++) {
    for (let i = 0; i < experts; i++) {
      let others = 0;
      for (let j = 0; j < experts; j++) if (j !== i) others += w[j * elements + k] ?? NaN;
      out[i * elements + k] = (1 - beta) * (w[i * elements + k] ?? NaN) + (beta / (experts - 1)) * others;
    }
  }
  return out;
}

/** The workgroup grid for `count` invocations: x up to `max`, then rows of y. */
function grid(count: number, max: number): [number, number] {
  const groups = Math.ceil(count / WORKGROUP);
  const x = Math.min(groups, max);
  return [x, Math.ceil(groups / x)];
}

/** EWA bound to its tensors, for recording into a caller's compute pass (the trainer's step), with beta per step. */
export interface PreparedEwa {
  /** Writes the coefficients for `beta` (takes effect for work submitted after it). */
  setBeta(beta: number): void;
  /** Records one dispatch per tensor. */
  encode(pass: GPUComputePassEncoder): void;
  dispose(): void;
}

/** Compiles the kernel and binds it to `tensors` (distinct buffers); `beta` is the initial share rate. */
export async function prepareEwa(
  gpu: GpuDevice,
  tensors: readonly EwaTensor[],
  beta: number,
  options: EwaOptions = {},
): Promise<PreparedEwa> {
  for (const t of tensors) {
    validate(t.experts, t.elements, beta);
    if (t.buffer.size < t.experts * t.elements * 4) {
      throw new RangeError(
        `the EWA tensor '${t.buffer.label}' holds ${t.buffer.size} bytes, fewer than ${t.experts} x ${t.elements} f32`,
      );
    }
  }
  const label = { kernel: 'ewa_step[f32]' };
  const pipeline = await getPipeline(gpu, label, EWA_WGSL);
  const max = options.maxWorkgroupsPerDimension ?? gpu.limit('maxComputeWorkgroupsPerDimension');
  const uniforms: GPUBuffer[] = [];
  const words = (t: EwaTensor, b: number): Uint8Array<ArrayBuffer> => {
    const { keep, share } = ewaCoefficients(t.experts, b);
    const bytes = new ArrayBuffer(16);
    new Uint32Array(bytes, 0, 2).set([t.elements, t.experts]);
    new Float32Array(bytes, 8, 2).set([keep, share]);
    return new Uint8Array(bytes);
  };
  try {
    const bound = await gpu.scoped(label, (device) =>
      tensors.map((t) => {
        const params = gpu.upload('ewa:params', words(t, beta), BufferUsage.UNIFORM);
        uniforms.push(params);
        const bindGroup = device.createBindGroup({
          layout: pipeline.getBindGroupLayout(0),
          entries: [
            { binding: 0, resource: { buffer: params } },
            { binding: 1, resource: { buffer: t.buffer, size: t.experts * t.elements * 4 } },
          ],
        });
        return { tensor: t, params, bindGroup, grid: grid(t.elements, max) };
      }),
    );
    return {
      setBeta(b: number): void {
        for (const x of bound) {
          validate(x.tensor.experts, x.tensor.elements, b);
          gpu.device.queue.writeBuffer(x.params, 0, words(x.tensor, b));
        }
      },
      encode(pass: GPUComputePassEncoder): void {
        pass.setPipeline(pipeline);
        for (const x of bound) {
          pass.setBindGroup(0, x.bindGroup);
          pass.dispatchWorkgroups(x.grid[0], x.grid[1]);
        }
      },
      dispose(): void {
        for (const u of uniforms) u.destroy();
      },
    };
  } catch (error) {
    for (const u of uniforms) u.destroy();
    throw error;
  }
}

/**
 * One EWA step on every tensor at once: one dispatch per tensor, all in one compute pass and one submission, in
 * place. Resolves when the device has finished. The tensors must be distinct buffers.
 */
export async function runEwa(
  gpu: GpuDevice,
  tensors: readonly EwaTensor[],
  beta: number,
  options: EwaOptions = {},
): Promise<void> {
  if (tensors.length === 0) return;
  const ewa = await prepareEwa(gpu, tensors, beta, options);
  try {
    await gpu.scoped({ kernel: 'ewa_step[f32]' }, (device) => {
      const encoder = device.createCommandEncoder({ label: 'ewa_step[f32]' });
      const pass = encoder.beginComputePass({ label: 'ewa_step[f32]' });
      ewa.encode(pass);
      pass.end();
      device.queue.submit([encoder.finish()]);
    });
    await deviceWait(() => gpu.device.queue.onSubmittedWorkDone());
  } finally {
    ewa.dispose();
  }
}
