/**
 * Crash-safe file and folder writes. A reader of the final path sees either the old contents or the complete new
 * contents, never a partial file, whatever happens to the process (an exception, SIGKILL, a power cut):
 *
 *   1. write everything to a temporary name in the same folder (same file system, so step 3 is a rename),
 *   2. fsync the temporary file (its bytes are on disk before its name points at them),
 *   3. rename it over the final path (atomic on POSIX file systems),
 *   4. fsync the folder (the rename itself is on disk).
 *
 * A crash leaves at most a stray temporary (`.NAME.tmp-PID-N`), which `removeStaleTemps` deletes. I/O failures
 * (disk full, permissions) are VT6013 naming the path.
 */
import {
  closeSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readdirSync,
  renameSync,
  rmSync,
  statSync,
  writeSync,
} from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { VitmRuntimeError } from '../errors.js';

/** Test hooks: `afterChunk` runs after each chunk reaches the temporary file; throwing from it simulates a crash. */
export interface AtomicWriteOptions {
  readonly chunkBytes?: number;
  readonly afterChunk?: (written: number, total: number) => void;
}

const TEMP_MARK = '.tmp-';
let tempCounter = 0;

function tempName(path: string): string {
  return join(dirname(path), `.${basename(path)}${TEMP_MARK}${process.pid}-${++tempCounter}`);
}

export function writeError(path: string, error: unknown): VitmRuntimeError {
  const reason = error instanceof Error ? error.message : String(error);
  return new VitmRuntimeError(
    'VT6013',
    `cannot write ${path}: ${reason}`,
    'check free disk space and permissions of the output folder (--out); the previous checkpoint is intact',
    { cause: error },
  );
}

function writeAll(fd: number, data: Uint8Array, options: AtomicWriteOptions): void {
  const chunk = options.chunkBytes ?? 1 << 20;
  let written = 0;
  while (written < data.length) {
    const n = writeSync(fd, data, written, Math.min(chunk, data.length - written));
    written += n;
    options.afterChunk?.(written, data.length);
  }
}

/** fsync a folder so a rename or a new entry in it is durable. Platforms that cannot fsync a folder skip it. */
export function fsyncDir(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, 'r');
    fsyncSync(fd);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== 'EISDIR' && code !== 'EINVAL' && code !== 'EPERM' && code !== 'EBADF') throw error;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** Writes a complete file to `path` and fsyncs it (no rename): for files inside a folder that is itself renamed. */
function writeDurable(path: string, data: Uint8Array, options: AtomicWriteOptions, flags = 'wx'): void {
  const fd = openSync(path, flags, 0o644);
  try {
    writeAll(fd, data, options);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function bytesOf(data: Uint8Array | string): Uint8Array {
  return typeof data === 'string' ? new TextEncoder().encode(data) : data;
}

/** Atomically replaces (or creates) the file at `path` with `data`. */
export function writeFileAtomic(path: string, data: Uint8Array | string, options: AtomicWriteOptions = {}): void {
  const temp = tempName(path);
  try {
    writeDurable(temp, bytesOf(data), options);
    renameSync(temp, path);
    fsyncDir(dirname(path));
  } catch (error) {
    removeQuietly(temp);
    throw error instanceof VitmRuntimeError ? error : writeError(path, error);
  }
}

/**
 * Atomically creates the folder `dir` holding `files` (name -> contents): the files are written and fsynced in a
 * temporary folder that is then renamed to `dir`. An existing `dir` is replaced (moved aside, then deleted).
 */
export function writeDirAtomic(
  dir: string,
  files: ReadonlyMap<string, Uint8Array | string>,
  options: AtomicWriteOptions = {},
): void {
  const temp = tempName(dir);
  let aside: string | undefined;
  try {
    mkdirSync(temp);
    for (const [name, data] of files) writeDurable(join(temp, name), bytesOf(data), options);
    fsyncDir(temp);
    if (exists(dir)) {
      aside = tempName(dir);
      renameSync(dir, aside);
    }
    renameSync(temp, dir);
    fsyncDir(dirname(dir));
  } catch (error) {
    removeQuietly(temp);
    if (aside && !exists(dir)) renameSync(aside, dir);
    throw error instanceof VitmRuntimeError ? error : writeError(dir, error);
  }
  if (aside) rmSync(aside, { recursive: true, force: true });
}

/** Best-effort clean-up after a failed write: the original error is the one to report. */
function removeQuietly(path: string): void {
  try {
    rmSync(path, { recursive: true, force: true });
  } catch {
    // nothing more to do: a stray temporary is removed by removeStaleTemps later
  }
}

function exists(path: string): boolean {
  try {
    statSync(path);
    return true;
  } catch {
    return false;
  }
}

/** True for the names of temporaries left by an interrupted atomic write. */
export function isTempName(name: string): boolean {
  return name.startsWith('.') && name.includes(TEMP_MARK);
}

/** Deletes temporaries left in `dir` by interrupted writes; returns their names. Only for a folder this process owns. */
export function removeStaleTemps(dir: string): string[] {
  const removed: string[] = [];
  for (const name of readdirSync(dir)) {
    if (!isTempName(name)) continue;
    rmSync(join(dir, name), { recursive: true, force: true });
    removed.push(name);
  }
  return removed;
}
