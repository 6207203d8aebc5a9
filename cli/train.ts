/**
 * `vitm train FILE [--experiment NAME] [--out DIR] [--resume]`: runs an experiment on the GPU and writes a run folder
 * (spec/checkpoint-format.md): checkpoints, `metrics.jsonl`, the loss/accuracy curves (`curves.svg`, `curves.png`)
 * and the final weights `model.safetensors` (timm names, PyTorch layouts).
 *
 * A terminal gets a progress bar (loss, accuracy, images/s, ETA); anything else gets a plain line every 10 s. Ctrl-C
 * stops after the current step with a checkpoint and exits with 130 (a second Ctrl-C exits at once); `--resume`
 * continues the run exactly where the checkpoint left it. A NaN or infinite loss stops the run (VT6017) naming the
 * step and the last good checkpoint.
 */
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { renderDiagnostics } from '../compiler/diagnostics/render.js';
import type { FrontendHost } from '../compiler/frontend.js';
import { compileProgram } from '../compiler/pipeline.js';
import type { ElaboratedExperiment, ElaboratedModel, ElaboratedProgram } from '../compiler/semantic/elaborated.js';
import type { Span } from '../compiler/source/source.js';
import { defaultRunDir } from '../runtime/checkpoint/folder.js';
import { readSafetensorsFile } from '../runtime/checkpoint/run.js';
import { VitmRuntimeError } from '../runtime/errors.js';
import { trainConfig, type Locate, type TrainConfig } from '../runtime/train/config.js';
import { train, type TrainEvent } from '../runtime/train/trainer.js';
import { evaluateWeightsFile } from '../runtime/train/evaluate.js';
import { openNodeDevice } from '../runtime/webgpu/node.js';
import { loadTuningCache, saveTuningCache } from '../runtime/webgpu/tuning-file.js';
import { nodeHost } from './check.js';
import { formatCount } from './format.js';
import { formatDuration, ProgressBar, type ProgressStream } from './progress.js';

export interface TrainCliOptions {
  readonly experiment?: string;
  readonly out?: string;
  readonly resume?: boolean;
  /** Stop after this many steps in all (with a checkpoint; the run can be resumed). */
  readonly stopAfter?: number;
  readonly logEvery?: number;
  readonly checkpointEvery?: number;
  readonly evalEvery?: number;
  /** Initial weights from a `.safetensors` file. */
  readonly init?: string;
  /** Where run folders go when --out is not given (default `runs`). */
  readonly runsRoot?: string;
  readonly host?: FrontendHost;
  readonly stream?: ProgressStream;
  /** Choose matmul tiles by measurement (default true). */
  readonly tune?: boolean;
}

export class TrainUsageError extends Error {}

/** The experiment `name`, or the file's only/first one. */
export function pickExperiment(program: ElaboratedProgram, name: string | undefined): ElaboratedExperiment {
  const names = program.experiments.map((e) => e.name);
  if (name !== undefined) {
    const found = program.experiments.find((e) => e.name === name);
    if (!found)
      throw new TrainUsageError(
        `no experiment '${name}' in the file; its experiments: ${names.join(', ') || '(none)'}`,
      );
    return found;
  }
  const first = program.experiments[0];
  if (!first) throw new TrainUsageError('the file declares no experiment; add `experiment name { ... }`');
  return first;
}

/** `file:line:col` of spans in the compiled files. */
export function locator(files: ReadonlyMap<string, { location(span: Span): string }>): Locate {
  return (span) => files.get(span.file)?.location(span) ?? span.file;
}

/** The newest run folder of `experiment` under `root` (for `--resume` without `--out`). */
function newestRun(root: string, experiment: string): string | undefined {
  let names: string[];
  try {
    names = readdirSync(root);
  } catch {
    return undefined;
  }
  const prefix = `${experiment.replace(/[^A-Za-z0-9._-]+/g, '_')}-`;
  return names
    .filter((n) => n.startsWith(prefix) && /^\d{8}-\d{6}/.test(n.slice(prefix.length)))
    .map((n) => join(root, n))
    .filter((p) => statSync(p).isDirectory())
    .sort()
    .at(-1);
}

const percent = (x: number): string => `${(100 * x).toFixed(2)}%`;

/** An experiment of a file with its model and trainer settings, or the exit code after printing diagnostics. */
export function loadExperiment(
  file: string,
  name: string | undefined,
  host: FrontendHost = nodeHost(),
): { program: ElaboratedProgram; experiment: ElaboratedExperiment; model: ElaboratedModel; config: TrainConfig } | 1 {
  const result = compileProgram(file, host);
  if (result.program === undefined) {
    process.stderr.write(renderDiagnostics(result.diagnostics, result.files) + '\n');
    return 1;
  }
  const program = result.program;
  const experiment = pickExperiment(program, name);
  const model = program.models.find((m) => m.name === experiment.model);
  if (!model) throw new TrainUsageError(`the experiment's model '${experiment.model}' is not in the program`);
  return { program, experiment, model, config: trainConfig(experiment, locator(result.files), program.models) };
}

export async function trainCommand(file: string, options: TrainCliOptions = {}): Promise<number> {
  const loaded = loadExperiment(file, options.experiment, options.host);
  if (typeof loaded === 'number') return loaded;
  const { program, experiment, model, config } = loaded;
  const root = options.runsRoot ?? 'runs';
  let runDir = options.out;
  if (runDir === undefined && options.resume) {
    runDir = newestRun(root, experiment.name);
    if (runDir === undefined)
      throw new VitmRuntimeError(
        'VT6012',
        `no run of ${experiment.name} under ${root}/ to resume`,
        'name the run folder with --out DIR',
      );
  }
  runDir ??= defaultRunDir(root, experiment.name);
  const initFrom = options.init === undefined ? undefined : readSafetensorsFile(options.init).tensors;

  const stream = options.stream ?? process.stderr;
  const out = (line: string): void => {
    process.stdout.write(line + '\n');
  };
  const controller = new AbortController();
  let interrupts = 0;
  const onSigint = (): void => {
    interrupts++;
    if (interrupts > 1) process.exit(130);
    controller.abort();
  };
  process.on('SIGINT', onSigint);
  const gpu = await openNodeDevice();
  const tuningCache = loadTuningCache();
  const known = tuningCache.size;
  let bar: ProgressBar | undefined;
  let images = 0;
  const onEvent = (e: TrainEvent): void => {
    switch (e.kind) {
      case 'start':
        out(
          `train ${experiment.name}: model ${model.name} (${formatCount(e.parameters)} parameters, ` +
            `${formatCount(e.trainable)} trained), ${config.optimizer.kind}, batch ${config.batch}, ` +
            `${formatCount(e.totalSteps)} steps (${formatCount(e.stepsPerEpoch)} per epoch) on ${gpu.adapter.description || gpu.adapter.vendor}`,
        );
        out(`run folder ${runDir}${e.step > 0 ? `, resuming at step ${formatCount(e.step)}` : ''}`);
        if (e.retiled > 0)
          out(
            `note: ${e.retiled} matmul tile${e.retiled === 1 ? '' : 's'} of the checkpoint cannot run on this device ` +
              'and were chosen again: the run goes on, but not bit for bit as it would have on its first device',
          );
        bar = new ProgressBar({ total: e.totalSteps, start: e.step, stream, label: 'train' });
        break;
      case 'ready':
        // Every matmul tile has been chosen by now: remember them for the next run on this adapter.
        if (tuningCache.size !== known) saveTuningCache(tuningCache);
        break;
      case 'step':
        images += e.images;
        bar?.update({ step: e.step, images });
        break;
      case 'progress':
        bar?.update({ step: e.step, loss: e.loss, accuracy: e.accuracy, images });
        break;
      case 'eval':
        (bar ?? { log: out }).log(
          `eval at step ${formatCount(e.step)}: accuracy ${percent(e.result.accuracy)}, loss ${e.result.loss.toFixed(4)} ` +
            `(${formatCount(e.result.n)} images)`,
        );
        break;
      case 'checkpoint':
        break;
    }
  };
  try {
    const r = await train({
      gpu,
      model,
      config,
      runDir,
      ...(options.resume ? { resume: true } : {}),
      ...(initFrom === undefined ? {} : { initFrom }),
      ...(options.stopAfter === undefined ? {} : { stopAfter: options.stopAfter }),
      ...(options.logEvery === undefined ? {} : { logEvery: options.logEvery }),
      ...(options.checkpointEvery === undefined ? {} : { checkpointEvery: options.checkpointEvery }),
      ...(options.evalEvery === undefined ? {} : { evalEvery: options.evalEvery }),
      ...(options.tune === undefined ? {} : { tune: options.tune }),
      signal: controller.signal,
      tuningCache,
      onEvent,
      metadata: { 'vitm.source': file },
    });
    const resumeHint = `resume with: vitm train ${file} --experiment ${experiment.name} --out ${r.runDir} --resume`;
    if (r.interrupted) {
      bar?.interrupt(controller.signal.aborted ? 'stopped by Ctrl-C' : 'stopped as asked');
      out(`checkpoint ${r.checkpoint}`);
      out(resumeHint);
      return controller.signal.aborted ? 130 : 0;
    }
    bar?.finish();
    out(`trained ${formatCount(r.step)} steps in ${formatDuration(r.seconds)}`);
    if (r.eval)
      out(
        `test accuracy ${percent(r.eval.accuracy)}, loss ${r.eval.loss.toFixed(4)} on ${formatCount(r.eval.n)} images`,
      );
    out(`wrote ${join(r.runDir, 'model.safetensors')}, ${join(r.runDir, 'metrics.jsonl')}`);
    if (r.exported !== undefined) {
      out(`exported ${r.exported}`);
      const as = config.export?.as;
      const target = as && program.models.find((m) => m.name === as.model);
      if (target && config.eval) {
        const e = await evaluateWeightsFile(gpu, target, r.exported, config.eval);
        out(
          `exported model ${target.name}: test accuracy ${percent(e.accuracy)}, loss ${e.loss.toFixed(4)} on ${formatCount(e.n)} images`,
        );
      }
    }
    if (r.curves?.svg !== undefined) out(`curves ${r.curves.svg}${r.curves.png ? `, ${r.curves.png}` : ''}`);
    return 0;
  } catch (error) {
    bar?.interrupt(error instanceof VitmRuntimeError ? `error ${error.code}` : 'error');
    throw error;
  } finally {
    process.off('SIGINT', onSigint);
    gpu.dispose();
  }
}
