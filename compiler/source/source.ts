/**
 * Source text and spans. The tree keeps only character offsets (`Span`); line and column are computed when a
 * message is printed, from the file's line-start table. Columns count UTF-16 code units from 1, as editors do for
 * most text; a tab counts as one column.
 */

/** A half-open range [start, end) of character offsets into one source file. */
export interface Span {
  readonly file: string;
  readonly start: number;
  readonly end: number;
}

export interface Position {
  /** 1-based line. */
  readonly line: number;
  /** 1-based column. */
  readonly column: number;
}

export class SourceFile {
  readonly path: string;
  readonly text: string;
  private readonly lineStarts: readonly number[];

  constructor(path: string, text: string) {
    this.path = path;
    this.text = text;
    const starts = [0];
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c === 10 /* \n */) starts.push(i + 1);
      else if (c === 13 /* \r */ && text.charCodeAt(i + 1) !== 10) starts.push(i + 1);
    }
    this.lineStarts = starts;
  }

  get lineCount(): number {
    return this.lineStarts.length;
  }

  /** The 1-based line and column of `offset` (clamped into the text). */
  position(offset: number): Position {
    const at = Math.max(0, Math.min(offset, this.text.length));
    let lo = 0;
    let hi = this.lineStarts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if ((this.lineStarts[mid] ?? 0) <= at) lo = mid;
      else hi = mid - 1;
    }
    return { line: lo + 1, column: at - (this.lineStarts[lo] ?? 0) + 1 };
  }

  /** The text of 1-based `line`, without its line terminator. */
  lineText(line: number): string {
    const start = this.lineStarts[line - 1];
    if (start === undefined) return '';
    const next = this.lineStarts[line];
    const end = next ?? this.text.length;
    return this.text.slice(start, end).replace(/\r?\n$|\r$/, '');
  }

  span(start: number, end: number): Span {
    return { file: this.path, start, end };
  }

  /** `path:line:col` of a span's start. */
  location(span: Span): string {
    const { line, column } = this.position(span.start);
    return `${this.path}:${line}:${column}`;
  }
}

/** The smallest span covering both (which must be in the same file). */
export function joinSpans(a: Span, b: Span): Span {
  return { file: a.file, start: Math.min(a.start, b.start), end: Math.max(a.end, b.end) };
}
