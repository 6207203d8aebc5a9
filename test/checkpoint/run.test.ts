import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CheckpointStore, loadCheckpointDir, stepDirName, type RunCheckpoint } from '../../runtime/checkpoint/run.js';
import { decodeSafetensors, type Tensor } from '../../runtime/checkpoint/safetensors.js';
import { f32, toFloat32 } from '../../runtime/checkpoint/tensor.js';
import { BatchLoader } from '../../runtime/data/loader.js';
import { Rng, type RngState } from '../../runtime/data/rng.js';
import { syntheticDataset } from '../../runtime/data/synthetic.js';
import { VitmRuntimeError } from '../../runtime/errors.js';

const fresh = (): string => mkdtempSync(join(tmpdir(), 'vitm-run-'));

function checkpointAt(step: number, fill = step): RunCheckpoint {
  return {
    model: new Map([
      ['head.weight', f32([2, 3], new Float32Array(6).fill(fill))],
      ['head.bias', f32([2], Float32Array.of(fill, -fill))],
    ]),
    optimizer: new Map([['head.weight.exp_avg', f32([2, 3], new Float32Array(6).fill(fill / 10))]]),
    state: { step, optimizer: { kind: 'adamw', lr: 0.001 }, extra: { experiment: 'tiny' } },
    metadata: { 'vitm.experiment': 'tiny' },
  };
}

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    if (error instanceof VitmRuntimeError) return error.code;
    throw error;
  }
  return undefined;
}

const values = (t: Tensor | undefined): number[] => (t ? [...toFloat32(t)] : []);

describe('run checkpoints', () => {
  it('saves model, optimizer state and train state; latest names it; it loads back whole', () => {
    const run = fresh();
    const store = new CheckpointStore(run);
    expect(store.latest()).toBeUndefined();
    const info = store.save(checkpointAt(100));
    expect(info.dir).toBe(join(run, 'checkpoints', 'step-00000100'));
    expect(readdirSync(info.dir).sort()).toEqual(['model.safetensors', 'optimizer.safetensors', 'state.json']);
    expect(readFileSync(join(run, 'latest'), 'utf8')).toBe('checkpoints/step-00000100\n');
    const loaded = store.load();
    expect(loaded.state).toEqual(checkpointAt(100).state);
    expect(values(loaded.model.get('head.bias'))).toEqual([100, -100]);
    expect(values(loaded.optimizer.get('head.weight.exp_avg'))).toEqual(new Array(6).fill(10));
    expect(loaded.metadata).toEqual({ 'vitm.experiment': 'tiny' });
    // model.safetensors stands alone: timm names, format "pt" (what safetensors.torch expects), the step.
    const model = decodeSafetensors(readFileSync(join(info.dir, 'model.safetensors')), 'model.safetensors');
    expect([...model.tensors.keys()].sort()).toEqual(['head.bias', 'head.weight']);
    expect(model.metadata).toMatchObject({ format: 'pt', 'vitm.step': '100' });
  });

  it('keeps the last N checkpoints, deleting older ones', () => {
    const run = fresh();
    const store = new CheckpointStore(run, { keepLast: 2 });
    for (const step of [10, 20, 30, 40]) store.save(checkpointAt(step));
    expect(store.list().map((c) => c.step)).toEqual([30, 40]);
    expect(store.latest()).toBe(join(run, 'checkpoints', stepDirName(40)));
    store.save(checkpointAt(40, 41)); // the same step again replaces it
    expect(store.list().map((c) => c.step)).toEqual([30, 40]);
    expect(values(store.load().model.get('head.bias'))).toEqual([41, -41]);
  });

  it('a crash during a save leaves latest on the previous complete checkpoint', () => {
    const run = fresh();
    new CheckpointStore(run).save(checkpointAt(5));
    let chunks = 0;
    const crashing = new CheckpointStore(run, {
      write: {
        afterChunk: () => {
          if (++chunks === 2) throw new Error('killed');
        },
      },
    });
    expect(() => crashing.save(checkpointAt(6))).toThrow(VitmRuntimeError);
    const store = new CheckpointStore(run);
    expect(store.load().state.step).toBe(5);
    expect(store.list().map((c) => c.step)).toEqual([5]);
    store.save(checkpointAt(7));
    expect(readdirSync(join(run, 'checkpoints')).sort()).toEqual(['step-00000005', 'step-00000007']);
  });

  it('detects damage: a flipped byte or a truncated tensor file is VT6011, a missing file VT6012', () => {
    const run = fresh();
    const store = new CheckpointStore(run);
    const { dir } = store.save(checkpointAt(3));
    const modelPath = join(dir, 'model.safetensors');
    const good = readFileSync(modelPath);
    const flipped = Buffer.from(good);
    flipped[flipped.length - 1] = (flipped[flipped.length - 1] as number) ^ 1; // in the data: still parses
    writeFileSync(modelPath, flipped);
    expect(codeOf(() => store.load())).toBe('VT6011');
    writeFileSync(modelPath, good.subarray(0, good.length - 4));
    expect(codeOf(() => store.load())).toBe('VT6011');
    writeFileSync(modelPath, good);
    expect(loadCheckpointDir(dir).state.step).toBe(3);
    rmSync(join(dir, 'state.json'));
    expect(codeOf(() => store.load())).toBe('VT6012');
  });

  it('no checkpoint, or a damaged latest pointer, is VT6012', () => {
    const run = fresh();
    expect(codeOf(() => new CheckpointStore(run).load())).toBe('VT6012');
    writeFileSync(join(run, 'latest'), 'somewhere/else');
    expect(codeOf(() => new CheckpointStore(run).load())).toBe('VT6012');
    expect(existsSync(join(run, 'checkpoints'))).toBe(false);
  });
});

/**
 * The host side of an exact resume: a small softmax classifier trained with momentum SGD on the CPU, with the data
 * order (loader), a random stream (a dropout-like input mask) and optimizer state all saved in a run checkpoint.
 * Interrupting after k steps and resuming from the checkpoint must give bit-identical weights to an uninterrupted run.
 */
describe('resuming a run', () => {
  const data = syntheticDataset({ count: 120, classes: 3, seed: 5, shape: { channels: 1, height: 8, width: 8 } });
  const features = 64;
  const options = { batchSize: 8, seed: 11, augment: [{ kind: 'flip' as const }] };

  interface Trainer {
    weights: Float32Array;
    velocity: Float32Array;
    loader: BatchLoader;
    mask: Rng;
    step: number;
  }

  const start = (): Trainer => ({
    weights: Float32Array.from({ length: 3 * features }, (_, i) => Math.sin(i) * 0.01),
    velocity: new Float32Array(3 * features),
    loader: new BatchLoader(data, options),
    mask: Rng.of(11, 'mask'),
    step: 0,
  });

  function trainStep(t: Trainer): void {
    const batch = t.loader.next();
    const grad = new Float32Array(t.weights.length);
    for (let k = 0; k < batch.size; k++) {
      const x = batch.images.subarray(k * features, (k + 1) * features).map((v) => (t.mask.chance(0.9) ? v : 0));
      const logits = [0, 1, 2].map((c) => x.reduce((s, v, i) => s + v * (t.weights[c * features + i] as number), 0));
      const m = Math.max(...logits);
      const z = logits.reduce((s, l) => s + Math.exp(l - m), 0);
      for (let c = 0; c < 3; c++) {
        const p = Math.exp((logits[c] as number) - m) / z - (c === batch.labels[k] ? 1 : 0);
        for (let i = 0; i < features; i++)
          grad[c * features + i] = (grad[c * features + i] as number) + (p * (x[i] as number)) / batch.size;
      }
    }
    for (let i = 0; i < t.weights.length; i++) {
      t.velocity[i] = 0.9 * (t.velocity[i] as number) + (grad[i] as number);
      t.weights[i] = (t.weights[i] as number) - 0.1 * (t.velocity[i] as number);
    }
    t.step++;
  }

  const save = (store: CheckpointStore, t: Trainer): void => {
    store.save({
      model: new Map([['head.weight', f32([3, features], t.weights)]]),
      optimizer: new Map([['head.weight.momentum_buffer', f32([3, features], t.velocity)]]),
      state: { step: t.step, data: t.loader.state(), rng: { mask: t.mask.state() } },
    });
  };

  const resume = (store: CheckpointStore): Trainer => {
    const ckpt = store.load();
    const loader = new BatchLoader(data, options);
    loader.restore(ckpt.state.data);
    return {
      weights: toFloat32(ckpt.model.get('head.weight') as Tensor),
      velocity: toFloat32(ckpt.optimizer.get('head.weight.momentum_buffer') as Tensor),
      loader,
      mask: Rng.restore(ckpt.state.rng?.mask as RngState),
      step: ckpt.state.step,
    };
  };

  it('an interrupted run resumed from its checkpoint ends bit-identical to an uninterrupted one', () => {
    const total = 40; // more than two epochs of 15 batches
    const reference = start();
    for (let s = 0; s < total; s++) trainStep(reference);

    const store = new CheckpointStore(fresh(), { keepLast: 2 });
    const first = start();
    for (let s = 0; s < 23; s++) {
      trainStep(first);
      if (first.step % 10 === 0) save(store, first);
    }
    // Killed at step 23: the last checkpoint is step 20; steps 21-23 are lost and redone.
    const resumed = resume(store);
    expect(resumed.step).toBe(20);
    while (resumed.step < total) trainStep(resumed);
    expect(Buffer.from(resumed.weights.buffer).equals(Buffer.from(reference.weights.buffer))).toBe(true);
    expect(Buffer.from(resumed.velocity.buffer).equals(Buffer.from(reference.velocity.buffer))).toBe(true);
    // ...and the run did learn something, so the comparison is not between two untouched arrays.
    expect(reference.weights.some((w, i) => Math.abs(w - Math.sin(i) * 0.01) > 1e-3)).toBe(true);
  });
});
