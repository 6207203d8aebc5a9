/**
 * `vitm gradcheck --backend webgpu`: the small ViT's gradients computed on the WebGPU device agree with the float64
 * reference within the f32-derived tolerance; a device computing garbage (Dawn's null backend) fails with exit 1; no
 * adapter is the coded VT6001 error. Tests that need an adapter follow the device rules of `test/support/gpu.ts`.
 */
import { describe, expect, it, type TestContext } from 'vitest';
import { compareGradients, gradientReport } from '../../cli/gradcheck.js';
import { GraphBuilder } from '../../compiler/ir/builder.js';
import { makeTensor } from '../../runtime/reference/tensor.js';
import { openTestDevice } from '../support/gpu.js';
import { JS_STACK_FRAME, runCli } from '../support/cli.js';

const FIXTURE = 'test/lower/fixtures/small_vit.vitm';

/** Skips (or fails on CI) when there is no adapter, as every GPU test does. */
async function requireAdapter(ctx: TestContext): Promise<void> {
  const gpu = await openTestDevice(ctx);
  gpu.dispose();
}

describe('vitm gradcheck --backend webgpu', () => {
  it('finds every gradient of the small ViT on the device within the tolerance', async (ctx: TestContext) => {
    await requireAdapter(ctx);
    const result = runCli(['gradcheck', FIXTURE, '--backend', 'webgpu', '--batch', '2'], {}, 120_000);
    expect(result.stderr).not.toMatch(JS_STACK_FRAME);
    expect(result.status).toBe(0);
    expect(result.stdout).toMatch(/^gradcheck Small: 32 trainable parameter tensors, batch 2, webgpu \(.*\) against/);
    expect(result.stdout).toMatch(
      /\n {2}blocks\.1\.mlp\.fc2\.weight\s+\[8, 16\]\s+\d\.\d\de-\d+\s+\d\.\d\de-\d+\s+ok\n/,
    );
    expect(result.stdout).not.toContain('FAILED');
    expect(result.stdout).toMatch(/\nok: 32 gradients checked, worst relative error \d\.\d\de-\d+ \(.+\), 0\.\d{3} of/);
  });

  it('fails, exit 1, when the device computes garbage (the null backend)', async (ctx: TestContext) => {
    await requireAdapter(ctx);
    const result = runCli(['gradcheck', FIXTURE, '--backend', 'webgpu', '--model', 'SmallAttnOnly'], {
      VITM_DAWN_FLAGS: 'backend=null',
    });
    expect(result.status).toBe(1);
    expect(result.stdout).toMatch(/\nFAILED: 10 gradients checked/);
  });

  it('reports a missing adapter as VT6001, exit 1', () => {
    // Dawn's Vulkan backend with a loader that finds no driver: no adapter, on any platform.
    const result = runCli(['gradcheck', FIXTURE, '--backend', 'webgpu'], {
      VITM_DAWN_FLAGS: 'backend=vulkan',
      VK_DRIVER_FILES: '/nonexistent/vitm.json',
      VK_ICD_FILENAMES: '/nonexistent/vitm.json',
    });
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/^error VT6001: no WebGPU adapter found/m);
    expect(result.stderr).not.toMatch(JS_STACK_FRAME);
  });

  it('rejects an unknown backend and the reference-only options with exit 2', () => {
    const backend = runCli(['gradcheck', FIXTURE, '--backend', 'cuda']);
    expect(backend.status).toBe(2);
    expect(backend.stderr).toContain("--backend takes reference or webgpu, got 'cuda'");
    const rtol = runCli(['gradcheck', FIXTURE, '--backend', 'webgpu', '--rtol', '1e-3']);
    expect(rtol.status).toBe(2);
    expect(rtol.stderr).toContain('--directions and --rtol apply to the reference backend only');
  });

  it('allows 8 times the f32 reference error plus 2^-20 of the norm, and no more', () => {
    const b = new GraphBuilder();
    const x = b.data('x', [2]);
    const graph = b.build({ 'grad:w': x });
    const ref64 = { 'grad:w': makeTensor('f32', [2], [3, 4]) };
    const ref32 = { 'grad:w': makeTensor('f32', [2], [3, 4 + 1e-6]) };
    // Allowed: 8e-6 + 5 * 2^-20 (about 1.277e-5) in absolute terms, on a norm of 5.
    const within = compareGradients(graph, { 'grad:w': { data: [3, 4 + 1.2e-5] } }, ref64, ref32);
    expect(within.map((r) => r.ok)).toEqual([true]);
    expect(within[0]?.rel).toBeCloseTo(1.2e-5 / 5, 12);
    const beyond = compareGradients(graph, { 'grad:w': { data: [3, 4 + 1.4e-5] } }, ref64, ref32);
    expect(beyond.map((r) => r.ok)).toEqual([false]);
    expect(compareGradients(graph, { 'grad:w': { data: [3, NaN] } }, ref64, ref32)[0]?.ok).toBe(false);
    expect(compareGradients(graph, { 'grad:w': { data: [3] } }, ref64, ref32)[0]?.ok).toBe(false);
    const report = gradientReport(beyond);
    expect(report.ok).toBe(false);
    expect(report.text).toMatch(/\n {2}w\s+\[2\]\s+2\.80e-6\s+2\.55e-6\s+FAILED\nFAILED: 1 gradients checked/);
  });
});
