/** `vitm check` as a user runs it (the built CLI in a child process). */
import { describe, expect, test } from 'vitest';
import { JS_STACK_FRAME, runCli } from '../support/cli.js';

describe('vitm check', () => {
  test('reports the ViT-B/16 parameter count and a module table', () => {
    const r = runCli(['check', 'examples/vit_base.vitm']);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('model ViTBase16: 86,567,656 parameters, 86,567,656 trainable (100.00%)');
    expect(r.stdout).toMatch(/blocks\.11\s+Block\s+7,087,872\s+7,087,872/);
    expect(r.stdout).toContain('forward(f32[B, 3, 224, 224]) -> f32[B, 1000]');
  });

  test('reports trainable counts of an edited model', () => {
    const r = runCli(['check', 'examples/vit_tiny.vitm', '--depth', '0']);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('model TinyAttnOnly: 305,034 parameters, 100,490 trainable');
    expect(r.stdout).toContain('experiment tiny_fashion: model Tiny, 10 epochs, batch 128');
  });

  test('prints coded diagnostics with a caret and exits 1, without a stack trace', () => {
    const r = runCli(['check', 'test/frontend/corpus/bad/VT3004-patch-does-not-divide-image.vitm']);
    expect(r.status).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain(
      'VT3004-patch-does-not-divide-image.vitm:3:11: error VT3004: ViT: the patch size must divide the image size',
    );
    expect(r.stderr).toContain('^~~');
    expect(r.stderr).not.toMatch(JS_STACK_FRAME);
  });

  test('a missing file is a coded error, a missing argument a usage error', () => {
    const missing = runCli(['check', 'no/such/file.vitm']);
    expect(missing.status).toBe(1);
    expect(missing.stderr).toContain('error VT2003');
    expect(missing.stderr).not.toMatch(JS_STACK_FRAME);
    const usage = runCli(['check']);
    expect(usage.status).toBe(2);
    expect(usage.stderr).toContain('check takes exactly one FILE');
  });

  test('binary garbage is reported, not thrown', () => {
    const r = runCli(['check', 'package-lock.json']);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/error VT1\d{3}/);
    expect(r.stderr).not.toMatch(JS_STACK_FRAME);
  });
});
