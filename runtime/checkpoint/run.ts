/**
 * Run checkpoints: what `vitm train` saves so a run can be loaded anywhere and resumed exactly.
 *
 * A run folder (spec/checkpoint-format.md) holds `checkpoints/step-NNNNNNNN/` folders, each with
 *
 *   model.safetensors       the parameters, timm names and PyTorch layouts (loads with safetensors.torch.load_file)
 *   optimizer.safetensors   optimizer state tensors, named `<parameter>.<slot>` (e.g. `head.weight.exp_avg`)
 *   state.json              the step, data-order position, RNG streams, hyperparameters, and the sizes and SHA-256
 *                           of the two tensor files
 *
 * and a `latest` file naming the newest complete checkpoint folder. A checkpoint folder is written under a temporary
 * name and renamed into place (atomic), and only then does `latest` move to it (atomically too), so a crash at any
 * moment leaves `latest` pointing at a complete, verified checkpoint. After each save the oldest checkpoints beyond
 * `keepLast` are deleted (never the one `latest` names).
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { VitmRuntimeError } from '../errors.js';
import { removeStaleTemps, writeDirAtomic, writeFileAtomic, type AtomicWriteOptions } from './atomic.js';
import { decodeSafetensors, encodeSafetensors, safetensorsError, type TensorMap } from './safetensors.js';

export type Json = null | boolean | number | string | readonly Json[] | { readonly [key: string]: Json };

/** Everything besides tensors that an exact resume needs. `step` counts completed optimizer steps. */
export interface TrainState {
  readonly step: number;
  /** The data loader's state (`BatchLoader.state()`): the next batch to read. */
  readonly data?: Json;
  /** Other random streams by name (`Rng.state()`), e.g. dropout or MoE token permutations. */
  readonly rng?: Readonly<Record<string, { readonly key: number; readonly counter: number }>>;
  /** The optimizer's kind and hyperparameters, and the schedule, to check a resume uses the same ones. */
  readonly optimizer?: Json;
  /** Anything else the trainer wants back (experiment name, source hash, best accuracy so far). */
  readonly extra?: Json;
}

export interface RunCheckpoint {
  /** Parameters with timm names and PyTorch layouts. */
  readonly model: TensorMap;
  /** Optimizer state: `<parameter>.<slot>` tensors (none for plain SGD). */
  readonly optimizer: TensorMap;
  readonly state: TrainState;
  /** Extra `__metadata__` for model.safetensors (strings only). */
  readonly metadata?: Readonly<Record<string, string>>;
}

export interface CheckpointInfo {
  readonly step: number;
  readonly dir: string;
}

export const STATE_FORMAT = 'vitm-train-state';
export const STATE_VERSION = 1;
const MODEL_FILE = 'model.safetensors';
const OPTIMIZER_FILE = 'optimizer.safetensors';
const STATE_FILE = 'state.json';
const LATEST_FILE = 'latest';
const STEP_DIR = /^step-(\d{8,})$/;

/** The folder name of the checkpoint after `step` steps: `step-00001200`. */
export function stepDirName(step: number): string {
  return `step-${String(step).padStart(8, '0')}`;
}

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

function checkpointError(message: string, hint?: string): VitmRuntimeError {
  return new VitmRuntimeError('VT6012', message, hint);
}

interface FileRecord {
  readonly bytes: number;
  readonly sha256: string;
}

interface StateFile {
  readonly format: typeof STATE_FORMAT;
  readonly version: number;
  readonly state: TrainState;
  readonly files: Readonly<Record<string, FileRecord>>;
}

export interface CheckpointStoreOptions {
  /** How many checkpoints to keep (default 3; at least 1). */
  readonly keepLast?: number;
  /** Passed to the atomic writer (tests use it to simulate crashes). */
  readonly write?: AtomicWriteOptions;
}

/** The checkpoints of one run folder. One writer at a time (the training process). */
export class CheckpointStore {
  readonly runDir: string;
  readonly checkpointsDir: string;
  readonly keepLast: number;
  private readonly writeOptions: AtomicWriteOptions;

  constructor(runDir: string, options: CheckpointStoreOptions = {}) {
    this.runDir = runDir;
    this.checkpointsDir = join(runDir, 'checkpoints');
    this.keepLast = Math.max(1, options.keepLast ?? 3);
    this.writeOptions = options.write ?? {};
  }

  /**
   * Saves a checkpoint atomically, moves `latest` to it, then rotates old ones. Returns where it went. Saving the
   * same step twice replaces the earlier checkpoint of that step.
   */
  save(checkpoint: RunCheckpoint): CheckpointInfo {
    const { step } = checkpoint.state;
    if (!Number.isSafeInteger(step) || step < 0) throw new RangeError(`a checkpoint step must be >= 0, got ${step}`);
    mkdirSync(this.checkpointsDir, { recursive: true });
    const model = encodeSafetensors(checkpoint.model, {
      format: 'pt',
      'vitm.step': String(step),
      ...checkpoint.metadata,
    });
    const optimizer = encodeSafetensors(checkpoint.optimizer, { 'vitm.content': 'optimizer-state' });
    const stateFile: StateFile = {
      format: STATE_FORMAT,
      version: STATE_VERSION,
      state: checkpoint.state,
      files: {
        [MODEL_FILE]: { bytes: model.length, sha256: sha256(model) },
        [OPTIMIZER_FILE]: { bytes: optimizer.length, sha256: sha256(optimizer) },
      },
    };
    const name = stepDirName(step);
    const dir = join(this.checkpointsDir, name);
    writeDirAtomic(
      dir,
      new Map<string, Uint8Array | string>([
        [MODEL_FILE, model],
        [OPTIMIZER_FILE, optimizer],
        [STATE_FILE, JSON.stringify(stateFile, null, 2) + '\n'],
      ]),
      this.writeOptions,
    );
    writeFileAtomic(join(this.runDir, LATEST_FILE), `checkpoints/${name}\n`, this.writeOptions);
    this.rotate(name);
    return { step, dir };
  }

  /** The complete checkpoints present, oldest first (folders named `step-N`; temporaries are ignored). */
  list(): CheckpointInfo[] {
    let names: string[];
    try {
      names = readdirSync(this.checkpointsDir);
    } catch {
      return [];
    }
    const out: CheckpointInfo[] = [];
    for (const name of names) {
      const m = STEP_DIR.exec(name);
      if (m) out.push({ step: Number(m[1]), dir: join(this.checkpointsDir, name) });
    }
    return out.sort((a, b) => a.step - b.step);
  }

  /** The folder `latest` names, or undefined when the run has no checkpoint yet. */
  latest(): string | undefined {
    let text: string;
    try {
      text = readFileSync(join(this.runDir, LATEST_FILE), 'utf8');
    } catch {
      return undefined;
    }
    const rel = text.trim();
    if (!/^checkpoints\/step-\d{8,}$/.test(rel)) {
      throw checkpointError(`the file ${join(this.runDir, LATEST_FILE)} is damaged (${JSON.stringify(rel)})`);
    }
    return join(this.runDir, rel);
  }

  /**
   * Loads a checkpoint folder (default: the latest), verifying sizes and SHA-256 of its tensor files. A run with no
   * checkpoint, or a folder with a missing file, is VT6012; a damaged tensor file is VT6011.
   */
  load(dir?: string): RunCheckpoint {
    const target = dir ?? this.latest();
    if (!target) {
      throw checkpointError(
        `no checkpoint to resume from in ${this.runDir}`,
        'resume names the run folder of an earlier `vitm train` (its --out); without --resume a new run starts',
      );
    }
    return loadCheckpointDir(target);
  }

  private rotate(keep: string): void {
    removeStaleTemps(this.checkpointsDir);
    removeStaleTemps(this.runDir);
    const all = this.list();
    const excess = all.length - this.keepLast;
    for (const info of all.slice(0, Math.max(0, excess))) {
      if (info.dir.endsWith(keep)) continue;
      rmSync(info.dir, { recursive: true, force: true });
    }
  }
}

function readRequired(path: string): Uint8Array {
  try {
    return readFileSync(path);
  } catch (error) {
    throw checkpointError(
      `incomplete checkpoint: cannot read ${path} (${(error as Error).message})`,
      'use another checkpoint of the run (checkpoints/step-*), or start the run again',
    );
  }
}

function parseStateFile(path: string, text: string): StateFile {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw checkpointError(`damaged checkpoint state ${path}: ${(error as Error).message}`);
  }
  const p = parsed as Partial<StateFile> | null;
  if (
    p === null ||
    typeof p !== 'object' ||
    p.format !== STATE_FORMAT ||
    typeof p.state !== 'object' ||
    !Number.isSafeInteger(p.state.step) ||
    typeof p.files !== 'object'
  ) {
    throw checkpointError(`${path} is not a vitm checkpoint state (format ${STATE_FORMAT})`);
  }
  if (p.version !== STATE_VERSION) {
    throw checkpointError(`${path} has state version ${String(p.version)}; this vitm reads version ${STATE_VERSION}`);
  }
  return p as StateFile;
}

/** Loads and verifies one checkpoint folder (see `CheckpointStore.load`). */
export function loadCheckpointDir(dir: string): RunCheckpoint {
  const statePath = join(dir, STATE_FILE);
  const stateFile = parseStateFile(statePath, new TextDecoder().decode(readRequired(statePath)));
  const read = (name: string): Uint8Array => {
    const path = join(dir, name);
    const bytes = readRequired(path);
    const record = stateFile.files[name];
    if (!record) throw checkpointError(`${statePath} does not list ${name}`);
    if (bytes.length !== record.bytes) {
      throw safetensorsError(path, `${bytes.length} bytes, the checkpoint recorded ${record.bytes} (truncated?)`);
    }
    if (sha256(bytes) !== record.sha256) throw safetensorsError(path, 'its SHA-256 differs from the one recorded');
    return bytes;
  };
  const modelPath = join(dir, MODEL_FILE);
  const model = decodeSafetensors(read(MODEL_FILE), modelPath);
  const optimizer = decodeSafetensors(read(OPTIMIZER_FILE), join(dir, OPTIMIZER_FILE));
  const metadata = { ...model.metadata };
  delete metadata.format;
  delete metadata['vitm.step'];
  return { model: model.tensors, optimizer: optimizer.tensors, state: stateFile.state, metadata };
}

/** Reads a standalone `.safetensors` file (an exported model); a missing file is VT6012, a damaged one VT6011. */
export function readSafetensorsFile(path: string): ReturnType<typeof decodeSafetensors> {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (error) {
    throw checkpointError(`cannot read checkpoint ${path}: ${(error as Error).message}`);
  }
  return decodeSafetensors(bytes, path);
}

/** Writes a standalone `.safetensors` file atomically (an exported model, PyTorch-loadable). */
export function writeSafetensorsFile(
  path: string,
  tensors: TensorMap,
  metadata: Readonly<Record<string, string>> = {},
  options: AtomicWriteOptions = {},
): void {
  writeFileAtomic(path, encodeSafetensors(tensors, { format: 'pt', ...metadata }), options);
}
