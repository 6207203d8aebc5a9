/**
 * The trainer on the GPU (lavapipe in CI): optimizer steps against the float64 reference, exact resume, frozen
 * parameters, learning a synthetic task, and a NaN stop. Models are small (28x28 synthetic images, patch 7, width 16)
 * so a test takes seconds.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, type TestContext } from 'vitest';
import { nodeHost } from '../../cli/check.js';
import { locator } from '../../cli/train.js';
import { compileModel, compileProgram } from '../../compiler/pipeline.js';
import type { ElaboratedModel, ElaboratedProgram } from '../../compiler/semantic/elaborated.js';
import { evalShape } from '../../compiler/types/shape.js';
import { readSafetensorsFile } from '../../runtime/checkpoint/run.js';
import { toFloat32 } from '../../runtime/checkpoint/tensor.js';
import { dataLoader, evalData, type DataSpec } from '../../runtime/data/spec.js';
import { Evaluator } from '../../runtime/train/evaluate.js';
import type { HostTensor } from '../../runtime/webgpu/executor.js';
import { VitmRuntimeError } from '../../runtime/errors.js';
import { initialValues } from '../../runtime/params/init.js';
import { evaluate } from '../../runtime/reference/interpret.js';
import { makeTensor, type RefTensor } from '../../runtime/reference/tensor.js';
import { trainConfig, type TrainConfig } from '../../runtime/train/config.js';
import {
  clipScale,
  decays,
  learningRate,
  referenceUpdate,
  stateSlots,
  stepConstants,
} from '../../runtime/train/optimizer.js';
import { train, type TrainEvent, type TrainResult } from '../../runtime/train/trainer.js';
import type { GpuDevice } from '../../runtime/webgpu/device.js';
import { openTestDevice } from '../support/gpu.js';

const MODELS = `
import std.vit.{ViT}
import std.moe.{RandomPartitionMoE}
model Small = ViT(image: 28, patch: 7, channels: 1, classes: 3, dim: 16, depth: 1, heads: 2, mlp_ratio: 2.0)
model Small2 = ViT(image: 28, patch: 7, channels: 1, classes: 3, dim: 16, depth: 2, heads: 2, mlp_ratio: 2.0)
model Small2Moe = Small2 with {
  blocks[1].mlp = RandomPartitionMoE(16, 32, experts: 4);
}
model HeadOnly = Small with {
  freeze **;
  unfreeze head;
}
`;

function experiment(name: string, model: string, optimizer: string, extra = ''): string {
  return `
experiment ${name} {
  model: ${model}
  data: synthetic(size: 256, classes: 3, seed: 1)
  eval: synthetic(size: 96, classes: 3, seed: 1)
  loss: cross_entropy(label_smoothing: 0.1)
  optimizer: ${optimizer}
  batch: 16
  seed: 3
  ${extra}
}`;
}

const SOURCE =
  MODELS +
  experiment('sgd', 'Small', 'sgd(lr: 0.05, momentum: 0.9, nesterov: true, weight_decay: 0.01)', 'steps: 3') +
  experiment('sgd_plain', 'Small', 'sgd(lr: 0.2)', 'steps: 3\n  clip_grad: 0.5') +
  experiment('adamw', 'Small', 'adamw(lr: 1e-3, weight_decay: 0.05)', 'steps: 3\n  clip_grad: 0.5') +
  experiment('adam', 'Small', 'adam(lr: 1e-3, weight_decay: 0.01)', 'steps: 3\n  schedule: cosine(warmup: 1)') +
  experiment('resume', 'Small', 'adamw(lr: 3e-3)', 'steps: 8\n  schedule: cosine(warmup: 2)') +
  experiment('partial', 'HeadOnly', 'adamw(lr: 1e-2)', 'steps: 4') +
  experiment('learn', 'Small', 'adamw(lr: 3e-3, weight_decay: 0.01)', 'epochs: 6\n  schedule: cosine(warmup: 10)') +
  experiment('nan', 'Small', 'sgd(lr: 1e30)', 'steps: 6') +
  experiment(
    'ewa_full',
    'Small2Moe',
    'sgd(lr: 0.05, momentum: 0.9)',
    'steps: 5\n  after_step: ewa(blocks[1].mlp, beta: 0.75)\n  export: to_ffn(blocks[1].mlp) as Small2',
  ) +
  experiment('ewa_none', 'Small2Moe', 'sgd(lr: 0.05, momentum: 0.9)', 'steps: 5');

let dir: string;
let program: ElaboratedProgram;
let locate: ReturnType<typeof locator>;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'vitm-train-'));
  const file = join(dir, 'exp.vitm');
  writeFileSync(file, SOURCE);
  const result = compileProgram(file, nodeHost());
  if (!result.program) throw new Error(result.diagnostics.map((d) => d.message).join('\n'));
  program = result.program;
  locate = locator(result.files);
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

function setup(name: string): { config: TrainConfig; model: ElaboratedModel } {
  const exp = program.experiments.find((e) => e.name === name);
  if (!exp) throw new Error(`no experiment ${name}`);
  const model = program.models.find((m) => m.name === exp.model);
  if (!model) throw new Error(`no model ${exp.model}`);
  return { config: trainConfig(exp, locate), model };
}

let runs = 0;
async function run(
  gpu: GpuDevice,
  name: string,
  options: { stopAfter?: number; resume?: string; checkpointEvery?: number; onEvent?: (e: TrainEvent) => void } = {},
): Promise<TrainResult> {
  const { config, model } = setup(name);
  return train({
    gpu,
    model,
    config,
    runDir: options.resume ?? join(dir, `${name}-${runs++}`),
    ...(options.resume ? { resume: true } : {}),
    ...(options.onEvent ? { onEvent: options.onEvent } : {}),
    ...(options.stopAfter === undefined ? {} : { stopAfter: options.stopAfter }),
    checkpointEvery: options.checkpointEvery ?? 1000,
    logEvery: 1,
    tune: false,
  });
}

function readShape(runDir: string, name: string, file = 'Small2.safetensors'): readonly number[] {
  return readSafetensorsFile(join(runDir, file)).tensors.get(name)?.shape ?? [];
}

function weights(runDir: string, file = 'model.safetensors'): Map<string, Float32Array> {
  const { tensors } = readSafetensorsFile(join(runDir, file));
  return new Map([...tensors].map(([k, t]) => [k, toFloat32(t)]));
}

/** The same steps on the float64 reference interpreter, with the host optimizer of optimizer.ts. */
function referenceRun(name: string): Map<string, Float64Array> {
  const { config, model } = setup(name);
  const graph = compileModel(model, { labelSmoothing: config.labelSmoothing }).training;
  const symbols = { B: config.batch };
  const inits = new Map(model.parameters.map((p) => [p.parameter.path, p.parameter.init]));
  const params = new Map<string, { shape: number[]; values: Float64Array; trainable: boolean }>();
  for (const input of graph.inputs) {
    if (input.kind !== 'param') continue;
    const shape = evalShape(input.value.type.shape, symbols);
    const init = inits.get(input.name);
    if (!init) throw new Error(`no init for ${input.name}`);
    // The GPU starts from the float32 rounding of the initial values.
    const values = Float64Array.from(Float32Array.from(initialValues(input.name, shape, init, config.seed)));
    params.set(input.name, { shape, values, trainable: input.trainable });
  }
  const state = new Map<string, Record<string, Float64Array>>();
  for (const [k, p] of params)
    if (p.trainable)
      state.set(k, Object.fromEntries(stateSlots(config.optimizer).map((s) => [s, new Float64Array(p.values.length)])));
  const loader = dataLoader(config.train, { batchSize: config.batch, dropLast: true });
  const total = config.length.count;
  for (let step = 0; step < total; step++) {
    const batch = loader.next();
    const inputs: Record<string, RefTensor> = {
      x: makeTensor('f32', [config.batch, 1, 28, 28], batch.images),
      labels: makeTensor('i32', [config.batch], batch.labels),
    };
    for (const [k, p] of params) inputs[k] = makeTensor('f32', p.shape, p.values);
    const out = evaluate(graph, inputs, { symbols });
    let sumsq = 0;
    for (const [k, p] of params) if (p.trainable) for (const g of out[`grad:${k}`]?.data ?? []) sumsq += g * g;
    const scale = clipScale(Math.sqrt(sumsq), config.maxGradNorm);
    const lr = learningRate(config.schedule, config.optimizer.lr, step, total);
    for (const [k, p] of params) {
      if (!p.trainable) continue;
      const grad = Float64Array.from(out[`grad:${k}`]?.data ?? [], (g) => g * scale);
      const constants = stepConstants(config.optimizer, lr, step + 1, decays(k, config.noDecay));
      referenceUpdate(config.optimizer, constants, p.values, grad, state.get(k) ?? {});
    }
  }
  return new Map([...params].map(([k, p]) => [k, p.values]));
}

let gpu: GpuDevice | undefined;
async function device(ctx: TestContext): Promise<GpuDevice> {
  gpu ??= await openTestDevice(ctx);
  return gpu;
}
afterAll(() => {
  gpu?.dispose();
});

describe('optimizer steps on the GPU equal the float64 reference', { timeout: 300_000 }, () => {
  // After three steps the GPU (float32 forward, backward and update) and the reference (float64 throughout) differ by
  // float32 rounding carried through three updates. SGD moves a weight by lr * g, so the difference is ~lr * |g| *
  // 2^-20 per step: well under 1e-5. Adam divides by sqrt(v): where a gradient element is near zero its relative
  // error is large and the normalised step can differ by up to ~lr * |dg| / eps; 2e-5 bounds that at lr 1e-3.
  const cases: [string, number][] = [
    ['sgd', 1e-5],
    ['sgd_plain', 1e-5],
    ['adamw', 2e-5],
    ['adam', 2e-5],
  ];
  for (const [name, tolerance] of cases) {
    it(`${name}: 3 steps`, async (ctx) => {
      const r = await run(await device(ctx), name);
      expect(r.step).toBe(3);
      const gpuWeights = weights(r.runDir);
      const ref = referenceRun(name);
      let worst = 0;
      let moved = 0;
      for (const [k, values] of ref) {
        const got = gpuWeights.get(k);
        expect(got, k).toBeDefined();
        for (let i = 0; i < values.length; i++) worst = Math.max(worst, Math.abs((got?.[i] ?? NaN) - (values[i] ?? 0)));
      }
      const { config, model } = setup(name);
      const first = weights(join(r.runDir, 'checkpoints', 'step-00000000'));
      for (const [k, v] of gpuWeights) {
        const init = first.get(k);
        for (let i = 0; i < v.length; i++) moved = Math.max(moved, Math.abs((v[i] ?? 0) - (init?.[i] ?? 0)));
      }
      expect(model.parameters.length).toBeGreaterThan(0);
      expect(config.length.count).toBe(3);
      // The weights did move (the comparison is not vacuous), and by far more than the tolerance.
      expect(moved).toBeGreaterThan(100 * tolerance);
      expect(worst).toBeLessThan(tolerance);
    });
  }
});

describe('EWA and the fold', { timeout: 300_000 }, () => {
  const expertsOf = (w: Map<string, Float32Array>, name: string, n: number): Float32Array[] => {
    const all = w.get(name) as Float32Array;
    const size = all.length / n;
    return Array.from({ length: n }, (_, e) => all.slice(e * size, (e + 1) * size));
  };

  it('ewa at beta = (N-1)/N keeps the experts bit-identical; the folded export equals the MoE', async (ctx) => {
    const g = await device(ctx);
    const r = await run(g, 'ewa_full');
    const w = weights(r.runDir);
    for (const name of ['blocks.1.mlp.fc1.weight', 'blocks.1.mlp.fc1.bias', 'blocks.1.mlp.fc2.weight']) {
      const [first, ...rest] = expertsOf(w, name, 4);
      for (const e of rest)
        expect(Buffer.compare(Buffer.from(e.buffer), Buffer.from((first as Float32Array).buffer))).toBe(0);
    }
    expect(r.exported).toBe(join(r.runDir, 'Small2.safetensors'));
    const exported = weights(r.runDir, 'Small2.safetensors');
    expect(exported.get('blocks.1.mlp.fc1.weight')).toEqual(expertsOf(w, 'blocks.1.mlp.fc1.weight', 4)[0]);
    // The plain model with the exported weights scores what the trained MoE scored.
    const { model } = setup('learn');
    const plain = program.models.find((m) => m.name === 'Small2');
    expect(plain && model).toBeTruthy();
    const evaluator = new Evaluator(g, compileModel(plain as ElaboratedModel).forward, 32);
    try {
      const params: Record<string, HostTensor> = {};
      for (const [k, v] of exported) params[k] = { dtype: 'f32', shape: readShape(r.runDir, k), data: v };
      await evaluator.setParams(params);
      const { config } = setup('ewa_full');
      const result = await evaluator.run(evalData(config.eval as DataSpec, 32));
      expect(result.n).toBe(r.eval?.n);
      expect(Math.abs(result.loss - (r.eval?.loss ?? NaN))).toBeLessThan(1e-5);
      expect(result.accuracy).toBe(r.eval?.accuracy);
    } finally {
      evaluator.dispose();
    }
  });

  it('without ewa the experts drift apart', async (ctx) => {
    const r = await run(await device(ctx), 'ewa_none');
    const [a, b] = expertsOf(weights(r.runDir), 'blocks.1.mlp.fc1.weight', 4);
    expect(Buffer.compare(Buffer.from((a as Float32Array).buffer), Buffer.from((b as Float32Array).buffer))).not.toBe(
      0,
    );
  });
});

describe('resume', { timeout: 300_000 }, () => {
  it('an interrupted run resumed from its checkpoint ends bit-identical to an uninterrupted one', async (ctx) => {
    const g = await device(ctx);
    const whole = await run(g, 'resume');
    expect(whole.step).toBe(8);
    const part = await run(g, 'resume', { stopAfter: 3 });
    expect(part.step).toBe(3);
    expect(part.interrupted).toBe(true);
    const resumed = await run(g, 'resume', { resume: part.runDir });
    expect(resumed.step).toBe(8);
    expect(resumed.interrupted).toBe(false);
    const a = readFileSync(join(whole.runDir, 'model.safetensors'));
    const b = readFileSync(join(resumed.runDir, 'model.safetensors'));
    expect(Buffer.compare(a, b)).toBe(0);
    const optimizer = (r: TrainResult): Buffer =>
      readFileSync(join(r.runDir, 'checkpoints', 'step-00000008', 'optimizer.safetensors'));
    expect(Buffer.compare(optimizer(whole), optimizer(resumed))).toBe(0);
    // The metrics of the resumed run continue the interrupted one: steps 1..8 once each.
    const steps = readFileSync(join(resumed.runDir, 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { step: number; split: string })
      .filter((r) => r.split === 'train')
      .map((r) => r.step);
    expect(steps).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
  });

  it('a recorded tile this device cannot run is chosen again, and the run goes on', async (ctx) => {
    const g = await device(ctx);
    const part = await run(g, 'resume', { stopAfter: 3 });
    const stateFile = join(part.runDir, 'checkpoints', 'step-00000003', 'state.json');
    const saved = JSON.parse(readFileSync(stateFile, 'utf8')) as {
      state: { extra: { tiles: { key: string; config: Record<string, unknown> }[] } };
    };
    const tiles = saved.state.extra.tiles;
    expect(tiles.length).toBeGreaterThan(0);
    // A subgroup size no adapter reports: the tile cannot run here.
    for (const t of tiles) t.config = { ...t.config, subgroup: 3 };
    writeFileSync(stateFile, JSON.stringify(saved));
    const starts: TrainEvent[] = [];
    const resumed = await run(g, 'resume', {
      resume: part.runDir,
      onEvent: (e) => e.kind === 'start' && starts.push(e),
    });
    expect(resumed.step).toBe(8);
    expect(starts).toEqual([expect.objectContaining({ kind: 'start', step: 3, retiled: tiles.length })]);
  });

  it('refuses to resume with other training settings', async (ctx) => {
    const g = await device(ctx);
    const part = await run(g, 'resume', { stopAfter: 1 });
    const { model } = setup('resume');
    const { config } = setup('adamw');
    await expect(train({ gpu: g, model, config, runDir: part.runDir, resume: true, tune: false })).rejects.toThrow(
      /other training settings/,
    );
  });
});

describe('training', { timeout: 300_000 }, () => {
  it('frozen parameters stay bit-identical; the trained ones move', async (ctx) => {
    const r = await run(await device(ctx), 'partial');
    const before = weights(join(r.runDir, 'checkpoints', 'step-00000000'));
    const after = weights(r.runDir);
    const optimizer = readSafetensorsFile(join(r.runDir, 'checkpoints', 'step-00000004', 'optimizer.safetensors'));
    for (const [k, v] of after) {
      const same = Buffer.compare(Buffer.from(v.buffer), Buffer.from((before.get(k) as Float32Array).buffer)) === 0;
      expect(same, k).toBe(!k.startsWith('head.'));
    }
    // Only the trained parameters have optimizer state.
    expect([...optimizer.tensors.keys()].sort()).toEqual(
      ['head.bias.exp_avg', 'head.bias.exp_avg_sq', 'head.weight.exp_avg', 'head.weight.exp_avg_sq'].sort(),
    );
  });

  it('a small ViT learns a synthetic three-class task', async (ctx) => {
    const r = await run(await device(ctx), 'learn', { checkpointEvery: 1000 });
    expect(r.eval).toBeDefined();
    expect(r.eval?.n).toBe(96);
    expect(r.eval?.accuracy).toBeGreaterThanOrEqual(0.9);
    const records = readFileSync(join(r.runDir, 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { split: string; loss: number });
    const train = records.filter((x) => x.split === 'train');
    expect((train.at(-1)?.loss ?? 9) < (train[0]?.loss ?? 0)).toBe(true);
  });

  it('a NaN loss stops the run naming the step and the last good checkpoint (VT6017)', async (ctx) => {
    const error = await run(await device(ctx), 'nan').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(VitmRuntimeError);
    const e = error as VitmRuntimeError;
    expect(e.code).toBe('VT6017');
    expect(e.message).toMatch(/at step \d+; the last good checkpoint is .*step-0000000\d/);
  });
});
