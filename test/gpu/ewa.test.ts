/**
 * The EWA kernel (runtime/hooks/ewa.ts) against its float64 host definition, on shapes, share rates and values drawn
 * by fast-check; its properties on the device (the experts' mean kept, deviations shrunk by 1 - beta N / (N - 1),
 * beta = (N - 1)/N collapsing the experts bit for bit); several tensors in one submission; a 2-D grid.
 */
import fc from 'fast-check';
import { describe, expect, test, type TestContext } from 'vitest';
import { ewaCoefficients, ewaOnHost, runEwa, type EwaTensor } from '../../runtime/hooks/ewa.js';
import { BufferUsage, type GpuDevice } from '../../runtime/webgpu/device.js';
import { openTestDevice } from '../support/gpu.js';

const U = 2 ** -24;

function upload(gpu: GpuDevice, data: Float32Array): GPUBuffer {
  return gpu.upload('ewa-test', data, BufferUsage.STORAGE | BufferUsage.COPY_SRC);
}

/**
 * The f32 error allowed per element: the sum of N values (N - 1 roundings of at most u sum|W|) and the two products
 * and the addition (a few u of |keep W_i| + |share| sum|W|).
 */
function allowed(w: Float32Array, experts: number, beta: number, at: number): number {
  const elements = w.length / experts;
  const k = at % elements;
  let abs = 0;
  for (let j = 0; j < experts; j++) abs += Math.abs(w[j * elements + k] ?? 0);
  const { keep, share } = ewaCoefficients(experts, beta);
  return (experts + 3) * U * (Math.abs(keep) * Math.abs(w[at] ?? 0) + Math.abs(share) * abs) + 2 ** -126;
}

async function ewaOnDevice(gpu: GpuDevice, w: Float32Array, experts: number, beta: number): Promise<Float32Array> {
  const buffer = upload(gpu, w);
  try {
    await runEwa(gpu, [{ buffer, experts, elements: w.length / experts }], beta);
    return await gpu.readFloat32(buffer, w.length);
  } finally {
    buffer.destroy();
  }
}

describe('the EWA step on the host', () => {
  test('is the definition: two experts swap towards each other', () => {
    expect(Array.from(ewaOnHost([1, 2, 5, 10], 2, 0.25))).toEqual([2, 4, 4, 8]);
    expect(Array.from(ewaOnHost([1, 2, 5, 10], 2, 0))).toEqual([1, 2, 5, 10]);
  });

  test('rejects one expert, a non-integer split and an infinite beta', () => {
    expect(() => ewaOnHost([1, 2], 1, 0.1)).toThrow(/at least 2 experts/);
    expect(() => ewaOnHost([1, 2, 3], 2, 0.1)).toThrow(/positive element count/);
    expect(() => ewaOnHost([1, 2], 2, Infinity)).toThrow(/finite/);
  });
});

describe('the EWA kernel on the device', () => {
  test('matches the float64 definition on drawn shapes, share rates and values', async (ctx: TestContext) => {
    const gpu = await openTestDevice(ctx);
    try {
      const cases = fc.record({
        experts: fc.integer({ min: 2, max: 8 }),
        elements: fc.integer({ min: 1, max: 300 }),
        beta: fc.double({ min: -0.5, max: 1.5, noNaN: true }),
        seed: fc.integer({ min: 0, max: 1000 }),
      });
      await fc.assert(
        fc.asyncProperty(cases, async ({ experts, elements, beta, seed }) => {
          const w = new Float32Array(experts * elements);
          for (let i = 0; i < w.length; i++) w[i] = Math.sin(seed + i * 1.37) * 3;
          const got = await ewaOnDevice(gpu, w, experts, beta);
          const want = ewaOnHost(w, experts, beta);
          for (let i = 0; i < w.length; i++) {
            expect(Math.abs((got[i] ?? NaN) - (want[i] ?? NaN)), `element ${i}`).toBeLessThanOrEqual(
              allowed(w, experts, beta, i),
            );
          }
        }),
        { numRuns: 12, seed: 3 },
      );
    } finally {
      gpu.dispose();
    }
  });

  test('keeps the mean, shrinks deviations by 1 - beta N / (N - 1), collapses at beta = (N - 1)/N', async (ctx: TestContext) => {
    const gpu = await openTestDevice(ctx);
    try {
      const experts = 4;
      const elements = 97;
      const w = new Float32Array(experts * elements).map((_, i) => Math.cos(i * 0.71) * 2);
      const mean = (v: ArrayLike<number>, k: number): number => {
        let s = 0;
        for (let i = 0; i < experts; i++) s += v[i * elements + k] ?? NaN;
        return s / experts;
      };
      for (const beta of [0, 0.1, 0.3, 0.6]) {
        const got = await ewaOnDevice(gpu, w, experts, beta);
        const factor = 1 - (beta * experts) / (experts - 1);
        for (let k = 0; k < elements; k++) {
          expect(Math.abs(mean(got, k) - mean(w, k))).toBeLessThanOrEqual(16 * U * 2);
          for (let i = 0; i < experts; i++) {
            const before = (w[i * elements + k] ?? NaN) - mean(w, k);
            const after = (got[i * elements + k] ?? NaN) - mean(got, k);
            expect(Math.abs(after - factor * before)).toBeLessThanOrEqual(32 * U * 2);
          }
        }
      }
      const collapsed = await ewaOnDevice(gpu, w, experts, (experts - 1) / experts);
      for (let k = 0; k < elements; k++) {
        const first = collapsed[k] ?? NaN;
        expect(Math.abs(first - mean(w, k))).toBeLessThanOrEqual(8 * U * 2);
        for (let i = 1; i < experts; i++) expect(collapsed[i * elements + k]).toBe(first);
      }
    } finally {
      gpu.dispose();
    }
  });

  test('updates several tensors in one submission, and over a 2-D grid', async (ctx: TestContext) => {
    const gpu = await openTestDevice(ctx);
    const buffers: GPUBuffer[] = [];
    try {
      const shapes: [number, number][] = [
        [3, 1000],
        [3, 17],
        [5, 64 * 5 + 1],
      ];
      const data = shapes.map(([n, k]) => new Float32Array(n * k).map((_, i) => ((i * 7919) % 23) - 11));
      const tensors: EwaTensor[] = shapes.map(([experts, elements], t) => {
        const buffer = upload(gpu, data[t] as Float32Array);
        buffers.push(buffer);
        return { buffer, experts, elements };
      });
      // At most 4 workgroups per dimension: 1000 positions need 16 workgroups, a 4 x 4 grid.
      await runEwa(gpu, tensors, 0.2, { maxWorkgroupsPerDimension: 4 });
      for (const [t, [experts]] of shapes.entries()) {
        const w = data[t] as Float32Array;
        const got = await gpu.readFloat32(buffers[t] as GPUBuffer, w.length);
        const want = ewaOnHost(w, experts, 0.2);
        for (let i = 0; i < w.length; i++) {
          expect(Math.abs((got[i] ?? NaN) - (want[i] ?? NaN))).toBeLessThanOrEqual(allowed(w, experts, 0.2, i));
        }
      }
      await expect(runEwa(gpu, [{ buffer: buffers[1] as GPUBuffer, experts: 3, elements: 18 }], 0.2)).rejects.toThrow(
        /fewer than 3 x 18 f32/,
      );
    } finally {
      for (const b of buffers) b.destroy();
      gpu.dispose();
    }
  });
});
