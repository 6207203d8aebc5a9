import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { RunFolder, defaultRunDir, nonFiniteLossError } from '../../runtime/checkpoint/folder.js';
import { f32 } from '../../runtime/checkpoint/tensor.js';
import { VitmRuntimeError } from '../../runtime/errors.js';
import { readMetrics } from '../../runtime/metrics/jsonl.js';

const root = (): string => mkdtempSync(join(tmpdir(), 'vitm-folder-'));
const checkpoint = (step: number) => ({
  model: new Map([['head.weight', f32([1, 2], Float32Array.of(step, step))]]),
  optimizer: new Map(),
  state: { step },
});

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    if (error instanceof VitmRuntimeError) return error.code;
    throw error;
  }
  return undefined;
}

describe('run folders', () => {
  it('names a new run folder by experiment and UTC time, never reusing one', () => {
    const r = root();
    const when = new Date(Date.UTC(2026, 10, 24, 3, 4, 5));
    const first = defaultRunDir(r, 'vit tiny/fashion', when);
    expect(first).toBe(join(r, 'vit_tiny_fashion-20261124-030405'));
    RunFolder.open(first).finish();
    expect(defaultRunDir(r, 'vit tiny/fashion', when)).toBe(`${first}-2`);
  });

  it('a run logs, saves and finishes with metrics, checkpoints and curves in its folder', () => {
    const dir = defaultRunDir(root(), 'tiny');
    const run = RunFolder.open(dir);
    expect(run.resumedFrom).toBeUndefined();
    for (let step = 1; step <= 30; step++) {
      run.log({ step, split: 'train', loss: 1 / step, accuracy: step / 30 });
      if (step % 10 === 0) run.save(checkpoint(step));
    }
    run.log({ step: 30, split: 'eval', loss: 0.05, accuracy: 0.9 });
    const curves = run.finish('tiny');
    expect(existsSync(curves.svg ?? '')).toBe(true);
    expect(existsSync(curves.png ?? '')).toBe(true);
    expect(readMetrics(join(dir, 'metrics.jsonl')).records).toHaveLength(31);
    expect(run.latest()).toBe(join(dir, 'checkpoints', 'step-00000030'));
  });

  it('refuses to start a new run over an existing one (VT6016)', () => {
    const dir = defaultRunDir(root(), 'tiny');
    const run = RunFolder.open(dir);
    run.log({ step: 1, split: 'train', loss: 1 });
    run.finish();
    expect(codeOf(() => RunFolder.open(dir))).toBe('VT6016');
  });

  it('resuming loads the latest checkpoint and drops the metrics logged after it', () => {
    const dir = defaultRunDir(root(), 'tiny');
    const run = RunFolder.open(dir);
    for (let step = 1; step <= 25; step++) {
      run.log({ step, split: 'train', loss: 1 / step });
      if (step % 10 === 0) run.save(checkpoint(step));
    }
    // Killed at step 25 without finishing.
    const resumed = RunFolder.open(dir, { resume: true });
    expect(resumed.resumedFrom?.state.step).toBe(20);
    expect(readMetrics(join(dir, 'metrics.jsonl')).records.map((r) => r.step)).toEqual(
      Array.from({ length: 20 }, (_, i) => i + 1),
    );
    resumed.log({ step: 21, split: 'train', loss: 0.04 });
    resumed.finish();
    expect(readFileSync(join(dir, 'metrics.jsonl'), 'utf8').trim().split('\n')).toHaveLength(21);
  });

  it('resuming a folder with no run or no checkpoint is VT6012', () => {
    const r = root();
    expect(codeOf(() => RunFolder.open(join(r, 'absent'), { resume: true }))).toBe('VT6012');
    const dir = defaultRunDir(r, 'tiny');
    RunFolder.open(dir).finish();
    expect(codeOf(() => RunFolder.open(dir, { resume: true }))).toBe('VT6012');
  });

  it('a NaN loss names the step and the last good checkpoint (VT6017)', () => {
    const e = nonFiniteLossError(1234, NaN, 'runs/x/checkpoints/step-00001200');
    expect(e.code).toBe('VT6017');
    expect(e.message).toBe(
      'the loss became NaN at step 1234; the last good checkpoint is runs/x/checkpoints/step-00001200',
    );
    expect(e.hint).toContain('--resume');
    expect(nonFiniteLossError(3, Infinity, undefined).message).toContain('no checkpoint was saved before it');
  });
});
