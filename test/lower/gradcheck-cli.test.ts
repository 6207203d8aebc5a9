import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { JS_STACK_FRAME, runCli } from '../support/cli.js';

const FIXTURE = 'test/lower/fixtures/small_vit.vitm';

describe('vitm gradcheck', () => {
  it('checks every trainable parameter of the first model and exits 0', () => {
    const result = runCli(['gradcheck', FIXTURE, '--batch', '2'], {}, 120_000);
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    expect(result.stdout).toMatch(/^gradcheck Small: 32 trainable parameter tensors, batch 2/);
    expect(result.stdout).toContain('other models: SmallAttnOnly');
    expect(result.stdout).toMatch(/blocks\.1\.mlp\.fc2\.weight\s+\[8, 16\]\s+\d\.\d\de-\d+\s+ok/);
    expect(result.stdout).toMatch(
      /\nok: 32 parameters checked, worst relative error \d\.\d\de-\d+ \(.+\), tolerance 0\.000001 \(absolute below .+\)\n$/,
    );
  });

  it('checks only the trainable parameters of a partly frozen model', () => {
    const result = runCli(['gradcheck', FIXTURE, '--model', 'SmallAttnOnly', '--directions', '2'], {}, 120_000);
    expect(result.status).toBe(0);
    expect(result.stdout).toContain('ok: 10 parameters checked');
    expect(result.stdout).not.toContain('mlp.fc1');
  });

  it('fails, exit 1, when the tolerance cannot be met', () => {
    const result = runCli(['gradcheck', FIXTURE, '--rtol', '1e-30'], {}, 120_000);
    expect(result.status).toBe(1);
    expect(result.stdout).toMatch(/\nFAILED: 32 parameters checked/);
  });

  it('reports source errors as diagnostics and usage errors with exit 2, never a stack trace', () => {
    const dir = mkdtempSync(join(tmpdir(), 'vitm-gradcheck-'));
    const bad = join(dir, 'bad.vitm');
    writeFileSync(
      bad,
      'import std.vit.{ViT}\nmodel M = ViT(image: 28, patch: 5, channels: 1, classes: 10, dim: 8, depth: 1, heads: 2)\n',
    );
    const diag = runCli(['gradcheck', bad]);
    expect(diag.status).toBe(1);
    expect(diag.stderr).toMatch(/bad\.vitm:\d+:\d+: error VT\d{4}/);
    expect(diag.stderr).not.toMatch(JS_STACK_FRAME);
    const usage = runCli(['gradcheck', FIXTURE, '--model', 'Nope']);
    expect(usage.status).toBe(2);
    expect(usage.stderr).toContain("no model 'Nope' in the file; its models: Small, SmallAttnOnly");
    expect(runCli(['gradcheck', FIXTURE, '--batch', '0']).status).toBe(2);
    expect(runCli(['gradcheck']).status).toBe(2);
  });
});
