/**
 * The trainer's host side: experiment settings (defaults, ranges, VT6018 at the setting's location), schedules, the
 * weight-decay patterns, the transform strings, and folding experts for export. No device needed.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { nodeHost } from '../../cli/check.js';
import { locator } from '../../cli/train.js';
import { compileProgram } from '../../compiler/pipeline.js';
import { VitmRuntimeError } from '../../runtime/errors.js';
import { parseTransforms, trainConfig, valueAt, type TrainConfig } from '../../runtime/train/config.js';
import { checkFitsModel } from '../../runtime/train/export.js';
import {
  clipScale,
  decays,
  DEFAULT_NO_DECAY,
  learningRate,
  referenceUpdate,
  stepConstants,
  type ScheduleSpec,
} from '../../runtime/train/optimizer.js';

const dir = mkdtempSync(join(tmpdir(), 'vitm-config-'));
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

function configOf(body: string, extra = ''): TrainConfig {
  const file = join(dir, `e${Math.random().toString(36).slice(2)}.vitm`);
  writeFileSync(
    file,
    `import std.vit.{ViT}
model M = ViT(image: 28, patch: 7, channels: 1, classes: 10, dim: 16, depth: 1, heads: 2)
${extra}
experiment e {
  model: M
  loss: cross_entropy
  batch: 8
  steps: 100
${body}
}
`,
  );
  const result = compileProgram(file, nodeHost());
  const exp = result.program?.experiments[0];
  if (!result.program || !exp) throw new Error(result.diagnostics.map((d) => d.message).join('\n'));
  return trainConfig(exp, locator(result.files), result.program.models);
}

function errorOf(f: () => unknown): VitmRuntimeError {
  try {
    f();
  } catch (e) {
    if (e instanceof VitmRuntimeError) return e;
    throw e;
  }
  throw new Error('no error');
}

describe('experiment settings', () => {
  it('fills in PyTorch defaults and timm no-decay patterns', () => {
    const c = configOf(`  data: fashion_mnist\n  optimizer: adamw`);
    expect(c.optimizer).toEqual({ kind: 'adamw', lr: 1e-3, weightDecay: 0.01, beta1: 0.9, beta2: 0.999, eps: 1e-8 });
    expect(c.noDecay).toEqual(DEFAULT_NO_DECAY);
    expect(c.schedule).toEqual({ kind: 'constant', warmup: 0 });
    expect(c.maxGradNorm).toBe(0);
    expect(c.seed).toBe(0);
    expect(c.train.source).toEqual({ kind: 'fashion-mnist', split: 'train' });
  });

  it('reads data selections, augmentation and domains', () => {
    const c = configOf(
      `  data: fashion_mnist(split: "train", classes: [5, 6, 7], per_class: 100, augment: "flip, shift(2)", transform: "rot90")
  eval: fashion_mnist(classes: 3, limit: 50)
  optimizer: sgd(lr: 0.1, momentum: 0.9, nesterov: true, no_decay: "*.bias")
  schedule: step(every: 30, gamma: 0.5, warmup: 5)
  clip_grad: 2.5
  seed: 7`,
    );
    expect(c.train).toMatchObject({
      classes: [5, 6, 7],
      perClass: 100,
      domain: 'rot90',
      augment: [{ kind: 'flip' }, { kind: 'shift', max: 2 }],
      seed: 7,
    });
    expect(c.eval).toMatchObject({ source: { split: 'test' }, classes: [0, 1, 2], limit: 50 });
    expect(c.noDecay).toEqual(['*.bias']);
    expect(c.schedule).toEqual({ kind: 'step', warmup: 5, every: 30, gamma: 0.5 });
    expect(c.maxGradNorm).toBe(2.5);
  });

  it.each([
    ['  data: fashion_mnist\n  optimizer: sgd(momentum: 1.5)', /:10:14: sgd: momentum = 1\.5 is out of range/],
    ['  data: fashion_mnist\n  optimizer: sgd(nesterov: true)', /nesterov needs a momentum/],
    ['  data: fashion_mnist\n  optimizer: adam(beta2: 1)', /beta2 = 1 is out of range/],
    ['  data: fashion_mnist\n  optimizer: adamw(lr: -1)', /lr = -1 is out of range/],
    ['  data: cifar10\n  optimizer: sgd', /the data set 'cifar10' is not available/],
    ['  data: fashion_mnist(augment: "blur")\n  optimizer: sgd', /unknown transform 'blur'/],
    ['  data: fashion_mnist(split: "val")\n  optimizer: sgd', /split must be "train" or "test"/],
    ['  data: fashion_mnist\n  optimizer: sgd\n  schedule: step(every: 0)', /every must be a positive/],
    ['  optimizer: sgd', /has no 'data' to train on/],
  ])('VT6018 for %s', (body, message) => {
    const e = errorOf(() => configOf(body));
    expect(e.code).toBe('VT6018');
    expect(e.message).toMatch(message);
    expect(e.message).toMatch(/^.*\.vitm:\d+:\d+: /);
  });

  it('reads ewa hooks with constant or linear beta, and exports', () => {
    const c = configOf(
      `  data: fashion_mnist\n  optimizer: sgd\n  after_step: [ewa(blocks[0].mlp, beta: linear(0, 0.3, steps: 10), until: 50)]\n  export: to_ffn(blocks[0].mlp) as M`,
    );
    expect(c.hooks).toHaveLength(1);
    expect(c.hooks[0]).toMatchObject({ paths: ['blocks.0.mlp'], until: 50 });
    const beta = c.hooks[0]?.beta;
    if (!beta) throw new Error('no beta');
    expect([0, 5, 10, 20].map((s) => valueAt(beta, s))).toEqual([0, 0.15, 0.3, 0.3]);
    expect(c.export).toMatchObject({ kind: 'to_ffn', paths: ['blocks.0.mlp'], path: 'M.safetensors' });
    expect(c.export?.as?.parameters.get('head.weight')).toEqual([10, 16]);
    const e = errorOf(() =>
      configOf(`  data: fashion_mnist\n  optimizer: sgd\n  after_step: ewa(blocks[0].mlp, beta: 2)`),
    );
    expect(e.message).toMatch(/beta must be in \[0, 1\]/);
  });
});

describe('schedules', () => {
  const schedules: ScheduleSpec[] = [
    { kind: 'constant', warmup: 10 },
    { kind: 'cosine', warmup: 10, minLr: 1e-5 },
    { kind: 'linear', warmup: 0, start: 1, end: 0.1 },
    { kind: 'step', warmup: 10, every: 25, gamma: 0.5 },
  ];
  it('warm up linearly, then follow their shape', () => {
    expect(learningRate(schedules[0] as ScheduleSpec, 1, 0, 100)).toBeCloseTo(0.1);
    expect(learningRate(schedules[0] as ScheduleSpec, 1, 9, 100)).toBe(1);
    expect(learningRate(schedules[1] as ScheduleSpec, 1, 10, 100)).toBe(1);
    expect(learningRate(schedules[1] as ScheduleSpec, 1, 100, 100)).toBeCloseTo(1e-5, 12);
    expect(learningRate(schedules[1] as ScheduleSpec, 1, 55, 100)).toBeCloseTo(0.5 + 0.5e-5, 9);
    expect(learningRate(schedules[2] as ScheduleSpec, 2, 0, 101)).toBe(2);
    expect(learningRate(schedules[2] as ScheduleSpec, 2, 101, 101)).toBeCloseTo(0.2);
    expect(learningRate(schedules[3] as ScheduleSpec, 1, 10 + 24, 200)).toBe(1);
    expect(learningRate(schedules[3] as ScheduleSpec, 1, 10 + 25, 200)).toBe(0.5);
  });
  it('never exceed the base rate and never go negative', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...schedules),
        fc.integer({ min: 0, max: 1000 }),
        fc.integer({ min: 11, max: 1000 }),
        (s, step, total) => {
          const lr = learningRate(s, 0.01, step, total);
          return lr >= 0 && lr <= 0.01 + 1e-15;
        },
      ),
    );
  });
});

describe('optimizer formulas', () => {
  it('decay applies to names that match no pattern', () => {
    expect(decays('blocks.0.attn.qkv.weight', DEFAULT_NO_DECAY)).toBe(true);
    expect(decays('blocks.0.attn.qkv.bias', DEFAULT_NO_DECAY)).toBe(false);
    expect(decays('blocks.0.norm1.weight', DEFAULT_NO_DECAY)).toBe(false);
    expect(decays('cls_token', DEFAULT_NO_DECAY)).toBe(false);
    expect(decays('pos_embed', DEFAULT_NO_DECAY)).toBe(false);
    expect(decays('head.weight', DEFAULT_NO_DECAY)).toBe(true);
  });

  it('clipping scales to the largest norm and leaves small gradients alone', () => {
    expect(clipScale(10, 1)).toBeCloseTo(0.1, 6);
    expect(clipScale(0.5, 1)).toBe(1);
    expect(clipScale(10, 0)).toBe(1);
  });

  it('AdamW matches its closed form on the first step: p (1 - lr wd) - lr sign(g) (for |g| >> eps)', () => {
    const spec = { kind: 'adamw', lr: 0.01, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.1 } as const;
    const p = Float64Array.from([1, -2, 3]);
    const g = [0.5, -0.25, 2];
    const state = { exp_avg: new Float64Array(3), exp_avg_sq: new Float64Array(3) };
    referenceUpdate(spec, stepConstants(spec, 0.01, 1, true), p, g, state);
    expect([...p].map((x) => Number(x.toFixed(6)))).toEqual([0.989, -1.988, 2.987]);
  });

  it('SGD with Nesterov momentum: the second step uses g + m (m g + buf)', () => {
    const spec = { kind: 'sgd', lr: 0.1, momentum: 0.5, nesterov: true, weightDecay: 0 } as const;
    const p = Float64Array.from([0]);
    const state = { momentum_buffer: new Float64Array(1) };
    referenceUpdate(spec, stepConstants(spec, 0.1, 1, true), p, [1], state);
    expect(p[0]).toBeCloseTo(-0.15, 7); // buf = 1, g + 0.5 buf = 1.5 (constants are f32)
    referenceUpdate(spec, stepConstants(spec, 0.1, 2, true), p, [1], state);
    expect(p[0]).toBeCloseTo(-0.15 - 0.1 * (1 + 0.5 * 1.5), 7); // buf = 1.5
  });
});

describe('transforms and export', () => {
  it('parses transform lists', () => {
    const fail = (why: string): never => {
      throw new Error(why);
    };
    expect(parseTransforms('flip(0.25), shift(3), rot90(2), invert, noise(0.05)', fail)).toEqual([
      { kind: 'flip', p: 0.25 },
      { kind: 'shift', max: 3 },
      { kind: 'rot90', k: 2 },
      { kind: 'invert' },
      { kind: 'noise', std: 0.05 },
    ]);
    expect(() => parseTransforms('shift(x)', fail)).toThrow(/cannot read/);
  });

  it('checks exported weights against the target model', () => {
    const weights = new Map([
      ['blocks.0.mlp.fc1.bias', { shape: [3], values: Float32Array.from([1, 2, 3]) }],
      ['head.bias', { shape: [2], values: Float32Array.from([7, 8]) }],
    ]);
    const shapes = (entries: [string, number[]][]): Map<string, number[]> => new Map(entries);
    checkFitsModel(
      weights,
      shapes([
        ['blocks.0.mlp.fc1.bias', [3]],
        ['head.bias', [2]],
      ]),
      'Plain',
    );
    expect(
      errorOf(() => {
        checkFitsModel(weights, shapes([['head.bias', [2]]]), 'Plain');
      }).message,
    ).toMatch(/has a tensor 'blocks.0.mlp.fc1.bias' that Plain does not have/);
    expect(
      errorOf(() => {
        checkFitsModel(
          weights,
          shapes([
            ['blocks.0.mlp.fc1.bias', [2, 3]],
            ['head.bias', [2]],
          ]),
          'Plain',
        );
      }).message,
    ).toMatch(/is \[3\], Plain expects \[2, 3\]/);
  });
});
