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
    expect(result.ok).toBe(true);
  });
});
