/**
 * Loss and accuracy curves: from metric records to a renderer-independent drawing (rectangles, lines, polylines,
 * markers and text in pixel coordinates), which `svg.ts` writes as SVG and `png.ts` rasterises to PNG. Laying out
 * once keeps the two images identical in content.
 *
 * The chart has two panels side by side, loss vs step and accuracy vs step, each with its axes, "nice" ticks
 * (1, 2 or 5 times a power of ten), light grid lines, a legend, and one series per split: train as a line, eval as
 * a line with markers (evaluations are sparse).
 */
import type { MetricRecord, MetricSplit } from './jsonl.js';

export type Color = readonly [number, number, number];

export type Shape =
  | { readonly kind: 'rect'; x: number; y: number; w: number; h: number; fill?: Color; stroke?: Color }
  | { readonly kind: 'line'; x1: number; y1: number; x2: number; y2: number; color: Color; width: number }
  | { readonly kind: 'polyline'; points: readonly (readonly [number, number])[]; color: Color; width: number }
  | { readonly kind: 'marker'; x: number; y: number; size: number; color: Color }
  | {
      readonly kind: 'text';
      x: number;
      y: number;
      text: string;
      anchor: 'start' | 'middle' | 'end';
      size: number;
      color: Color;
    };

export interface Drawing {
  readonly width: number;
  readonly height: number;
  readonly background: Color;
  readonly shapes: readonly Shape[];
}

export const COLORS: Readonly<Record<MetricSplit, Color>> = { train: [31, 119, 180], eval: [214, 39, 40] };
const AXIS: Color = [40, 40, 40];
const GRID: Color = [225, 225, 225];
const WHITE: Color = [255, 255, 255];

export interface ChartOptions {
  readonly width?: number;
  readonly height?: number;
  /** A title above the panels (e.g. the experiment's name). */
  readonly title?: string;
}

export type Point = readonly [number, number];

/** The (step, value) points of one metric for one split, in step order, skipping missing and non-finite values. */
export function seriesOf(records: readonly MetricRecord[], split: MetricSplit, metric: string): Point[] {
  const points: Point[] = [];
  for (const r of records) {
    const v = r[metric];
    if (r.split === split && typeof v === 'number' && Number.isFinite(v)) points.push([r.step, v]);
  }
  return points.sort((a, b) => a[0] - b[0]);
}

/** Ticks covering [lo, hi]: multiples of a step of 1, 2 or 5 times a power of ten, about `target` of them. */
export function niceTicks(lo: number, hi: number, target = 5): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / Math.max(1, target);
  const pow = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * pow).find((s) => s >= raw) ?? 10 * pow;
  // Ticks are k * step for integer k, rounded to the step's decimals (so 0.1 * 3 prints as 0.3).
  const decimals = Math.min(100, Math.max(0, -Math.floor(Math.log10(step) + 1e-9)));
  const ticks: number[] = [];
  for (let k = Math.ceil(lo / step - 1e-9); k * step <= hi + step * 1e-9; k++) {
    ticks.push(k === 0 ? 0 : Number((k * step).toFixed(decimals)));
  }
  return ticks;
}

/** A short tick label: `0.25`, `1500`, `12k`, `1.5e-4`. */
export function tickLabel(v: number): string {
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 10_000) return `${Number((v / 1000).toPrecision(4))}k`;
  if (a < 1e-3) return v.toExponential(1);
  return String(Number(v.toPrecision(4)));
}

interface Range {
  lo: number;
  hi: number;
}

function rangeOf(values: readonly number[], clamp?: Range): Range {
  if (values.length === 0) return clamp ?? { lo: 0, hi: 1 };
  let lo = Math.min(...values);
  let hi = Math.max(...values);
  if (hi === lo) {
    const pad = Math.abs(lo) > 0 ? Math.abs(lo) * 0.1 : 1;
    lo -= pad;
    hi += pad;
  } else {
    const pad = (hi - lo) * 0.05;
    lo -= pad;
    hi += pad;
  }
  if (clamp) {
    lo = Math.max(clamp.lo, lo);
    hi = Math.min(clamp.hi, hi);
  }
  return { lo, hi };
}

interface PanelSpec {
  readonly title: string;
  readonly metric: string;
  readonly clamp?: Range;
  readonly legend: 'top' | 'bottom';
}

function panel(
  shapes: Shape[],
  records: readonly MetricRecord[],
  spec: PanelSpec,
  box: { x: number; y: number; w: number; h: number },
  xRange: Range,
): void {
  const train = seriesOf(records, 'train', spec.metric);
  const evals = seriesOf(records, 'eval', spec.metric);
  const yRange = rangeOf(
    [...train, ...evals].map((p) => p[1]),
    spec.clamp,
  );
  const left = box.x + 52;
  const right = box.x + box.w - 12;
  const top = box.y + 28;
  const bottom = box.y + box.h - 40;
  const px = (x: number): number => left + ((x - xRange.lo) / (xRange.hi - xRange.lo)) * (right - left);
  const py = (y: number): number => bottom - ((y - yRange.lo) / (yRange.hi - yRange.lo)) * (bottom - top);

  shapes.push({
    kind: 'text',
    x: (left + right) / 2,
    y: box.y + 16,
    text: spec.title,
    anchor: 'middle',
    size: 14,
    color: AXIS,
  });
  for (const t of niceTicks(yRange.lo, yRange.hi, 5)) {
    const y = Math.round(py(t)) + 0.5;
    shapes.push({ kind: 'line', x1: left, y1: y, x2: right, y2: y, color: GRID, width: 1 });
    shapes.push({ kind: 'line', x1: left - 4, y1: y, x2: left, y2: y, color: AXIS, width: 1 });
    shapes.push({ kind: 'text', x: left - 7, y: y + 4, text: tickLabel(t), anchor: 'end', size: 11, color: AXIS });
  }
  for (const t of niceTicks(xRange.lo, xRange.hi, 5)) {
    const x = Math.round(px(t)) + 0.5;
    shapes.push({ kind: 'line', x1: x, y1: top, x2: x, y2: bottom, color: GRID, width: 1 });
    shapes.push({ kind: 'line', x1: x, y1: bottom, x2: x, y2: bottom + 4, color: AXIS, width: 1 });
    shapes.push({ kind: 'text', x, y: bottom + 17, text: tickLabel(t), anchor: 'middle', size: 11, color: AXIS });
  }
  shapes.push({ kind: 'rect', x: left, y: top, w: right - left, h: bottom - top, stroke: AXIS });
  shapes.push({
    kind: 'text',
    x: (left + right) / 2,
    y: bottom + 34,
    text: 'step',
    anchor: 'middle',
    size: 12,
    color: AXIS,
  });

  const project = (points: readonly Point[]): (readonly [number, number])[] => points.map(([x, y]) => [px(x), py(y)]);
  if (train.length > 0) shapes.push({ kind: 'polyline', points: project(train), color: COLORS.train, width: 1.5 });
  if (evals.length > 0) {
    shapes.push({ kind: 'polyline', points: project(evals), color: COLORS.eval, width: 1.5 });
    for (const [x, y] of project(evals)) shapes.push({ kind: 'marker', x, y, size: 5, color: COLORS.eval });
  }

  const legend: [MetricSplit, number][] = [];
  if (train.length > 0) legend.push(['train', train.length]);
  if (evals.length > 0) legend.push(['eval', evals.length]);
  // The legend goes in the corner the curves leave free: top right for a falling loss, bottom right for accuracy.
  const legendHeight = 16 * legend.length + 6;
  const legendTop = spec.legend === 'bottom' ? bottom - 4 - legendHeight : top + 4;
  if (legend.length > 0) {
    shapes.push({ kind: 'rect', x: right - 70, y: legendTop, w: 64, h: legendHeight, fill: WHITE, stroke: GRID });
  }
  legend.forEach(([split], i) => {
    const y = legendTop + 14 + 16 * i;
    const x = right - 64;
    shapes.push({ kind: 'line', x1: x, y1: y - 4, x2: x + 18, y2: y - 4, color: COLORS[split], width: 2 });
    shapes.push({ kind: 'text', x: x + 24, y, text: split, anchor: 'start', size: 11, color: AXIS });
  });
  if (legend.length === 0) {
    const text = `no ${spec.metric} yet`;
    shapes.push({
      kind: 'text',
      x: (left + right) / 2,
      y: (top + bottom) / 2,
      text,
      anchor: 'middle',
      size: 12,
      color: AXIS,
    });
  }
}

/** Lays out the loss and accuracy panels for a run's records. */
export function curvesDrawing(records: readonly MetricRecord[], options: ChartOptions = {}): Drawing {
  const width = options.width ?? 960;
  const height = options.height ?? 400;
  const shapes: Shape[] = [];
  const steps = records.map((r) => r.step).filter((s) => Number.isFinite(s));
  const xRange: Range = steps.length > 0 ? { lo: Math.min(0, ...steps), hi: Math.max(1, ...steps) } : { lo: 0, hi: 1 };
  const titleSpace = options.title ? 24 : 0;
  if (options.title) {
    shapes.push({ kind: 'text', x: width / 2, y: 18, text: options.title, anchor: 'middle', size: 14, color: AXIS });
  }
  const half = width / 2;
  const box = (i: number): { x: number; y: number; w: number; h: number } => ({
    x: i * half,
    y: titleSpace,
    w: half,
    h: height - titleSpace,
  });
  panel(shapes, records, { title: 'loss', metric: 'loss', legend: 'top' }, box(0), xRange);
  panel(
    shapes,
    records,
    { title: 'accuracy', metric: 'accuracy', clamp: { lo: 0, hi: 1 }, legend: 'bottom' },
    box(1),
    xRange,
  );
  return { width, height, background: WHITE, shapes };
}
