/**
 * `vitm compile`: the stages it writes (printed IR, gradient IR, one WGSL file per kernel and their index) compared
 * with the golden files in `golden/` (`UPDATE_GOLDEN=1` rewrites them), its summary, its FLOP count, and its errors.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { spawnSync } from 'node:child_process';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { graphFlops } from '../../cli/compile.js';
import { GraphBuilder } from '../../compiler/ir/builder.js';
import { CLI, JS_STACK_FRAME, runCli } from '../support/cli.js';
import { goldenText, goldenWgsl, wgslFiles } from './golden.js';

const SMALL = 'test/lower/fixtures/small_vit.vitm';
const TINY = 'examples/vit_tiny.vitm';
const GOLDEN = join('test', 'compile', 'golden');

const tempDir = (): string => mkdtempSync(join(tmpdir(), 'vitm-compile-'));

/** The `file` lines of kernels.txt, `-` (constant uploads) left out. */
function indexedFiles(index: string): string[] {
  return [...index.matchAll(/^ {2}file {6}(\S+)$/gm)].map((m) => m[1] ?? '').filter((f) => f !== '-');
}

describe('vitm compile', () => {
  it('writes the small ViT forward and training IR and kernels equal to the golden files', () => {
    const out = join(tempDir(), 'small');
    const result = runCli(['compile', SMALL, '-o', out], {}, 120_000);
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    const summary = result.stdout;
    expect(summary).toMatch(new RegExp(`^compile Small \\(batch 1\\) -> ${out}\\n`));
    expect(summary).toContain('  parameters  1,555 total, 1,555 trainable\n');
    const kernels = /kernels {5}(\d+) forward, (\d+) training/.exec(summary);
    const forwardKernels = Number(kernels?.[1]);
    const trainingKernels = Number(kernels?.[2]);
    expect(forwardKernels).toBeGreaterThan(0);
    expect(trainingKernels).toBeGreaterThan(forwardKernels);
    expect(summary).toMatch(/FLOPs {7}[\d,]+ forward, [\d,]+ training per example/);
    // 1,555 f32 parameters = 6,220 bytes, as many gradient bytes, no optimizer state without an experiment.
    expect(summary).toMatch(
      /memory {6}forward peak [\d.]+ KiB; training peak [\d.]+ KiB \([\d.]+ KiB without buffer reuse\), lower bound [\d.]+ KiB = parameters 6\.07 KiB \+ gradients 6\.07 KiB \+ optimizer state 0 B \(no experiment trains this model\) \+ largest live set [\d.]+ KiB\n/,
    );

    const forward = wgslFiles(out, ['forward']);
    const training = wgslFiles(out, ['training']);
    expect(forward).toHaveLength(forwardKernels);
    expect(training).toHaveLength(trainingKernels);
    expect(forward.some((f) => /^forward\/\d{3}_layer_norm_f32(_fused\d)?(_x4)?\.wgsl$/.test(f))).toBe(true);
    expect(summary).toContain(`wrote ${3 + forwardKernels + trainingKernels} files:\n  forward.ir\n  training.ir\n`);

    const index = readFileSync(join(out, 'kernels.txt'), 'utf8');
    expect(indexedFiles(index)).toEqual([...forward, ...training]);
    expect(index).toMatch(/^# kernels of model Small, planned at batch 1 for WebGPU's default limits/);
    expect(index).toMatch(/ {2}source {4}std\/nn\.vitm:\d+:\d+\n/);

    const training_ir = readFileSync(join(out, 'training.ir'), 'utf8');
    expect(training_ir).toContain('output "grad:head.weight"');
    goldenText(join(GOLDEN, 'small_vit', 'forward.ir'), readFileSync(join(out, 'forward.ir'), 'utf8'));
    goldenText(join(GOLDEN, 'small_vit', 'training.ir'), training_ir);
    goldenText(join(GOLDEN, 'small_vit', 'kernels.txt'), index);
    goldenWgsl(out, ['forward', 'training'], join(GOLDEN, 'small_vit'));
  });

  it('writes only the stages --emit names: the tiny ViT forward IR and kernels, equal to the golden files', () => {
    const out = tempDir();
    const result = runCli(['compile', TINY, '-o', out, '--emit', 'ir,wgsl'], {}, 120_000);
    expect(result.status).toBe(0);
    expect(existsSync(join(out, 'forward.ir'))).toBe(true);
    expect(existsSync(join(out, 'training.ir'))).toBe(false);
    goldenText(join(GOLDEN, 'vit_tiny', 'forward.ir'), readFileSync(join(out, 'forward.ir'), 'utf8'));
    goldenWgsl(out, ['forward'], join(GOLDEN, 'vit_tiny'));

    const irOnly = tempDir();
    const ir = runCli(['compile', TINY, '-o', irOnly, '--emit', 'grad'], {}, 120_000);
    expect(ir.status).toBe(0);
    expect(readdirSync(irOnly)).toEqual(['training.ir']);
    expect(ir.stdout).toMatch(/wrote 1 file:\n {2}training\.ir\n$/);
  });

  it('writes into runs/compile/<model> under the working folder by default', () => {
    const cwd = tempDir();
    const fixture = resolve(SMALL);
    const result = spawnSync(process.execPath, [CLI, 'compile', fixture, '--model', 'SmallAttnOnly', '--emit', 'ir'], {
      cwd,
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(result.status).toBe(0);
    expect(result.stdout).toMatch(/^compile SmallAttnOnly \(batch 1\) -> runs\/compile\/SmallAttnOnly\n/);
    expect(result.stdout).toContain('  parameters  1,555 total, 603 trainable\n');
    expect(readdirSync(join(cwd, 'runs', 'compile', 'SmallAttnOnly'))).toEqual(['forward.ir']);
  });

  it('plans for a device with subgroups of --subgroup-size lanes: one fused attention kernel per block', () => {
    const out = tempDir();
    const result = runCli(['compile', TINY, '-o', out, '--emit', 'wgsl', '--subgroup-size', '8'], {}, 120_000);
    expect(result.status).toBe(0);
    const files = wgslFiles(out, ['forward', 'training']);
    const attention = files.filter((f) => f.includes('_attention_'));
    // Six blocks in the forward plan; the training plan keeps the probabilities for the backward pass.
    expect(attention).toHaveLength(6);
    expect(attention.every((f) => f.startsWith('forward/'))).toBe(true);
    expect(files.filter((f) => f.startsWith('forward/') && /_(softmax|slice_transpose)_/.test(f))).toEqual([]);
    goldenText(join(GOLDEN, 'vit_tiny', 'attention_sg8.wgsl'), readFileSync(join(out, attention[0] ?? ''), 'utf8'));
    expect(readFileSync(join(out, 'kernels.txt'), 'utf8')).toContain('no shader-f16, subgroups of 8)');
    const bad = runCli(['compile', TINY, '-o', out, '--subgroup-size', '0']);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain("--subgroup-size takes an integer from 1 to 128, got '0'");
  });

  it('plans the kernels at the batch given', () => {
    const out = tempDir();
    const result = runCli(['compile', SMALL, '-o', out, '--emit', 'wgsl', '--batch', '4'], {}, 120_000);
    expect(result.status).toBe(0);
    expect(result.stdout).toMatch(/^compile Small \(batch 4\)/);
    const index = readFileSync(join(out, 'kernels.txt'), 'utf8');
    expect(index).toContain('planned at batch 4');
    // The patch embedding: [patches, C * P * P] x [C * P * P, dim] per image, 4 patches of 2 * 4 * 4 values, width 8;
    // the weight is shared, so the 4 images' patches are the rows of one matmul.
    expect(index).toContain('dispatch  matmul 1x[16x32]x[32x8] nt');
  });

  it('counts matmul FLOPs as 2MNK and elementwise ones per output element', () => {
    const b = new GraphBuilder();
    const x = b.data('x', ['B', 3, 5]);
    const w = b.param('w', [5, 7]);
    const y = b.matmul(x, w);
    const graph = b.build({ out: b.exp(b.add(y, y)) });
    // 2 * (B * 3) * 7 * 5 for the matmul, 2 * B * 3 * 7 for add and exp.
    expect(graphFlops(graph, { B: 1 })).toBe(210 + 42);
    expect(graphFlops(graph, { B: 4 })).toBe(4 * (210 + 42));
  });

  it('reports source errors as diagnostics (exit 1) and usage errors with exit 2, never a stack trace', () => {
    const dir = tempDir();
    const bad = join(dir, 'bad.vitm');
    writeFileSync(
      bad,
      'import std.vit.{ViT}\nmodel M = ViT(image: 28, patch: 5, channels: 1, classes: 10, dim: 8, depth: 1, heads: 2)\n',
    );
    const diag = runCli(['compile', bad, '-o', join(dir, 'out')]);
    expect(diag.status).toBe(1);
    expect(diag.stderr).toMatch(/bad\.vitm:\d+:\d+: error VT\d{4}/);
    expect(diag.stderr).not.toMatch(JS_STACK_FRAME);
    expect(existsSync(join(dir, 'out'))).toBe(false);

    const model = runCli(['compile', SMALL, '--model', 'Nope', '-o', join(dir, 'x')]);
    expect(model.status).toBe(2);
    expect(model.stderr).toContain("no model 'Nope' in the file; its models: Small, SmallAttnOnly");
    const emit = runCli(['compile', SMALL, '--emit', 'ir,ptx', '-o', join(dir, 'y')]);
    expect(emit.status).toBe(2);
    expect(emit.stderr).toContain("--emit: unknown stage 'ptx'; the stages are ir, grad, wgsl");
    expect(runCli(['compile', SMALL, '--batch', '0']).status).toBe(2);
    expect(runCli(['compile']).status).toBe(2);
    for (const r of [model, emit]) expect(r.stderr).not.toMatch(JS_STACK_FRAME);
  });
});
