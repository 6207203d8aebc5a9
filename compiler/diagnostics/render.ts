/**
 * Rendering of diagnostics, done once at the end: `file:line:col: error VTxxxx: message`, the source line, a caret
 * (`^~~~`) under the span, then the notes. Line and column are computed here from offsets, never stored.
 */
import type { SourceFile, Span } from '../source/source.js';
import type { Diagnostic } from './diagnostic.js';

/** Files by path, to find a span's text. */
export type SourceMap = ReadonlyMap<string, SourceFile>;

function excerpt(span: Span, files: SourceMap): string[] {
  const file = files.get(span.file);
  if (file === undefined) return [];
  const { line, column } = file.position(span.start);
  const text = file.lineText(line).replace(/\t/g, ' ');
  const end = file.position(Math.max(span.start, span.end));
  const width = end.line === line ? Math.max(1, end.column - column) : Math.max(1, text.length - column + 1);
  const gutter = String(line).length;
  return [
    `${' '.repeat(gutter)} |`,
    `${line} | ${text}`,
    `${' '.repeat(gutter)} | ${' '.repeat(column - 1)}^${'~'.repeat(width - 1)}`,
  ];
}

function location(span: Span, files: SourceMap): string {
  const file = files.get(span.file);
  return file === undefined ? span.file : file.location(span);
}

/** One diagnostic as text (several lines, no trailing newline). */
export function renderDiagnostic(d: Diagnostic, files: SourceMap): string {
  const lines = [`${location(d.span, files)}: error ${d.code}: ${d.message}`, ...excerpt(d.span, files)];
  for (const note of d.notes) {
    if (note.span === undefined) lines.push(`  note: ${note.message}`);
    else {
      lines.push(`  note: ${location(note.span, files)}: ${note.message}`);
      lines.push(...excerpt(note.span, files).map((l) => `  ${l}`));
    }
  }
  return lines.join('\n');
}

/** All diagnostics, separated by blank lines, then a count line. */
export function renderDiagnostics(ds: readonly Diagnostic[], files: SourceMap): string {
  const body = ds.map((d) => renderDiagnostic(d, files)).join('\n\n');
  return `${body}\n\n${ds.length} error${ds.length === 1 ? '' : 's'}`;
}
