/**
 * A run folder (spec/checkpoint-format.md) as one object for a trainer: its checkpoint store, its metrics log and
 * its curves, opened either for a new run or to resume the run already there.
 *
 *   const run = RunFolder.open(defaultRunDir('runs', 'vit_tiny'));          // a new run
 *   const run = RunFolder.open('runs/vit_tiny-20261124-031000', { resume: true });
 *   run.resumedFrom?.state.step                                             // where to continue
 *   run.log({ step, split: 'train', loss });  run.save(checkpoint);  run.finish('vit_tiny');
 *
 * Opening for a new run refuses a folder that already holds one (VT6016), so a run is never overwritten by
 * accident; resuming loads the latest checkpoint (VT6012 if there is none) and drops the metrics logged after it.
 */
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { VitmRuntimeError } from '../errors.js';
import { writeRunCurves, type CurveFiles } from '../metrics/curves.js';
import { MetricsWriter, truncateMetrics, type MetricRecord } from '../metrics/jsonl.js';
import { CheckpointStore, type CheckpointInfo, type RunCheckpoint } from './run.js';

export const METRICS_FILE = 'metrics.jsonl';

export interface RunFolderOptions {
  /** Continue the run in the folder from its latest checkpoint (default false: start a new run). */
  readonly resume?: boolean;
  /** Checkpoints to keep (default 3). */
  readonly keepLast?: number;
  /** fsync the metrics after every line (default false). */
  readonly durableMetrics?: boolean;
}

function pad(n: number, width = 2): string {
  return String(n).padStart(width, '0');
}

/** A fresh folder name under `root`: `<name>-YYYYMMDD-HHMMSS` (UTC), with `-2`, `-3`... if taken. */
export function defaultRunDir(root: string, name: string, now: Date = new Date()): string {
  const stamp =
    `${now.getUTCFullYear()}${pad(now.getUTCMonth() + 1)}${pad(now.getUTCDate())}-` +
    `${pad(now.getUTCHours())}${pad(now.getUTCMinutes())}${pad(now.getUTCSeconds())}`;
  const safe = name.replace(/[^A-Za-z0-9._-]+/g, '_') || 'run';
  const base = join(root, `${safe}-${stamp}`);
  let dir = base;
  for (let k = 2; existsSync(dir); k++) dir = `${base}-${k}`;
  return dir;
}

/** VT6017: the loss is NaN or infinite at `step`; names the last good checkpoint to resume from. */
export function nonFiniteLossError(step: number, loss: number, lastCheckpoint: string | undefined): VitmRuntimeError {
  return new VitmRuntimeError(
    'VT6017',
    `the loss became ${String(loss)} at step ${step}; ` +
      (lastCheckpoint ? `the last good checkpoint is ${lastCheckpoint}` : 'no checkpoint was saved before it'),
    'lower the learning rate, add warmup or gradient clipping, then resume from the last good checkpoint with --resume',
  );
}

export class RunFolder {
  readonly dir: string;
  readonly store: CheckpointStore;
  readonly metrics: MetricsWriter;
  /** The checkpoint the run resumes from (undefined for a new run). */
  readonly resumedFrom: RunCheckpoint | undefined;

  private constructor(dir: string, store: CheckpointStore, metrics: MetricsWriter, resumedFrom?: RunCheckpoint) {
    this.dir = dir;
    this.store = store;
    this.metrics = metrics;
    this.resumedFrom = resumedFrom;
  }

  static open(dir: string, options: RunFolderOptions = {}): RunFolder {
    const store = new CheckpointStore(dir, options.keepLast === undefined ? {} : { keepLast: options.keepLast });
    const metricsPath = join(dir, METRICS_FILE);
    const writerOptions = { durable: options.durableMetrics ?? false };
    if (options.resume) {
      if (!existsSync(dir)) {
        throw new VitmRuntimeError(
          'VT6012',
          `no run folder ${dir} to resume`,
          'resume names the --out folder of an earlier `vitm train`',
        );
      }
      const checkpoint = store.load();
      truncateMetrics(metricsPath, checkpoint.state.step);
      return new RunFolder(dir, store, MetricsWriter.open(metricsPath, writerOptions), checkpoint);
    }
    const hasMetrics = existsSync(metricsPath) && statSync(metricsPath).size > 0;
    if (store.latest() !== undefined || store.list().length > 0 || hasMetrics) {
      throw new VitmRuntimeError(
        'VT6016',
        `the folder ${dir} already holds a run`,
        'add --resume to continue it, or choose another --out (by default each run gets a new folder)',
      );
    }
    mkdirSync(dir, { recursive: true });
    return new RunFolder(dir, store, MetricsWriter.open(metricsPath, writerOptions));
  }

  /** Appends a metrics record. */
  log(record: MetricRecord): void {
    this.metrics.write(record);
  }

  /** Saves a checkpoint (atomically; see CheckpointStore.save). */
  save(checkpoint: RunCheckpoint): CheckpointInfo {
    return this.store.save(checkpoint);
  }

  /** The latest checkpoint folder, for messages ("the last good checkpoint is ..."). */
  latest(): string | undefined {
    return this.store.latest();
  }

  /** Writes the curves from the metrics so far (`curves.svg`, `curves.png`). */
  writeCurves(title?: string): CurveFiles {
    return writeRunCurves(this.dir, title === undefined ? {} : { title });
  }

  /** Closes the metrics log and writes the curves. */
  finish(title?: string): CurveFiles {
    this.metrics.close();
    return this.writeCurves(title);
  }
}
