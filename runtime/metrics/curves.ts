/** Writing a run's loss and accuracy curves next to its metrics: `curves.svg` and `curves.png`, atomically. */
import { join } from 'node:path';
import { writeFileAtomic } from '../checkpoint/atomic.js';
import { curvesDrawing, type ChartOptions } from './chart.js';
import { readMetrics, type MetricRecord } from './jsonl.js';
import { drawingToPng } from './png.js';
import { drawingToSvg } from './svg.js';

export type CurveFormat = 'svg' | 'png';

export interface CurveFiles {
  readonly svg?: string;
  readonly png?: string;
}

/** Writes the curves of `records` as `<dir>/<stem>.svg` and/or `.png` (default both); returns the paths written. */
export function writeCurves(
  records: readonly MetricRecord[],
  dir: string,
  options: ChartOptions & { readonly formats?: readonly CurveFormat[]; readonly stem?: string } = {},
): CurveFiles {
  const drawing = curvesDrawing(records, options);
  const stem = options.stem ?? 'curves';
  const out: { svg?: string; png?: string } = {};
  for (const format of options.formats ?? ['svg', 'png']) {
    const path = join(dir, `${stem}.${format}`);
    switch (format) {
      case 'svg':
        writeFileAtomic(path, drawingToSvg(drawing));
        out.svg = path;
        break;
      case 'png':
        writeFileAtomic(path, drawingToPng(drawing));
        out.png = path;
        break;
    }
  }
  return out;
}

/** Reads `<runDir>/metrics.jsonl` and writes the curves beside it. */
export function writeRunCurves(runDir: string, options: ChartOptions = {}): CurveFiles {
  return writeCurves(readMetrics(join(runDir, 'metrics.jsonl')).records, runDir, options);
}
