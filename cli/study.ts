/**
 * `vitm study FILE --seeds 0,1,2 [--experiments a,b,c] [--out DIR] [--table FILE.md]`: trains every experiment with
 * every seed (the seed replaces the experiment's own: initial weights, data order, augmentation, per-class
 * selection), evaluates each, and writes a markdown table of the final test accuracies: per experiment the mean and
 * sample standard deviation over seeds, and the paired difference to the first experiment (same seed, so the data
 * order and selection are shared), with its standard deviation and how many seeds it was ahead on.
 *
 * An experiment with `export: ... as Model` is scored on its exported weights loaded into `Model` (for EWA, the MoE
 * folded back into an FFN: the model that would be deployed), others on their final weights. Runs go to
 * `DIR/<experiment>-seed<S>/`; a run already complete there is read back, not retrained, so an interrupted study
 * continues where it stopped.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { renderDiagnostics } from '../compiler/diagnostics/render.js';
import type { FrontendHost } from '../compiler/frontend.js';
import { compileProgram } from '../compiler/pipeline.js';
import type { ElaboratedExperiment } from '../compiler/semantic/elaborated.js';
import { writeFileAtomic } from '../runtime/checkpoint/atomic.js';
import { VitmRuntimeError } from '../runtime/errors.js';
import { trainConfig } from '../runtime/train/config.js';
import { evaluateWeightsFile } from '../runtime/train/evaluate.js';
import { train } from '../runtime/train/trainer.js';
import { openNodeDevice } from '../runtime/webgpu/node.js';
import { loadTuningCache, saveTuningCache } from '../runtime/webgpu/tuning-file.js';
import { nodeHost } from './check.js';
import { formatDuration } from './progress.js';
import { locator } from './train.js';

export interface StudyCliOptions {
  readonly seeds: readonly number[];
  readonly experiments?: readonly string[];
  readonly out?: string;
  readonly table?: string;
  /** Time candidate matmul tiles (default true, remembered in the tuning cache); false takes the first that fits. */
  readonly tune?: boolean;
  readonly host?: FrontendHost;
}

export class StudyUsageError extends Error {}

interface Cell {
  readonly experiment: string;
  readonly seed: number;
  readonly accuracy: number;
  readonly scoredOn: string;
}

const mean = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
const std = (xs: readonly number[]): number => {
  if (xs.length < 2) return 0;
  const m = mean(xs);
  return Math.sqrt(xs.reduce((a, b) => a + (b - m) ** 2, 0) / (xs.length - 1));
};
const pct = (x: number): string => (100 * x).toFixed(2);

/** The markdown table of a study (exported for tests). */
export function studyTable(cells: readonly Cell[], experiments: readonly string[], seeds: readonly number[]): string {
  const acc = (e: string, s: number): number => cells.find((c) => c.experiment === e && c.seed === s)?.accuracy ?? NaN;
  const base = experiments[0] ?? '';
  const lines = [
    `| experiment | scored on | ${seeds.map((s) => `seed ${s}`).join(' | ')} | mean ± std (%) | paired difference to ${base} (points) | ahead |`,
    `| --- | --- | ${seeds.map(() => '---:').join(' | ')} | ---: | ---: | ---: |`,
  ];
  for (const e of experiments) {
    const xs = seeds.map((s) => acc(e, s));
    const diffs = seeds.map((s) => acc(e, s) - acc(base, s));
    const scored = cells.find((c) => c.experiment === e)?.scoredOn ?? '';
    const paired = e === base ? '(reference)' : `${(100 * mean(diffs)).toFixed(2)} ± ${(100 * std(diffs)).toFixed(2)}`;
    const ahead = e === base ? '' : `${diffs.filter((d) => d > 0).length}/${seeds.length}`;
    lines.push(
      `| ${e} | ${scored} | ${xs.map(pct).join(' | ')} | ${pct(mean(xs))} ± ${pct(std(xs))} | ${paired} | ${ahead} |`,
    );
  }
  return lines.join('\n') + '\n';
}

export async function studyCommand(file: string, options: StudyCliOptions): Promise<number> {
  const result = compileProgram(file, options.host ?? nodeHost());
  if (result.program === undefined) {
    process.stderr.write(renderDiagnostics(result.diagnostics, result.files) + '\n');
    return 1;
  }
  const program = result.program;
  const names = options.experiments ?? program.experiments.map((e) => e.name);
  const experiments: ElaboratedExperiment[] = names.map((n) => {
    const e = program.experiments.find((x) => x.name === n);
    if (!e) throw new StudyUsageError(`no experiment '${n}' in the file`);
    return e;
  });
  if (experiments.length === 0) throw new StudyUsageError('the file declares no experiment');
  if (options.seeds.length === 0) throw new StudyUsageError('--seeds needs at least one seed');
  const out = options.out ?? join('runs', 'study');
  const table = options.table ?? join(out, 'results.md');
  const locate = locator(result.files);
  const gpu = await openNodeDevice();
  const tuningCache = loadTuningCache();
  const cells: Cell[] = [];
  const started = performance.now();
  try {
    for (const seed of options.seeds) {
      for (const experiment of experiments) {
        const config = trainConfig({ ...experiment, seed }, locate, program.models);
        if (!config.eval)
          throw new VitmRuntimeError('VT6018', `${locate(experiment.span)}: a study needs 'eval' data to score`);
        const model = program.models.find((m) => m.name === experiment.model);
        if (!model) throw new StudyUsageError(`the experiment's model '${experiment.model}' is not in the program`);
        const runDir = join(out, `${experiment.name}-seed${seed}`);
        const finalWeights = join(runDir, 'model.safetensors');
        if (!existsSync(finalWeights)) {
          process.stdout.write(`train ${experiment.name}, seed ${seed} -> ${runDir}\n`);
          const resume = existsSync(join(runDir, 'latest'));
          // Scored once, at the end: no evaluation at epoch ends.
          const evalEvery = Number.MAX_SAFE_INTEGER;
          const known = tuningCache.size;
          await train({
            gpu,
            model,
            config,
            runDir,
            ...(resume ? { resume: true } : {}),
            logEvery: 100,
            evalEvery,
            tune: options.tune ?? true,
            tuningCache,
          });
          if (tuningCache.size !== known) saveTuningCache(tuningCache);
        }
        const exported = config.export;
        const as = exported?.as;
        const scoredFile = exported?.as ? join(runDir, exported.path) : finalWeights;
        const scoredModel = as ? program.models.find((m) => m.name === as.model) : model;
        if (!scoredModel) throw new StudyUsageError(`no model '${as?.model ?? ''}' to score the export with`);
        const r = await evaluateWeightsFile(gpu, scoredModel, scoredFile, config.eval);
        cells.push({ experiment: experiment.name, seed, accuracy: r.accuracy, scoredOn: scoredModel.name });
        process.stdout.write(
          `  ${experiment.name}, seed ${seed}: ${pct(r.accuracy)}% on ${r.n} images (${scoredModel.name})\n`,
        );
      }
    }
  } finally {
    gpu.dispose();
  }
  const body =
    `# Study: ${file}\n\n` +
    `Test accuracy (%) after training, ${options.seeds.length} seeds; std is the sample standard deviation over seeds; ` +
    `the paired difference compares runs with the same seed (same initial weights of shared parameters, data ` +
    `selection and order).\n\n` +
    studyTable(cells, names, options.seeds) +
    `\nProduced by \`vitm study ${file} --seeds ${options.seeds.join(',')}` +
    `${options.experiments ? ` --experiments ${options.experiments.join(',')}` : ''}\` in ` +
    `${formatDuration((performance.now() - started) / 1000)}.\n`;
  mkdirSync(dirname(table), { recursive: true });
  writeFileAtomic(table, body);
  process.stdout.write(`\n${studyTable(cells, names, options.seeds)}\nwrote ${table}\n`);
  return 0;
}
