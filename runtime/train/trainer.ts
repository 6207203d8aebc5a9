/**
 * The trainer: runs an experiment's training program on the GPU, resumably.
 *
 * One step is one submission: the training graph (forward, loss, every trainable parameter's gradient) followed,
 * in the same compute pass, by the step kernels of `gpu-step.ts` (metrics, gradient norm and clipping, optimizer
 * update in place). The host writes the batch (prepared in the background while the GPU works on the previous step)
 * and the step's constants, and keeps at most two steps in flight. It reads back only the accumulated metrics, every
 * `logEvery` steps, and the weights and optimizer state when it saves a checkpoint.
 *
 * Evaluation runs the forward graph on its own executor whose parameter inputs are bound to the training
 * executor's buffers, so the weights are never copied.
 *
 * Exact resume: a checkpoint holds the weights, the optimizer state, the step, the data loader's state (the data
 * order is a function of seed and epoch), the optimizer settings (checked on resume), and the matmul tile chosen for
 * each matmul shape (tiles are chosen by measurement, and another tile may sum in another order), so a resumed run
 * computes bit for bit what the uninterrupted run would have.
 */
import type { Graph } from '../../compiler/ir/graph.js';
import type { MatmulConfig } from '../../compiler/codegen/wgsl/matmul.js';
import { SEED_INPUT } from '../../compiler/lower/lower.js';
import { compileModel, type CompiledModel } from '../../compiler/pipeline.js';
import type { ElaboratedModel } from '../../compiler/semantic/elaborated.js';
import { evalShape, type SymbolValues } from '../../compiler/types/shape.js';
import { nonFiniteLossError, RunFolder } from '../checkpoint/folder.js';
import type { Json, TrainState } from '../checkpoint/run.js';
import type { Tensor, TensorMap } from '../checkpoint/safetensors.js';
import { f32, toFloat32 } from '../checkpoint/tensor.js';
import { writeSafetensorsFile } from '../checkpoint/run.js';
import type { CurveFiles } from '../metrics/curves.js';
import { isAbsolute, join } from 'node:path';
import { checkFitsModel, type WeightTensor } from './export.js';
import { expertTensors, foldExperts } from '../hooks/fold.js';
import { prepareEwa, type PreparedEwa } from '../hooks/ewa.js';
import { valueAt } from './config.js';
import type { BatchLoader } from '../data/loader.js';
import { hashCounter, deriveKey } from '../data/rng.js';
import { dataLoader, evalData } from '../data/spec.js';
import { VitmRuntimeError } from '../errors.js';
import { initialValues } from '../params/init.js';
import type { GpuDevice } from '../webgpu/device.js';
import { GraphExecutor, type HostTensor } from '../webgpu/executor.js';

import { CANDIDATE_CONFIGS, selectMatmulConfig, type TuningCache } from '../webgpu/tuning.js';
import { configFits, type MatmulShape } from '../webgpu/matmul.js';
import type { EwaHook, TrainConfig } from './config.js';
import { batchSymbol, Evaluator, imageInput, type EvalResult } from './evaluate.js';
import { weightsFor } from './weights.js';
export { weightsFor } from './weights.js';
import { TrainStepKernels } from './gpu-step.js';
import { decays, learningRate, stateSlots } from './optimizer.js';
import { deviceWait } from '../webgpu/waits.js';

export interface TrainOptions {
  readonly gpu: GpuDevice;
  readonly model: ElaboratedModel;
  readonly config: TrainConfig;
  /** The run folder (created for a new run; it must hold the run for `resume`). */
  readonly runDir: string;
  readonly resume?: boolean;
  /** Start from these weights (timm names) instead of the initialisers, e.g. a pretrained checkpoint. */
  readonly initFrom?: TensorMap;
  /** Stop (with a checkpoint) once this many steps are done, before the end of the run. */
  readonly stopAfter?: number;
  /** Read back and log the training metrics every this many steps (default 50). */
  readonly logEvery?: number;
  /** Save a checkpoint every this many steps (default 200), and at every epoch's end and the run's end. */
  readonly checkpointEvery?: number;
  /** Checkpoints to keep (default 3). */
  readonly keepLast?: number;
  /** Evaluate every this many steps (default: at every epoch's end) and at the end. */
  readonly evalEvery?: number;
  /** Images per evaluation batch (default: the training batch). */
  readonly evalBatch?: number;
  /** Choose matmul tiles by measurement (default true); false takes the first tile that fits (tests). */
  readonly tune?: boolean;
  /** Where measured tiles are remembered (default: the process-wide cache). */
  readonly tuningCache?: TuningCache;
  /** Aborting it (Ctrl-C) stops the run after the current step with a checkpoint. */
  readonly signal?: AbortSignal;
  /** Progress and events, for a progress bar or log lines. */
  readonly onEvent?: (event: TrainEvent) => void;
  /** Extra strings for the checkpoints' metadata (e.g. the source file). */
  readonly metadata?: Readonly<Record<string, string>>;
}

export type TrainEvent =
  | {
      readonly kind: 'start';
      readonly step: number;
      readonly totalSteps: number;
      readonly stepsPerEpoch: number;
      /** Images in the training set (an epoch uses every whole batch of them). */
      readonly trainImages: number;
      readonly parameters: number;
      readonly trainable: number;
      /** Matmul tiles of the resumed checkpoint that this device cannot run, chosen again (0 when none). */
      readonly retiled: number;
    }
  | { readonly kind: 'ready'; readonly seconds: number }
  /** A step was submitted (`images` in it); sent every step, without reading anything back. */
  | { readonly kind: 'step'; readonly step: number; readonly images: number }
  | {
      readonly kind: 'progress';
      readonly step: number;
      readonly totalSteps: number;
      readonly epoch: number;
      readonly loss: number;
      readonly accuracy: number;
      readonly lr: number;
      readonly gradNorm: number;
      readonly imagesPerSecond: number;
    }
  | { readonly kind: 'eval'; readonly step: number; readonly result: EvalResult }
  | { readonly kind: 'checkpoint'; readonly step: number; readonly dir: string };

export interface TrainResult {
  readonly runDir: string;
  /** Steps completed. */
  readonly step: number;
  readonly totalSteps: number;
  /** Stopped by the signal before the end. */
  readonly interrupted: boolean;
  /** The latest checkpoint folder. */
  readonly checkpoint: string;
  /** The final evaluation, if the experiment has eval data and the run ended. */
  readonly eval?: EvalResult;
  readonly curves?: CurveFiles;
  /** The experiment's `export`, written when the run completed. */
  readonly exported?: string;
  readonly seconds: number;
}

/** The parameters of a compiled model with their shapes, initial values (host) and training flags. */
interface ParamInfo {
  readonly name: string;
  readonly shape: readonly number[];
  readonly elements: number;
  readonly trainable: boolean;
}

const numel = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

/** The matmul tile for each shape: chosen once (by measurement, or the first that fits), recorded for resume. */
class TileChoices {
  readonly chosen = new Map<string, MatmulConfig>();
  constructor(
    private readonly gpu: GpuDevice,
    private readonly tune: boolean,
    private readonly cache: TuningCache | undefined,
  ) {}

  /**
   * Takes the tiles a checkpoint recorded. A tile this device cannot run (the run was saved on another adapter: other
   * limits, no subgroups of that size) is left out and chosen again; returns how many were, since the resumed run is
   * then not bit-identical to an uninterrupted one.
   */
  restore(saved: Json | undefined): number {
    if (!Array.isArray(saved)) return 0;
    let dropped = 0;
    for (const entry of saved as readonly Json[]) {
      if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) continue;
      const e = entry as { readonly key?: Json; readonly config?: Json };
      if (typeof e.key !== 'string' || typeof e.config !== 'object' || e.config === null) continue;
      const config = e.config as unknown as MatmulConfig;
      if (configFits(this.gpu, config)) this.chosen.set(e.key, config);
      else dropped++;
    }
    return dropped;
  }

  save(): Json {
    return [...this.chosen].map(([key, config]) => ({ key, config: config as unknown as Json }));
  }

  select = async (shape: MatmulShape): Promise<MatmulConfig> => {
    const key = JSON.stringify(shape);
    const hit = this.chosen.get(key);
    if (hit) return hit;
    const config = this.tune
      ? await selectMatmulConfig(this.gpu, shape, this.cache ? { cache: this.cache } : {})
      : CANDIDATE_CONFIGS.find((c) => configFits(this.gpu, c));
    if (config === undefined) throw new VitmRuntimeError('VT6002', 'no matmul tile fits this device');
    this.chosen.set(key, config);
    return config;
  };
}

function paramInfo(training: Graph, symbols: SymbolValues): ParamInfo[] {
  return training.inputs
    .filter((i) => i.kind === 'param')
    .map((i) => {
      const shape = evalShape(i.value.type.shape, symbols);
      return { name: i.name, shape, elements: numel(shape), trainable: i.trainable };
    });
}

/** The optimizer settings a resumed run must share with the run it continues. */
function optimizerRecord(config: TrainConfig, totalSteps: number): Json {
  return {
    optimizer: { ...config.optimizer },
    schedule: { ...config.schedule },
    noDecay: [...config.noDecay],
    maxGradNorm: config.maxGradNorm,
    labelSmoothing: config.labelSmoothing,
    batch: config.batch,
    totalSteps,
  };
}

/** Runs (or resumes) an experiment's training. */
export async function train(options: TrainOptions): Promise<TrainResult> {
  const started = performance.now();
  const { gpu, config, model } = options;
  const emit = options.onEvent ?? (() => undefined);
  const logEvery = Math.max(1, options.logEvery ?? 50);
  const checkpointEvery = Math.max(1, options.checkpointEvery ?? 200);
  const evalBatchSize = Math.max(1, options.evalBatch ?? config.batch);

  const compiled: CompiledModel = compileModel(model, { labelSmoothing: config.labelSmoothing });
  const training = compiled.training;
  const symbol = batchSymbol(training);
  const symbols = { [symbol]: config.batch };
  const image = imageInput(training);
  const imageShape = evalShape(image.value.type.shape, symbols);
  const loader: BatchLoader = dataLoader(config.train, { batchSize: config.batch, dropLast: true });
  const [, c, h, w] = imageShape;
  if (loader.shape.channels !== c || loader.shape.height !== h || loader.shape.width !== w)
    throw new VitmRuntimeError(
      'VT6018',
      `the data's images are ${loader.shape.channels}x${loader.shape.height}x${loader.shape.width}, the model ${config.model} takes ${c}x${h}x${w}`,
      'choose a model whose image size and channels match the data',
    );
  const stepsPerEpoch = loader.batchesPerEpoch;
  const totalSteps = config.length.kind === 'epochs' ? config.length.count * stepsPerEpoch : config.length.count;
  if (config.schedule.warmup >= totalSteps)
    throw new VitmRuntimeError(
      'VT6018',
      `the warmup (${config.schedule.warmup} steps) is not shorter than the run (${totalSteps} steps)`,
      'shorten the warmup or train longer',
    );

  const params = paramInfo(training, symbols);
  const trainable = params.filter((p) => p.trainable);
  const run = RunFolder.open(
    options.runDir,
    options.resume ? { resume: true, keepLast: options.keepLast ?? 3 } : { keepLast: options.keepLast ?? 3 },
  );
  const resumed = run.resumedFrom;
  const tiles = new TileChoices(gpu, options.tune ?? true, options.tuningCache);
  const record = optimizerRecord(config, totalSteps);
  let step = 0;
  let retiled = 0;
  if (resumed) {
    step = resumed.state.step;
    if (JSON.stringify(resumed.state.optimizer) !== JSON.stringify(record))
      throw new VitmRuntimeError(
        'VT6012',
        `the run in ${options.runDir} was saved with other training settings: ${JSON.stringify(resumed.state.optimizer)}`,
        'resume with the experiment the run was started with',
      );
    const extra = resumed.state.extra;
    if (extra !== null && typeof extra === 'object' && !Array.isArray(extra))
      retiled = tiles.restore((extra as { readonly tiles?: Json }).tiles);
    loader.restore(resumed.state.data);
  }

  // Weights: from the checkpoint, from --init, or from the model's initialisers.
  const inits = new Map(model.parameters.map((p) => [p.parameter.path, p.parameter.init]));
  const source = resumed?.model ?? options.initFrom;
  const hostParams: Record<string, HostTensor> = {};
  for (const p of params) {
    let data: Float32Array;
    if (source) {
      data = weightsFor(
        source,
        p.name,
        p.shape,
        resumed ? `the checkpoint ${run.latest() ?? ''}` : 'the initial weights',
      );
    } else {
      const init = inits.get(p.name);
      if (init === undefined) throw new VitmRuntimeError('VT6018', `the parameter '${p.name}' has no initialiser`);
      data = Float32Array.from(initialValues(p.name, p.shape, init, config.seed));
    }
    hostParams[p.name] = { dtype: 'f32', shape: p.shape, data };
  }
  emit({
    kind: 'start',
    step,
    totalSteps,
    stepsPerEpoch,
    trainImages: loader.dataset.labels.length,
    parameters: params.reduce((n, p) => n + p.elements, 0),
    trainable: trainable.reduce((n, p) => n + p.elements, 0),
    retiled,
  });

  const executor = new GraphExecutor(gpu, training, {
    matmulConfig: tiles.select,
    stateBytesPerParameterElement: 4 * stateSlots(config.optimizer).length,
  });
  let evaluator: Evaluator | undefined;
  let kernels: TrainStepKernels | undefined;
  /** The after-step hooks, bound to the parameter buffers, with the beta last written. */
  const hooks: { readonly hook: EwaHook; readonly ewa: PreparedEwa; beta: number }[] = [];
  try {
    await executor.setInputs(hostParams, { symbols });
    const paramBuffers = new Map<string, GPUBuffer>();
    for (const p of params) paramBuffers.set(p.name, await executor.inputBuffer(p.name, symbols));
    const logits = training.outputs.find((o) => o.name === 'logits');
    if (!logits) throw new VitmRuntimeError('VT6018', 'the training graph has no logits output');
    const classes = evalShape(logits.value.type.shape, symbols).at(-1) ?? 1;
    kernels = await TrainStepKernels.create(
      gpu,
      config.optimizer,
      await Promise.all(
        trainable.map(async (p) => ({
          name: p.name,
          elements: p.elements,
          param: paramBuffers.get(p.name) as GPUBuffer,
          grad: await executor.outputBuffer(`grad:${p.name}`, symbols),
          decay: decays(p.name, config.noDecay),
        })),
      ),
      {
        loss: await executor.outputBuffer('loss', symbols),
        logits: await executor.outputBuffer('logits', symbols),
        labels: await executor.inputBuffer('labels', symbols),
        batch: config.batch,
        classes,
      },
      config.maxGradNorm,
    );
    for (const hook of config.hooks) {
      const experts = expertTensors(model, hook.paths);
      if (experts.length === 0)
        throw new VitmRuntimeError(
          'VT6018',
          `${hook.where}: ewa: no mixture of experts under ${hook.paths.join(', ')}`,
          'ewa averages the experts of std.moe mixtures (RandomPartitionMoE, TopKMoE)',
        );
      for (const t of experts)
        if (!trainable.some((p) => p.name === t.path))
          throw new VitmRuntimeError('VT6018', `${hook.where}: ewa: the experts '${t.path}' are frozen`);
      hooks.push({
        hook,
        ewa: await prepareEwa(
          gpu,
          experts.map((t) => ({
            buffer: paramBuffers.get(t.path) as GPUBuffer,
            experts: t.experts,
            elements: t.elements,
          })),
          valueAt(hook.beta, step),
        ),
        beta: Number.NaN,
      });
    }
    if (resumed) {
      const state = new Map<string, Float32Array>();
      for (const [name, t] of resumed.optimizer) state.set(name, toFloat32(t));
      kernels.writeState(state);
    }
    const evalSpec = config.eval;
    const step0 = step;
    const seeded = training.inputs.some((i) => i.name === SEED_INPUT);
    const seedKey = deriveKey(config.seed, 'step');

    const saveCheckpoint = async (): Promise<string> => {
      const model = new Map<string, Tensor>();
      for (const p of params) {
        const buffer = paramBuffers.get(p.name) as GPUBuffer;
        model.set(p.name, f32(p.shape, await gpu.readFloat32(buffer, p.elements)));
      }
      const optimizer = new Map<string, Tensor>();
      const shapes = new Map(params.map((p) => [p.name, p.shape]));
      for (const [name, values] of await (kernels as TrainStepKernels).readState()) {
        const owner = name.slice(0, name.lastIndexOf('.'));
        optimizer.set(name, f32(shapes.get(owner) ?? [values.length], values));
      }
      const state: TrainState = {
        step,
        data: { ...loader.state(), ...loader.positionOfStep(step) },
        optimizer: record,
        extra: { experiment: config.experiment, model: config.model, seed: config.seed, tiles: tiles.save() },
      };
      const info = run.save({
        model,
        optimizer,
        state,
        metadata: { 'vitm.experiment': config.experiment, 'vitm.model': config.model, ...options.metadata },
      });
      emit({ kind: 'checkpoint', step, dir: info.dir });
      return info.dir;
    };

    const evaluate = async (): Promise<EvalResult | undefined> => {
      if (!evalSpec) return undefined;
      // The evaluation graph's buffers live only while it runs, so training keeps the memory it had.
      evaluator = new Evaluator(gpu, compiled.forward, evalBatchSize, {
        externalInputs: paramBuffers,
        matmulConfig: tiles.select,
      });
      let result: EvalResult;
      try {
        result = await evaluator.run(evalData(evalSpec, evalBatchSize));
      } finally {
        evaluator.dispose();
        evaluator = undefined;
      }
      run.log({ step, split: 'eval', loss: result.loss, accuracy: result.accuracy, n: result.n });
      emit({ kind: 'eval', step, result });
      return result;
    };

    let windowStart = performance.now();
    let windowImages = 0;
    let lastLr = 0;
    const flushMetrics = async (): Promise<void> => {
      const m = await (kernels as TrainStepKernels).readMetrics();
      if (m.nonFiniteStep !== undefined) {
        throw nonFiniteLossError(Math.round(m.nonFiniteStep), Number.NaN, run.latest());
      }
      if (m.steps === 0) return;
      const seconds = (performance.now() - windowStart) / 1000;
      const progress = {
        step,
        totalSteps,
        epoch: step / stepsPerEpoch,
        loss: m.lossSum / m.steps,
        accuracy: m.count > 0 ? m.correct / m.count : 0,
        lr: lastLr,
        gradNorm: m.gradNormSum / m.steps,
        imagesPerSecond: seconds > 0 ? windowImages / seconds : 0,
      };
      run.log({
        step,
        split: 'train',
        epoch: Number(progress.epoch.toFixed(4)),
        loss: progress.loss,
        accuracy: progress.accuracy,
        lr: progress.lr,
        grad_norm: progress.gradNorm,
        images_per_s: Number(progress.imagesPerSecond.toFixed(1)),
        time: new Date().toISOString(),
      });
      emit({ kind: 'progress', ...progress });
      windowStart = performance.now();
      windowImages = 0;
    };

    let lastCheckpoint = run.latest();
    let finalEval: EvalResult | undefined;
    const end = Math.min(totalSteps, options.stopAfter ?? totalSteps);
    const inflight: Promise<undefined>[] = [];
    let readyReported = false;
    let interrupted = false;
    if (step === 0 && end > 0) lastCheckpoint = await saveCheckpoint();
    while (step < end) {
      const batch = await loader.nextAsync();
      lastLr = learningRate(config.schedule, config.optimizer.lr, step, totalSteps);
      kernels.prepareStep(step + 1, lastLr);
      const active = hooks.filter((h) => h.hook.until === undefined || step < h.hook.until);
      for (const h of active) {
        const beta = valueAt(h.hook.beta, step);
        if (beta !== h.beta) h.ewa.setBeta((h.beta = beta));
      }
      const inputs: Record<string, HostTensor> = {
        [image.name]: { dtype: 'f32', shape: imageShape, data: batch.images },
        labels: { dtype: 'i32', shape: [config.batch], data: batch.labels },
      };
      if (seeded) inputs[SEED_INPUT] = { dtype: 'u32', shape: [], data: [hashCounter(seedKey, step)] };
      const k = kernels;
      await executor.run(inputs, {
        symbols,
        outputs: [],
        epilogue: (pass) => {
          k.encode(pass);
          for (const h of active) h.ewa.encode(pass);
        },
      });
      step++;
      windowImages += config.batch;
      emit({ kind: 'step', step, images: config.batch });
      inflight.push(deviceWait(() => gpu.device.queue.onSubmittedWorkDone()));
      if (inflight.length > 2) await inflight.shift();
      if (!readyReported) {
        await Promise.all(inflight.splice(0));
        readyReported = true;
        emit({ kind: 'ready', seconds: (performance.now() - started) / 1000 });
        windowStart = performance.now();
        windowImages = 0;
      }
      const epochEnd = step % stepsPerEpoch === 0;
      const last = step === end;
      const stop = options.signal?.aborted ?? false;
      const checkpointDue = step % checkpointEvery === 0 || epochEnd || last || stop;
      if (step % logEvery === 0 || checkpointDue) await flushMetrics();
      if (checkpointDue) lastCheckpoint = await saveCheckpoint();
      const evalDue = options.evalEvery !== undefined ? step % options.evalEvery === 0 : epochEnd;
      if (evalDue || (last && step === totalSteps)) finalEval = await evaluate();
      if (stop && !last) {
        interrupted = true;
        break;
      }
    }
    if (step === step0 && step === totalSteps) finalEval = await evaluate();
    const done = step === totalSteps;
    let exported: string | undefined;
    if (done) {
      const final = new Map<string, WeightTensor>();
      for (const p of params)
        final.set(p.name, {
          shape: p.shape,
          values: await gpu.readFloat32(paramBuffers.get(p.name) as GPUBuffer, p.elements),
        });
      const meta = {
        format: 'pt',
        'vitm.experiment': config.experiment,
        'vitm.model': config.model,
        'vitm.step': String(step),
        ...options.metadata,
      };
      const tensors = (m: ReadonlyMap<string, WeightTensor>): Map<string, Tensor> =>
        new Map([...m].map(([k, t]) => [k, f32(t.shape, t.values)]));
      writeSafetensorsFile(join(run.dir, 'model.safetensors'), tensors(final), meta);
      const spec = config.export;
      if (spec) {
        let out: ReadonlyMap<string, WeightTensor> = final;
        if (spec.kind === 'to_ffn') {
          const experts = expertTensors(model, spec.paths);
          if (experts.length === 0)
            throw new VitmRuntimeError(
              'VT6018',
              `to_ffn: no mixture of experts under ${spec.paths.join(', ')}`,
              'to_ffn folds std.moe mixtures (RandomPartitionMoE, TopKMoE) back into an FFN',
            );
          const host = new Map([...final].map(([k, t]) => [k, { shape: t.shape, data: t.values }]));
          out = new Map(
            [...foldExperts(host, experts)].map(([k, t]) => [k, { shape: t.shape, values: Float32Array.from(t.data) }]),
          );
        }
        if (spec.as) checkFitsModel(out, spec.as.parameters, spec.as.model);
        exported = isAbsolute(spec.path) ? spec.path : join(run.dir, spec.path);
        writeSafetensorsFile(exported, tensors(out), {
          ...meta,
          ...(spec.as ? { 'vitm.model': spec.as.model } : {}),
          ...(spec.kind === 'to_ffn' ? { 'vitm.folded': spec.paths.join(',') } : {}),
        });
      }
    }
    const curves = run.finish(`${config.experiment} (${config.model})`);
    return {
      runDir: run.dir,
      step,
      totalSteps,
      interrupted: interrupted || !done,
      checkpoint: lastCheckpoint ?? '',
      ...(finalEval === undefined || !done ? {} : { eval: finalEval }),
      ...(exported === undefined ? {} : { exported }),
      curves,
      seconds: (performance.now() - started) / 1000,
    };
  } catch (error) {
    run.metrics.close();
    throw error;
  } finally {
    kernels?.dispose();
    for (const h of hooks) h.ewa.dispose();
    evaluator?.dispose();
    executor.dispose();
  }
}
