import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { findChromium, runInChromium } from '../support/browser.js';
import { requireOrSkip } from '../support/gpu.js';
import type { BrowserResult } from './page.js';

describe('WebGPU in Chromium (navigator.gpu)', () => {
  it('runs the same self-test kernel through the same runtime code, bundled for the browser', async (ctx) => {
    const chromium = findChromium();
    if (!chromium)
      requireOrSkip(ctx, 'no Chromium: run `npm run setup` (Debian package chromium) or set VITM_CHROMIUM');
    const result = await runInChromium<BrowserResult>(fileURLToPath(new URL('./page.ts', import.meta.url)), chromium);
    expect(result.error).toBeUndefined();
    expect(result.backend).toBe('browser');
    expect(`${result.adapter?.vendor ?? ''}${result.adapter?.architecture ?? ''}`).not.toBe('');
    expect(result.maxStorageBuffersPerShaderStage).toBeGreaterThanOrEqual(8);
    expect(result.selfTest).toMatchObject({
      ok: true,
      mismatches: 0,
      maxError: 0,
      elements: 65_573,
      workgroups: 1_025,
    });
    // Matmuls through the same runtime code: a plain tile, and where subgroups have one size a tile of one subgroup,
    // as the device chooses (SwiftShader does not claim tiles) and claiming its tiles on a second device.
    const matmuls = result.matmuls ?? [];
    expect(matmuls.length).toBe(result.subgroupSize === undefined ? 1 : 3);
    for (const check of matmuls) expect(check, check.kernel).toMatchObject({ mismatches: 0 });
    expect(matmuls.map((x) => x.outputs)).toEqual([2 * 70 * 67, 2 * 70 * 67, 296 * 256].slice(0, matmuls.length));
    if (result.subgroupSize !== undefined) {
      expect((matmuls[1]?.kernel ?? '').endsWith('_cl')).toBe(result.claimTiles === true);
      expect(matmuls[2]?.kernel).toMatch(/_cl$/);
    }
    expect(result.ok).toBe(true);
  });
});
