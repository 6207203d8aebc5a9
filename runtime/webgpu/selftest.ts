/**
 * A small compute kernel that every vitm install runs to prove its adapter computes correctly: a fused
 * multiply-add over a buffer whose length is not a multiple of the workgroup size, followed by a workgroup-memory
 * tree reduction with barriers. Inputs are small dyadic rationals, so every result is exact in f32 and the check is
 * bit-exact equality with the host's arithmetic: any difference is a real fault of the adapter or the runtime.
 *
 * `vitm doctor`, the Node GPU test and the browser test all run this same function.
 */
import { VitmRuntimeError } from '../errors.js';
import { BufferUsage, type GpuDevice } from './device.js';

const WORKGROUP = 64;

export const SELF_TEST_WGSL = /* wgsl */ `
struct Params { a: f32, n: u32 }

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> y: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
@group(0) @binding(4) var<storage, read_write> partial: array<f32>;

var<workgroup> tile: array<f32, ${WORKGROUP}>;

@compute @workgroup_size(${WORKGROUP})
fn main(@builtin(global_invocation_id) gid: vec3u,
        @builtin(local_invocation_index) lid: u32,
        @builtin(workgroup_id) wid: vec3u) {
  let i = gid.x;
  var v = 0.0;
  if (i < params.n) {
    v = fma(params.a, x[i], y[i]);
    out[i] = v;
  }
  tile[lid] = v;
  workgroupBarrier();
  for (var stride = ${WORKGROUP / 2}u; stride > 0u; stride = stride >> 1u) {
    if (lid < stride) {
      tile[lid] = tile[lid] + tile[lid + stride];
    }
    workgroupBarrier();
  }
  if (lid == 0u) {
    partial[wid.x] = tile[0];
  }
}
`;

export interface SelfTestResult {
  readonly ok: boolean;
  readonly elements: number;
  readonly workgroups: number;
  /** Largest absolute difference from the host's result over both outputs (0 when ok). */
  readonly maxError: number;
  /** Number of wrong values (elementwise outputs plus partial sums). */
  readonly mismatches: number;
  /** Wall time of upload, dispatch and readback, in milliseconds. */
  readonly millis: number;
}

const A = 1.5;

function inputs(n: number): { x: Float32Array; y: Float32Array } {
  const x = new Float32Array(n);
  const y = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    x[i] = (i % 17) * 0.25 - 2;
    y[i] = (i % 5) * 0.5 - 1;
  }
  return { x, y };
}

/** Runs the kernel on `elements` values (default 65,573: 1,025 workgroups, the last one partial) and checks it. */
export async function runSelfTest(gpu: GpuDevice, elements = 65_573): Promise<SelfTestResult> {
  if (!Number.isInteger(elements) || elements < 1) throw new RangeError(`elements must be a positive integer`);
  const workgroups = Math.ceil(elements / WORKGROUP);
  const maxGroups = gpu.limit('maxComputeWorkgroupsPerDimension');
  if (workgroups > maxGroups)
    throw new RangeError(`self-test needs ${workgroups} workgroups; the device allows ${maxGroups}`);
  const { x, y } = inputs(elements);
  const started = performance.now();
  const label = { kernel: 'selftest_fma_reduce' };

  const buffers: GPUBuffer[] = [];
  try {
    const { out, partial } = await gpu.scoped(label, (device) => {
      const params = new ArrayBuffer(8);
      new Float32Array(params, 0, 1)[0] = A;
      new Uint32Array(params, 4, 1)[0] = elements;
      const paramsBuffer = gpu.upload('selftest:params', new Uint8Array(params), BufferUsage.UNIFORM);
      const xBuffer = gpu.upload('selftest:x', x, BufferUsage.STORAGE);
      const yBuffer = gpu.upload('selftest:y', y, BufferUsage.STORAGE);
      const outBuffer = gpu.createBuffer('selftest:out', elements * 4, BufferUsage.STORAGE | BufferUsage.COPY_SRC);
      const partialBuffer = gpu.createBuffer(
        'selftest:partial',
        workgroups * 4,
        BufferUsage.STORAGE | BufferUsage.COPY_SRC,
      );
      buffers.push(paramsBuffer, xBuffer, yBuffer, outBuffer, partialBuffer);

      const module = device.createShaderModule({ label: label.kernel, code: SELF_TEST_WGSL });
      const pipeline = device.createComputePipeline({ label: label.kernel, layout: 'auto', compute: { module } });
      const bindGroup = device.createBindGroup({
        layout: pipeline.getBindGroupLayout(0),
        entries: [paramsBuffer, xBuffer, yBuffer, outBuffer, partialBuffer].map((buffer, binding) => ({
          binding,
          resource: { buffer },
        })),
      });
      const encoder = device.createCommandEncoder({ label: label.kernel });
      const pass = encoder.beginComputePass({ label: label.kernel });
      pass.setPipeline(pipeline);
      pass.setBindGroup(0, bindGroup);
      pass.dispatchWorkgroups(workgroups);
      pass.end();
      device.queue.submit([encoder.finish()]);
      return { out: outBuffer, partial: partialBuffer };
    });
    const gotOut = await gpu.readFloat32(out, elements);
    const gotPartial = await gpu.readFloat32(partial, workgroups);
    const millis = performance.now() - started;

    let maxError = 0;
    let mismatches = 0;
    const expectedPartial = new Float64Array(workgroups);
    for (let i = 0; i < elements; i++) {
      const expected = Math.fround(A * (x[i] ?? 0) + (y[i] ?? 0));
      const group = Math.floor(i / WORKGROUP);
      expectedPartial[group] = (expectedPartial[group] ?? 0) + expected;
      const error = Math.abs((gotOut[i] ?? NaN) - expected);
      if (!(error === 0)) mismatches++;
      if (!(error <= maxError)) maxError = Number.isNaN(error) ? Infinity : error;
    }
    for (let g = 0; g < workgroups; g++) {
      const error = Math.abs((gotPartial[g] ?? NaN) - (expectedPartial[g] ?? 0));
      if (!(error === 0)) mismatches++;
      if (!(error <= maxError)) maxError = Number.isNaN(error) ? Infinity : error;
    }
    return { ok: mismatches === 0, elements, workgroups, maxError, mismatches, millis };
  } finally {
    for (const buffer of buffers) buffer.destroy();
  }
}

/** Runs the self-test and throws VT6007 if the adapter computed a wrong value. */
export async function assertSelfTest(gpu: GpuDevice, elements?: number): Promise<SelfTestResult> {
  const result = await runSelfTest(gpu, elements);
  if (!result.ok) {
    throw new VitmRuntimeError(
      'VT6007',
      `the adapter computed ${result.mismatches} wrong values in the self-test kernel (max error ${result.maxError})`,
      'update the GPU driver; on lavapipe, use Mesa 24 or newer',
    );
  }
  return result;
}
