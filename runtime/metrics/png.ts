/**
 * A dependency-free PNG writer for the curve images: a small rasteriser for `Drawing`s (anti-aliased lines by
 * distance to the segment, filled and stroked rectangles, square markers, 5x7 bitmap text) and a PNG encoder
 * (8-bit RGB, no interlace, filter 0 per scanline, zlib via node:zlib, CRC-32 per chunk).
 */
import { deflateSync } from 'node:zlib';
import type { Color, Drawing, Shape } from './chart.js';
import { GLYPH_ADVANCE, GLYPH_HEIGHT, GLYPH_WIDTH, glyph } from './font.js';

/** An RGB image, 3 bytes per pixel, row-major. */
export interface Raster {
  readonly width: number;
  readonly height: number;
  readonly rgb: Uint8Array;
}

export function createRaster(width: number, height: number, background: Color): Raster {
  const rgb = new Uint8Array(width * height * 3);
  for (let i = 0; i < width * height; i++) rgb.set(background, 3 * i);
  return { width, height, rgb };
}

/** Blends `color` over pixel (x, y) with coverage `alpha` in [0, 1]; pixels outside the image are ignored. */
export function blend(r: Raster, x: number, y: number, color: Color, alpha: number): void {
  if (x < 0 || y < 0 || x >= r.width || y >= r.height || alpha <= 0) return;
  const a = Math.min(1, alpha);
  const at = 3 * (y * r.width + x);
  for (let c = 0; c < 3; c++) {
    const old = r.rgb[at + c] as number;
    r.rgb[at + c] = Math.round(old + ((color[c] as number) - old) * a);
  }
}

/** An anti-aliased line of the given width: coverage falls off over one pixel at the edge. */
export function drawLine(r: Raster, x1: number, y1: number, x2: number, y2: number, color: Color, width: number): void {
  const half = width / 2;
  const x0 = Math.max(0, Math.floor(Math.min(x1, x2) - half - 1));
  const xEnd = Math.min(r.width - 1, Math.ceil(Math.max(x1, x2) + half + 1));
  const y0 = Math.max(0, Math.floor(Math.min(y1, y2) - half - 1));
  const yEnd = Math.min(r.height - 1, Math.ceil(Math.max(y1, y2) + half + 1));
  const dx = x2 - x1;
  const dy = y2 - y1;
  const len2 = dx * dx + dy * dy;
  for (let py = y0; py <= yEnd; py++) {
    for (let px = x0; px <= xEnd; px++) {
      const cx = px + 0.5;
      const cy = py + 0.5;
      const t = len2 === 0 ? 0 : Math.max(0, Math.min(1, ((cx - x1) * dx + (cy - y1) * dy) / len2));
      const d = Math.hypot(cx - (x1 + t * dx), cy - (y1 + t * dy));
      blend(r, px, py, color, half + 0.5 - d);
    }
  }
}

export function fillRect(r: Raster, x: number, y: number, w: number, h: number, color: Color): void {
  for (let py = Math.max(0, Math.round(y)); py < Math.min(r.height, Math.round(y + h)); py++) {
    for (let px = Math.max(0, Math.round(x)); px < Math.min(r.width, Math.round(x + w)); px++) {
      blend(r, px, py, color, 1);
    }
  }
}

/** Text in the 5x7 font, `size` px nominal (glyphs are scaled by 2 from 14 px up); y is the baseline. */
export function drawText(
  r: Raster,
  x: number,
  y: number,
  text: string,
  anchor: 'start' | 'middle' | 'end',
  size: number,
  color: Color,
): void {
  const scale = size >= 14 ? 2 : 1;
  const width = (text.length * GLYPH_ADVANCE - 1) * scale;
  const left = Math.round(anchor === 'start' ? x : anchor === 'middle' ? x - width / 2 : x - width);
  const top = Math.round(y) - GLYPH_HEIGHT * scale;
  for (let i = 0; i < text.length; i++) {
    const bits = glyph(text.charAt(i));
    for (let gy = 0; gy < GLYPH_HEIGHT; gy++) {
      for (let gx = 0; gx < GLYPH_WIDTH; gx++) {
        if (bits[gy * GLYPH_WIDTH + gx] !== 1) continue;
        fillRect(r, left + (i * GLYPH_ADVANCE + gx) * scale, top + gy * scale, scale, scale, color);
      }
    }
  }
}

function drawShape(r: Raster, s: Shape): void {
  switch (s.kind) {
    case 'rect':
      if (s.fill) fillRect(r, s.x, s.y, s.w, s.h, s.fill);
      if (s.stroke) {
        const [x0, y0, x1, y1] = [s.x + 0.5, s.y + 0.5, s.x + s.w - 0.5, s.y + s.h - 0.5];
        drawLine(r, x0, y0, x1, y0, s.stroke, 1);
        drawLine(r, x1, y0, x1, y1, s.stroke, 1);
        drawLine(r, x1, y1, x0, y1, s.stroke, 1);
        drawLine(r, x0, y1, x0, y0, s.stroke, 1);
      }
      return;
    case 'line':
      drawLine(r, s.x1, s.y1, s.x2, s.y2, s.color, s.width);
      return;
    case 'polyline':
      for (let i = 1; i < s.points.length; i++) {
        const [ax, ay] = s.points[i - 1] as readonly [number, number];
        const [bx, by] = s.points[i] as readonly [number, number];
        drawLine(r, ax, ay, bx, by, s.color, s.width);
      }
      return;
    case 'marker':
      fillRect(r, s.x - s.size / 2, s.y - s.size / 2, s.size, s.size, s.color);
      return;
    case 'text':
      drawText(r, s.x, s.y, s.text, s.anchor, s.size, s.color);
      return;
  }
}

export function rasterize(drawing: Drawing): Raster {
  const r = createRaster(drawing.width, drawing.height, drawing.background);
  for (const s of drawing.shapes) drawShape(r, s);
  return r;
}

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** CRC-32 (ISO 3309, as PNG and gzip use it). */
export function crc32(bytes: Uint8Array, crc = 0): number {
  let c = ~crc >>> 0;
  for (const b of bytes) c = (CRC_TABLE[(c ^ b) & 0xff] as number) ^ (c >>> 8);
  return ~c >>> 0;
}

export const PNG_SIGNATURE = Uint8Array.of(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a);

function chunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, data.length);
  for (let i = 0; i < 4; i++) out[4 + i] = type.charCodeAt(i);
  out.set(data, 8);
  view.setUint32(8 + data.length, crc32(out.subarray(4, 8 + data.length)));
  return out;
}

/** Encodes an RGB raster as PNG bytes. */
export function encodePng(raster: Raster): Uint8Array {
  const { width, height, rgb } = raster;
  const ihdr = new Uint8Array(13);
  const view = new DataView(ihdr.buffer);
  view.setUint32(0, width);
  view.setUint32(4, height);
  ihdr.set([8, 2, 0, 0, 0], 8); // bit depth 8, colour type 2 (RGB), deflate, filter method 0, no interlace
  const stride = width * 3;
  const scanlines = new Uint8Array(height * (stride + 1));
  for (let y = 0; y < height; y++) {
    scanlines[y * (stride + 1)] = 0; // filter type None
    scanlines.set(rgb.subarray(y * stride, (y + 1) * stride), y * (stride + 1) + 1);
  }
  const parts = [
    PNG_SIGNATURE,
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(scanlines)),
    chunk('IEND', new Uint8Array(0)),
  ];
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

export function drawingToPng(drawing: Drawing): Uint8Array {
  return encodePng(rasterize(drawing));
}
