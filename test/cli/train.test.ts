/**
 * `vitm train` and `vitm eval` as a user runs them: a run folder with checkpoints, metrics, curves and the final
 * weights; Ctrl-C saving a checkpoint and `--resume` finishing the run; `eval --json`; coded errors with the
 * experiment's file:line:col. Synthetic data and a small ViT keep each run to seconds.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, type TestContext } from 'vitest';
import { CLI, JS_STACK_FRAME, runCli } from '../support/cli.js';
import { openTestDevice } from '../support/gpu.js';

const SOURCE = `import std.vit.{ViT}
model Small = ViT(image: 28, patch: 7, channels: 1, classes: 3, dim: 16, depth: 1, heads: 2, mlp_ratio: 2.0)

experiment quick {
  model: Small
  data: synthetic(size: 192, classes: 3, seed: 2)
  eval: synthetic(size: 60, classes: 3, seed: 2)
  loss: cross_entropy
  optimizer: adamw(lr: 3e-3)
  schedule: cosine(warmup: 5)
  epochs: 4
  batch: 16
}

experiment long {
  model: Small
  data: synthetic(size: 192, classes: 3, seed: 2)
  loss: cross_entropy
  optimizer: sgd(lr: 0.05, momentum: 0.9)
  steps: 100000
  batch: 16
}

experiment bad_momentum {
  model: Small
  data: synthetic(size: 192, classes: 3)
  loss: cross_entropy
  optimizer: sgd(lr: 0.05, momentum: 1.5)
  steps: 10
  batch: 16
}
`;

let dir: string;
let file: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'vitm-cli-train-'));
  file = join(dir, 'exp.vitm');
  writeFileSync(file, SOURCE);
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

async function requireAdapter(ctx: TestContext): Promise<void> {
  const gpu = await openTestDevice(ctx);
  gpu.dispose();
}

describe('vitm train', { timeout: 600_000 }, () => {
  it('trains into a run folder; vitm eval --json reads its weights', async (ctx) => {
    await requireAdapter(ctx);
    const out = join(dir, 'quick');
    const r = runCli(
      ['train', file, '--experiment', 'quick', '--out', out, '--log-every', '4', '--fixed-tiles'],
      {},
      300_000,
    );
    expect(r.stderr).not.toMatch(JS_STACK_FRAME);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(
      /^train quick: model Small \([\d,]+ parameters, [\d,]+ trained\), adamw, batch 16, 48 steps/,
    );
    expect(r.stdout).toMatch(/\ntest accuracy \d+\.\d\d%, loss \d\.\d{4} on 60 images\n/);
    for (const f of ['model.safetensors', 'metrics.jsonl', 'curves.svg', 'curves.png', 'latest'])
      expect(existsSync(join(out, f)), f).toBe(true);
    expect(readFileSync(join(out, 'latest'), 'utf8').trim()).toBe('checkpoints/step-00000048');
    const records = readFileSync(join(out, 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(records.filter((x) => x.split === 'eval').map((x) => x.step)).toEqual([12, 24, 36, 48]);
    expect(records.at(-2)).toMatchObject({ split: 'train', step: 48 });

    const e = runCli(['eval', file, '--experiment', 'quick', '--checkpoint', out, '--json'], {}, 240_000);
    expect(e.status).toBe(0);
    const json = JSON.parse(e.stdout) as { accuracy: number; loss: number; n: number };
    expect(Object.keys(json)).toEqual(['accuracy', 'loss', 'n']);
    expect(json.n).toBe(60);
    // The same weights on the same data: the number the trainer's own final evaluation printed.
    const printed = /test accuracy (\d+\.\d\d)%/.exec(r.stdout)?.[1];
    expect((100 * json.accuracy).toFixed(2)).toBe(printed);
    // A checkpoint folder works too.
    const c = runCli(
      ['eval', file, '--experiment', 'quick', '--checkpoint', join(out, 'checkpoints', 'step-00000048'), '--json'],
      {},
      240_000,
    );
    expect(JSON.parse(c.stdout)).toEqual(json);
    // Test-time augmentation: the same images and their mirror images.
    const t = runCli(['eval', file, '--experiment', 'quick', '--checkpoint', out, '--tta', 'flip'], {}, 240_000);
    expect(t.status).toBe(0);
    expect(t.stdout).toMatch(
      /^accuracy \d+\.\d\d% \(\d+\/60\), loss \d+\.\d{4} on synthetic data, each image averaged with its mirror image$/m,
    );
    // The run folder is never overwritten.
    const again = runCli(['train', file, '--experiment', 'quick', '--out', out]);
    expect(again.status).toBe(1);
    expect(again.stderr).toMatch(/^error VT6016: the folder .* already holds a run/m);
  });

  it('Ctrl-C saves a checkpoint and exits 130; --resume continues from it', async (ctx) => {
    await requireAdapter(ctx);
    const out = join(dir, 'long');
    const child = spawn(
      process.execPath,
      [
        CLI,
        'train',
        file,
        '--experiment',
        'long',
        '--out',
        out,
        '--log-every',
        '5',
        '--checkpoint-every',
        '1000000',
        '--fixed-tiles',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    // Interrupt once some steps have been logged.
    const metrics = join(out, 'metrics.jsonl');
    const started = Date.now();
    while (!(existsSync(metrics) && readFileSync(metrics, 'utf8').split('\n').length > 2)) {
      if (Date.now() - started > 240_000) throw new Error(`no progress: ${stdout}\n${stderr}`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    child.kill('SIGINT');
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    expect(stderr).not.toMatch(JS_STACK_FRAME);
    expect(code).toBe(130);
    expect(stderr).toMatch(/interrupted at step [\d,]+: stopped by Ctrl-C/);
    const latest = readFileSync(join(out, 'latest'), 'utf8').trim();
    const step = Number(/step-(\d+)/.exec(latest)?.[1]);
    expect(step).toBeGreaterThanOrEqual(10);
    expect(stdout).toContain(`resume with: vitm train ${file} --experiment long --out ${out} --resume`);

    // Resume, and stop again a few steps later with --steps.
    const r = runCli(
      ['train', file, '--experiment', 'long', '--out', out, '--resume', '--steps', String(step + 7), '--fixed-tiles'],
      {},
      240_000,
    );
    expect(r.status).toBe(0);
    expect(r.stdout).toContain(`resuming at step ${step}`);
    expect(readFileSync(join(out, 'latest'), 'utf8').trim()).toBe(
      `checkpoints/step-${String(step + 7).padStart(8, '0')}`,
    );
  });

  it('a setting out of range is VT6018 at its file:line:col', async (ctx) => {
    await requireAdapter(ctx);
    const r = runCli(['train', file, '--experiment', 'bad_momentum', '--out', join(dir, 'bad')]);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`^error VT6018: ${file.replace(/[.]/g, '\\.')}:28:14: sgd: momentum = 1.5`));
    expect(r.stderr).not.toMatch(JS_STACK_FRAME);
  });

  it('names an unknown experiment and a missing --checkpoint', () => {
    const usage = runCli(['train', file, '--experiment', 'nope']);
    expect(usage.status).toBe(2);
    expect(usage.stderr).toContain("no experiment 'nope' in the file; its experiments: quick, long, bad_momentum");
    const eval_ = runCli(['eval', file]);
    expect(eval_.status).toBe(2);
    expect(eval_.stderr).toContain('eval needs --checkpoint CKPT');
    const tta = runCli(['eval', file, '--checkpoint', 'x.safetensors', '--tta', 'rot90']);
    expect(tta.status).toBe(2);
    expect(tta.stderr).toContain("--tta takes none or flip, got 'rot90'");
  });
});
