import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32 as zlibCrc32, inflateSync } from 'node:zlib';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { COLORS, curvesDrawing, niceTicks, seriesOf, tickLabel } from '../../runtime/metrics/chart.js';
import { writeRunCurves } from '../../runtime/metrics/curves.js';
import { MetricsWriter, type MetricRecord } from '../../runtime/metrics/jsonl.js';
import { crc32, drawingToPng } from '../../runtime/metrics/png.js';
import { drawingToSvg } from '../../runtime/metrics/svg.js';

function trainingRecords(steps = 1000): MetricRecord[] {
  const out: MetricRecord[] = [];
  for (let s = 0; s <= steps; s += 10) {
    out.push({
      step: s,
      split: 'train',
      loss: 2.3 * Math.exp(-s / 300) + 0.2,
      accuracy: 0.9 - 0.8 * Math.exp(-s / 250),
    });
  }
  for (let s = 0; s <= steps; s += 200)
    out.push({
      step: s,
      split: 'eval',
      loss: 2.4 * Math.exp(-s / 300) + 0.25,
      accuracy: 0.85 - 0.75 * Math.exp(-s / 250),
    });
  return out;
}

/** A minimal XML well-formedness check: balanced, properly nested tags, quoted attributes, no stray `<` or `&`. */
function checkXml(text: string): { elements: Map<string, number> } {
  const body = text.replace(/^<\?xml[^?]*\?>\s*/, '');
  const stack: string[] = [];
  const elements = new Map<string, number>();
  const token =
    /<\/?([A-Za-z][\w:-]*)((?:\s+[\w:-]+="[^"<&]*(?:&(?:lt|gt|amp|quot|apos);[^"<&]*)*")*)\s*(\/?)>|([^<]+)/gy;
  let m: RegExpExecArray | null;
  let at = 0;
  while ((m = token.exec(body)) !== null) {
    at = token.lastIndex;
    const [whole, name, , selfClosing, text] = m;
    if (text !== undefined) {
      expect(text.replace(/&(?:lt|gt|amp|quot|apos);/g, '')).not.toMatch(/[<&]/);
      if (stack.length === 0) expect(text.trim()).toBe('');
      continue;
    }
    if (whole.startsWith('</')) {
      expect(stack.pop()).toBe(name);
      continue;
    }
    elements.set(name as string, (elements.get(name as string) ?? 0) + 1);
    if (!selfClosing) stack.push(name as string);
  }
  expect(at).toBe(body.length); // everything was a tag or text
  expect(stack).toEqual([]);
  return { elements };
}

function pngChunks(bytes: Uint8Array): { type: string; data: Uint8Array }[] {
  expect([...bytes.subarray(0, 8)]).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const chunks: { type: string; data: Uint8Array }[] = [];
  for (let at = 8; at < bytes.length;) {
    const length = view.getUint32(at);
    const type = Buffer.from(bytes.subarray(at + 4, at + 8)).toString('latin1');
    const data = bytes.subarray(at + 8, at + 8 + length);
    // The CRC covers type and data; checked with Node's own zlib CRC-32, not ours.
    expect(view.getUint32(at + 8 + length)).toBe(zlibCrc32(bytes.subarray(at + 4, at + 8 + length)));
    chunks.push({ type, data });
    at += 12 + length;
  }
  return chunks;
}

describe('curve images', () => {
  it('niceTicks: steps of 1, 2 or 5 times a power of ten, inside the range, a handful of them', () => {
    fc.assert(
      fc.property(
        fc.double({ min: -1e6, max: 1e6, noNaN: true }),
        fc.double({ min: 1e-6, max: 1e6, noNaN: true }),
        (lo, span) => {
          const hi = lo + span;
          fc.pre(hi > lo);
          const ticks = niceTicks(lo, hi, 5);
          expect(ticks.length).toBeGreaterThanOrEqual(2);
          expect(ticks.length).toBeLessThanOrEqual(11);
          // A tick is k * step rounded to the step's decimals: within a millionth of the span of the range, plus the
          // few units in the last place of a double of the range's magnitude that the rounding can move it by.
          const slack = span * 1e-6 + Math.max(Math.abs(lo), Math.abs(hi)) * 2 ** -49;
          for (const t of ticks) {
            expect(t).toBeGreaterThanOrEqual(lo - slack);
            expect(t).toBeLessThanOrEqual(hi + slack);
          }
          // Far from 0, adjacent ticks differ by the step up to rounding of their doubles: compare loosely.
          const step = ((ticks[ticks.length - 1] as number) - (ticks[0] as number)) / (ticks.length - 1);
          const mantissa = step / 10 ** Math.floor(Math.log10(step) + 1e-3);
          expect([1, 2, 5, 10].some((m) => Math.abs(mantissa - m) < 1e-3)).toBe(true);
        },
      ),
    );
    expect(niceTicks(0, 1)).toEqual([0, 0.2, 0.4, 0.6, 0.8, 1]);
    expect(niceTicks(0, 2000)).toEqual([0, 500, 1000, 1500, 2000]);
    expect([0, 0.25, 1500, 12000, 0.00015].map(tickLabel)).toEqual(['0', '0.25', '1500', '12k', '1.5e-4']);
  });

  it('series skip missing and non-finite values and sort by step', () => {
    const records: MetricRecord[] = [
      { step: 3, split: 'train', loss: 1 },
      { step: 1, split: 'train', loss: 2 },
      { step: 2, split: 'train', loss: null },
      { step: 4, split: 'eval', loss: 0.5 },
    ];
    expect(seriesOf(records, 'train', 'loss')).toEqual([
      [1, 2],
      [3, 1],
    ]);
  });

  it('SVG: well-formed, both panels with axes, ticks, legend, a train and an eval series, escaped text', () => {
    const svg = drawingToSvg(curvesDrawing(trainingRecords(), { title: 'run <a & b>' }));
    const { elements } = checkXml(svg);
    expect(elements.get('svg')).toBe(1);
    expect(elements.get('polyline')).toBe(4); // train and eval, in each of the two panels
    expect(svg).toContain('run &lt;a &amp; b&gt;');
    for (const label of ['>loss<', '>accuracy<', '>step<', '>train<', '>eval<', '>1000<', '>0.8<'])
      expect(svg).toContain(label);
    expect(svg).toContain(`rgb(${COLORS.train.join(',')})`);
    expect(svg).toContain(`rgb(${COLORS.eval.join(',')})`);
  });

  it('SVG with no records yet still renders, saying so', () => {
    const svg = drawingToSvg(curvesDrawing([]));
    checkXml(svg);
    expect(svg).toContain('no loss yet');
  });

  it('PNG: valid signature and chunk CRCs, an inflatable IDAT of the right size, the series drawn in colour', () => {
    const png = drawingToPng(curvesDrawing(trainingRecords(), { width: 640, height: 300 }));
    const chunks = pngChunks(png);
    expect(chunks.map((c) => c.type)).toEqual(['IHDR', 'IDAT', 'IEND']);
    const ihdr = new DataView((chunks[0] as { data: Uint8Array }).data.slice().buffer);
    expect([ihdr.getUint32(0), ihdr.getUint32(4), ihdr.getUint8(8), ihdr.getUint8(9)]).toEqual([640, 300, 8, 2]);
    const raw = inflateSync((chunks[1] as { data: Uint8Array }).data);
    expect(raw.length).toBe(300 * (1 + 640 * 3));
    let train = 0;
    let evals = 0;
    let white = 0;
    for (let y = 0; y < 300; y++) {
      expect(raw[y * 1921]).toBe(0); // filter type None
      for (let x = 0; x < 640; x++) {
        const p = y * 1921 + 1 + 3 * x;
        const rgb = [raw[p], raw[p + 1], raw[p + 2]];
        if (rgb.every((v, i) => v === COLORS.train[i])) train++;
        if (rgb.every((v, i) => v === COLORS.eval[i])) evals++;
        if (rgb.every((v) => v === 255)) white++;
      }
    }
    expect(train).toBeGreaterThan(200);
    expect(evals).toBeGreaterThan(100);
    expect(white).toBeGreaterThan(0.7 * 640 * 300);
  });

  it('our CRC-32 matches zlib on random data', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        expect(crc32(bytes)).toBe(zlibCrc32(bytes));
      }),
    );
  });

  it('writeRunCurves reads metrics.jsonl and writes curves.svg and curves.png beside it', () => {
    const run = mkdtempSync(join(tmpdir(), 'vitm-curves-'));
    const w = MetricsWriter.open(join(run, 'metrics.jsonl'));
    for (const r of trainingRecords(300)) w.write(r);
    w.close();
    const files = writeRunCurves(run, { title: 'tiny' });
    expect(files).toEqual({ svg: join(run, 'curves.svg'), png: join(run, 'curves.png') });
    checkXml(readFileSync(files.svg ?? '', 'utf8'));
    pngChunks(readFileSync(files.png ?? ''));
  });
});
