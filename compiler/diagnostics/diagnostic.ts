/**
 * Diagnostics: user errors with a code, a span and optional notes. Stages collect them in a `DiagnosticBag` and keep
 * going; nothing throws for a user error. A bug in vitm itself is a `CompilerBug`, a different error type.
 */
import type { Span } from '../source/source.js';
import type { Code } from './catalog.js';

/** A secondary message, optionally pointing at its own span. */
export interface Note {
  readonly message: string;
  readonly span?: Span;
}

/** One user error. */
export interface Diagnostic {
  readonly code: Code;
  readonly message: string;
  readonly span: Span;
  readonly notes: readonly Note[];
}

/** Collects diagnostics in the order they are found; `sorted()` orders them by file and offset for printing. */
export class DiagnosticBag {
  private readonly items: Diagnostic[] = [];

  /** Reports a diagnostic and returns it. */
  error(code: Code, span: Span, message: string, notes: readonly Note[] = []): Diagnostic {
    const d: Diagnostic = { code, span, message, notes };
    this.items.push(d);
    return d;
  }

  add(d: Diagnostic): void {
    this.items.push(d);
  }

  get count(): number {
    return this.items.length;
  }

  get all(): readonly Diagnostic[] {
    return this.items;
  }

  /** The diagnostics sorted by file, then offset, duplicates (same code and span) removed. */
  sorted(): Diagnostic[] {
    const seen = new Set<string>();
    const out: Diagnostic[] = [];
    for (const d of this.items) {
      const key = `${d.code}@${d.span.file}:${d.span.start}:${d.span.end}:${d.message}`;
      if (seen.has(key)) continue;
      seen.add(key);
      out.push(d);
    }
    return out.sort((a, b) =>
      a.span.file < b.span.file ? -1 : a.span.file > b.span.file ? 1 : a.span.start - b.span.start,
    );
  }
}

/** An internal inconsistency in vitm: not the user's fault, never a diagnostic. */
export class CompilerBug extends Error {
  override readonly name = 'CompilerBug';
}

/** Exhaustiveness helper for closed unions. */
export function assertNever(x: never, what = 'value'): never {
  throw new CompilerBug(`unexpected ${what}: ${JSON.stringify(x)}`);
}

/** The edit distance between two strings (insertions, deletions, substitutions and adjacent transpositions). */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) =>
    Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  const at = (i: number, j: number): number => d[i]?.[j] ?? 0;
  for (let i = 1; i <= a.length; i++) {
    const row = d[i] as number[];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(at(i - 1, j) + 1, at(i, j - 1) + 1, at(i - 1, j - 1) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) best = Math.min(best, at(i - 2, j - 2) + 1);
      row[j] = best;
    }
  }
  return at(a.length, b.length);
}

/** The closest candidate to `name`, if one is close enough to be a likely typo. */
export function closest(name: string, candidates: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  const limit = Math.max(1, Math.floor(name.length / 3));
  for (const c of candidates) {
    const d = editDistance(name.toLowerCase(), c.toLowerCase());
    if (d < bestDistance && d <= limit) {
      best = c;
      bestDistance = d;
    }
  }
  return best;
}

/** A "did you mean" note list for `name` among `candidates` (empty when nothing is close). */
export function didYouMean(name: string, candidates: Iterable<string>): Note[] {
  const c = closest(name, candidates);
  return c === undefined ? [] : [{ message: `did you mean '${c}'?` }];
}
