import { spawnSync } from 'node:child_process';
import { appendFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { MetricsWriter, parseMetrics, readMetrics, truncateMetrics } from '../../runtime/metrics/jsonl.js';

const DIST_JSONL = fileURLToPath(new URL('../../dist/runtime/metrics/jsonl.js', import.meta.url));
const fresh = (): string => join(mkdtempSync(join(tmpdir(), 'vitm-metrics-')), 'metrics.jsonl');

describe('metrics.jsonl', () => {
  it('appends one JSON object per line and reads them back', () => {
    const path = fresh();
    const w = MetricsWriter.open(path);
    w.write({ step: 1, split: 'train', loss: 2.3, lr: 1e-3 });
    w.write({ step: 1, split: 'eval', loss: 2.2, accuracy: 0.11 });
    w.close();
    w.close(); // idempotent
    expect(readFileSync(path, 'utf8')).toBe(
      '{"step":1,"split":"train","loss":2.3,"lr":0.001}\n{"step":1,"split":"eval","loss":2.2,"accuracy":0.11}\n',
    );
    expect(readMetrics(path).records).toHaveLength(2);
    expect(() => {
      w.write({ step: 2, split: 'train' });
    }).toThrow(/closed/);
    const again = MetricsWriter.open(path); // appends after what is there
    again.write({ step: 2, split: 'train', loss: 1.5 });
    again.close();
    expect(readMetrics(path).records.map((r) => r.step)).toEqual([1, 1, 2]);
  });

  it('writes a non-finite loss as null', () => {
    const path = fresh();
    const w = MetricsWriter.open(path, { durable: true });
    w.write({ step: 7, split: 'train', loss: NaN, accuracy: Infinity });
    w.close();
    expect(readMetrics(path).records[0]).toEqual({ step: 7, split: 'train', loss: null, accuracy: null });
  });

  it('skips a torn last line when reading, and cuts it off before appending again', () => {
    const path = fresh();
    writeFileSync(path, '{"step":1,"split":"train","loss":1}\n{"step":2,"split":"tr');
    const { records, skippedLines } = readMetrics(path);
    expect(records.map((r) => r.step)).toEqual([1]);
    expect(skippedLines).toEqual([2]);
    const w = MetricsWriter.open(path);
    w.write({ step: 2, split: 'train', loss: 0.5 });
    w.close();
    expect(readFileSync(path, 'utf8')).toBe(
      '{"step":1,"split":"train","loss":1}\n{"step":2,"split":"train","loss":0.5}\n',
    );
    // A file that is one torn line is emptied.
    const torn = fresh();
    writeFileSync(torn, '{"step":');
    MetricsWriter.open(torn).close();
    expect(readFileSync(torn, 'utf8')).toBe('');
  });

  it('ignores lines that are not records (and says which)', () => {
    expect(parseMetrics('[1]\n{"step":1}\n{"step":3,"split":"eval"}\nnot json\n').skippedLines).toEqual([1, 2, 4]);
  });

  it('truncateMetrics drops the records after a resumed checkpoint', () => {
    const path = fresh();
    const w = MetricsWriter.open(path);
    for (let s = 1; s <= 10; s++) w.write({ step: s, split: 'train', loss: 1 / s });
    w.close();
    expect(truncateMetrics(path, 6)).toBe(4);
    expect(readMetrics(path).records.map((r) => r.step)).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it('every line written before a SIGKILL is in the file', () => {
    const path = fresh();
    const script = `
      const { MetricsWriter } = await import(${JSON.stringify(pathToFileURL(DIST_JSONL).href)});
      const w = MetricsWriter.open(${JSON.stringify(path)});
      for (let s = 1; s <= 500; s++) w.write({ step: s, split: 'train', loss: 1 / s });
      process.kill(process.pid, 'SIGKILL');`;
    const child = spawnSync(process.execPath, ['--input-type=module', '-e', script]);
    expect(child.signal).toBe('SIGKILL');
    const { records, skippedLines } = readMetrics(path);
    expect(records.map((r) => r.step)).toEqual(Array.from({ length: 500 }, (_, i) => i + 1));
    expect(skippedLines).toEqual([]);
    appendFileSync(path, ''); // the file is a plain, complete text file
  });
});
