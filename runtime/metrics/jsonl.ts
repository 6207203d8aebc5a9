/**
 * `metrics.jsonl`: one JSON object per line, appended as training goes. Each record is written with a single
 * `write` call straight to the file (no user-space buffer), so everything written before a crash is in the file; with
 * `durable: true` each line is also fsynced (survives a power cut, at a cost per line).
 *
 * A crash can still leave a torn last line (a write cut short by the OS): `readMetrics` ignores it, and opening the
 * file for appending again first cuts it off, so the file stays one valid record per line. On resume,
 * `truncateMetrics(path, step)` drops the records after the checkpoint's step so they are not logged twice.
 *
 * Non-finite numbers (a NaN loss) are written as `null`, as JSON has no NaN.
 */
import { closeSync, fstatSync, fsyncSync, ftruncateSync, openSync, readFileSync, readSync, writeSync } from 'node:fs';
import { writeError, writeFileAtomic } from '../checkpoint/atomic.js';

export type MetricSplit = 'train' | 'eval';

/**
 * One line of metrics. `step` is the number of optimizer steps completed; the other usual fields are `loss`,
 * `accuracy` (0-1), `lr`, `epoch`, `images_per_s` and `time` (ISO 8601); trainers may add their own.
 */
export interface MetricRecord {
  readonly step: number;
  readonly split: MetricSplit;
  readonly loss?: number | null;
  readonly accuracy?: number | null;
  readonly [key: string]: number | string | boolean | null | undefined;
}

export interface MetricsWriterOptions {
  /** fsync after every line (default false: written through to the OS, which survives a process crash). */
  readonly durable?: boolean;
}

export class MetricsWriter {
  readonly path: string;
  private fd: number | undefined;
  private readonly durable: boolean;

  private constructor(path: string, fd: number, durable: boolean) {
    this.path = path;
    this.fd = fd;
    this.durable = durable;
  }

  /** Opens (or creates) the file for appending, cutting off a torn last line first. */
  static open(path: string, options: MetricsWriterOptions = {}): MetricsWriter {
    let fd: number;
    try {
      fd = openSync(path, 'a+');
      cutTornTail(fd);
    } catch (error) {
      throw writeError(path, error);
    }
    return new MetricsWriter(path, fd, options.durable ?? false);
  }

  /** Appends one record as one line. */
  write(record: MetricRecord): void {
    if (this.fd === undefined) throw new Error(`metrics file ${this.path} is closed`);
    const line = JSON.stringify(record, (_key, value: unknown) =>
      typeof value === 'number' && !Number.isFinite(value) ? null : value,
    );
    try {
      writeSync(this.fd, line + '\n');
      if (this.durable) fsyncSync(this.fd);
    } catch (error) {
      throw writeError(this.path, error);
    }
  }

  /** fsyncs and closes the file; later writes throw. Idempotent. */
  close(): void {
    if (this.fd === undefined) return;
    const fd = this.fd;
    this.fd = undefined;
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  }
}

/** If the file does not end with a newline, truncates it after its last newline (drops a torn record). */
function cutTornTail(fd: number): void {
  const size = fstatSync(fd).size;
  if (size === 0) return;
  const last = Buffer.alloc(1);
  readSync(fd, last, 0, 1, size - 1);
  if (last[0] === 0x0a) return;
  const chunk = 64 * 1024;
  for (let end = size; end > 0; end -= chunk) {
    const start = Math.max(0, end - chunk);
    const buf = Buffer.alloc(end - start);
    readSync(fd, buf, 0, buf.length, start);
    const nl = buf.lastIndexOf(0x0a);
    if (nl >= 0) {
      ftruncateSync(fd, start + nl + 1);
      return;
    }
  }
  ftruncateSync(fd, 0);
}

export interface MetricsFile {
  readonly records: MetricRecord[];
  /** Lines that were not a valid record (a torn last line after a crash, or damage), 1-based. */
  readonly skippedLines: number[];
}

function isRecord(x: unknown): x is MetricRecord {
  if (typeof x !== 'object' || x === null || Array.isArray(x)) return false;
  const r = x as Record<string, unknown>;
  return typeof r.step === 'number' && (r.split === 'train' || r.split === 'eval');
}

/** Parses metrics JSONL text, skipping (and reporting) lines that are not records. */
export function parseMetrics(text: string): MetricsFile {
  const records: MetricRecord[] = [];
  const skippedLines: number[] = [];
  const lines = text.split('\n');
  lines.forEach((line, i) => {
    if (line.trim() === '') return;
    try {
      const parsed: unknown = JSON.parse(line);
      if (isRecord(parsed)) records.push(parsed);
      else skippedLines.push(i + 1);
    } catch {
      skippedLines.push(i + 1);
    }
  });
  return { records, skippedLines };
}

/** Reads a metrics file; a missing file has no records. */
export function readMetrics(path: string): MetricsFile {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { records: [], skippedLines: [] };
    throw error;
  }
  return parseMetrics(text);
}

/**
 * Keeps only the records with `step <= step` (atomically rewriting the file): called when a run resumes from the
 * checkpoint of that step, so the records of the lost steps are not duplicated. Returns how many were dropped.
 */
export function truncateMetrics(path: string, step: number): number {
  const { records } = readMetrics(path);
  const kept = records.filter((r) => r.step <= step);
  writeFileAtomic(path, kept.map((r) => JSON.stringify(r) + '\n').join(''));
  return records.length - kept.length;
}
