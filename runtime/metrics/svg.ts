/** Writes a `Drawing` (chart.ts) as a standalone SVG 1.1 document. */
import type { Color, Drawing, Shape } from './chart.js';

function rgb(c: Color): string {
  return `rgb(${c[0]},${c[1]},${c[2]})`;
}

function num(v: number): string {
  return String(Math.round(v * 100) / 100);
}

/** Escapes text for XML character data and attribute values. */
export function escapeXml(text: string): string {
  return text.replace(/[<>&"']/g, (ch) => {
    switch (ch) {
      case '<':
        return '&lt;';
      case '>':
        return '&gt;';
      case '&':
        return '&amp;';
      case '"':
        return '&quot;';
      default:
        return '&apos;';
    }
  });
}

function element(shape: Shape): string {
  switch (shape.kind) {
    case 'rect':
      return `<rect x="${num(shape.x)}" y="${num(shape.y)}" width="${num(shape.w)}" height="${num(shape.h)}" fill="${shape.fill ? rgb(shape.fill) : 'none'}"${shape.stroke ? ` stroke="${rgb(shape.stroke)}"` : ''}/>`;
    case 'line':
      return `<line x1="${num(shape.x1)}" y1="${num(shape.y1)}" x2="${num(shape.x2)}" y2="${num(shape.y2)}" stroke="${rgb(shape.color)}" stroke-width="${shape.width}"/>`;
    case 'polyline':
      return `<polyline fill="none" stroke="${rgb(shape.color)}" stroke-width="${shape.width}" stroke-linejoin="round" points="${shape.points.map(([x, y]) => `${num(x)},${num(y)}`).join(' ')}"/>`;
    case 'marker': {
      const h = shape.size / 2;
      return `<rect x="${num(shape.x - h)}" y="${num(shape.y - h)}" width="${shape.size}" height="${shape.size}" fill="${rgb(shape.color)}"/>`;
    }
    case 'text':
      return `<text x="${num(shape.x)}" y="${num(shape.y)}" font-size="${shape.size}" text-anchor="${shape.anchor}" fill="${rgb(shape.color)}">${escapeXml(shape.text)}</text>`;
  }
}

export function drawingToSvg(drawing: Drawing): string {
  const { width, height } = drawing;
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<svg xmlns="http://www.w3.org/2000/svg" version="1.1" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="DejaVu Sans, Helvetica, Arial, sans-serif">`,
    `<rect x="0" y="0" width="${width}" height="${height}" fill="${rgb(drawing.background)}"/>`,
    ...drawing.shapes.map(element),
    '</svg>',
    '',
  ].join('\n');
}
