import { describe, expect, it } from 'vitest';
import { runCli, JS_STACK_FRAME } from '../support/cli.js';
import { openTestDevice } from '../support/gpu.js';

describe('vitm doctor', () => {
  it('prints the adapter, its limits and features, checks a kernel, and exits by itself', async (ctx) => {
    (await openTestDevice(ctx)).dispose(); // skip (outside CI) or fail (on CI) when there is no adapter
    const result = runCli(['doctor']);
    expect(result.stderr).not.toMatch(JS_STACK_FRAME);
    expect(result.status).toBe(0);
    for (const label of [
      'backend',
      'vendor',
      'architecture',
      'description',
      'maxStorageBuffersPerShaderStage',
      'maxStorageBufferBindingSize',
      'maxBufferSize',
      'maxComputeWorkgroupStorageSize',
      'maxComputeInvocationsPerWorkgroup',
      'shader-f16',
      'subgroups',
      'timestamp-query',
    ]) {
      expect(result.stdout).toContain(label);
    }
    expect(result.stdout).toMatch(/result\s+ok: 65,573 values/);
    // llvmpipe claims matmul tiles; any other adapter takes one per workgroup.
    expect(result.stdout).toMatch(
      /description\s+llvmpipe.*\n.*\n\s+matmul tiles\s+claimed from a counter|description\s+(?!llvmpipe).*\n.*\n\s+matmul tiles\s+one per workgroup id/,
    );
    // It returned on its own (spawnSync would have killed it at 30 s): Dawn was released.
    expect(result.millis).toBeLessThan(15_000);
  });

  it('--json gives the same report as data', async (ctx) => {
    (await openTestDevice(ctx)).dispose();
    const result = runCli(['doctor', '--json']);
    expect(result.status).toBe(0);
    const report = JSON.parse(result.stdout) as {
      adapter: { vendor: string; description: string };
      limits: Record<string, number>;
      claimTiles: boolean;
      selfTest: { ok: boolean };
    };
    expect(report.selfTest.ok).toBe(true);
    expect(report.claimTiles).toBe(report.adapter.description.includes('llvmpipe'));
    expect(report.limits.maxStorageBuffersPerShaderStage).toBeGreaterThanOrEqual(8);
  });

  it('without an adapter: a coded error naming the fix, exit code 1, no stack trace', () => {
    // Point the Vulkan loader at no driver at all: Dawn then finds no adapter, as on a machine without one.
    const result = runCli(['doctor'], {
      VK_DRIVER_FILES: '/nonexistent/vitm.json',
      VK_ICD_FILENAMES: '/nonexistent/vitm.json',
    });
    expect(result.status).toBe(1);
    expect(result.stderr).toContain('error VT6001: no WebGPU adapter found');
    expect(result.stderr).toContain('npm run setup');
    expect(result.stderr).not.toMatch(JS_STACK_FRAME);
    expect(result.stdout).toBe('');
  });
});

describe('vitm command line', () => {
  it('rejects an unknown command with the usage and exit code 2', () => {
    const result = runCli(['frobnicate']);
    expect(result.status).toBe(2);
    expect(result.stderr).toContain("error: unknown command 'frobnicate'");
    expect(result.stderr).toContain('usage: vitm');
  });

  it('rejects an unknown option without a stack trace', () => {
    const result = runCli(['doctor', '--frob']);
    expect(result.status).toBe(2);
    expect(result.stderr).toMatch(/^error: Unknown option '--frob'/);
    expect(result.stderr).not.toMatch(JS_STACK_FRAME);
  });

  it('prints help and version', () => {
    expect(runCli(['help']).stdout).toContain('doctor');
    expect(runCli(['--version']).stdout).toMatch(/^\d+\.\d+\.\d+\n$/);
  });
});
