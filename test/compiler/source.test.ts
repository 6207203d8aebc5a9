import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SourceFile, joinSpans } from '../../compiler/source/source.js';

/** The obvious definition: count line terminators before the offset. */
function naivePosition(text: string, offset: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < offset; i++) {
    const c = text[i];
    if (c === '\n' || (c === '\r' && text[i + 1] !== '\n')) {
      line++;
      lineStart = i + 1;
    }
  }
  return { line, column: offset - lineStart + 1 };
}

describe('SourceFile', () => {
  it('maps offsets to 1-based line and column', () => {
    const file = new SourceFile('a.vitm', 'model A {\n  x: f32\r\n}\rend');
    expect(file.position(0)).toEqual({ line: 1, column: 1 });
    expect(file.position(12)).toEqual({ line: 2, column: 3 });
    expect(file.position(20)).toEqual({ line: 3, column: 1 });
    expect(file.position(22)).toEqual({ line: 4, column: 1 });
    expect(file.lineText(2)).toBe('  x: f32');
    expect(file.lineText(4)).toBe('end');
    expect(file.location(file.span(12, 13))).toBe('a.vitm:2:3');
    expect(file.lineCount).toBe(4);
  });

  it('agrees with counting line terminators, for any text and offset (LF, CRLF and CR)', () => {
    const text = fc.string({ unit: fc.constantFrom('a', ' ', '\n', '\r', '\t', 'é') });
    fc.assert(
      fc.property(text, fc.nat(), (t, n) => {
        const offset = n % (t.length + 1);
        expect(new SourceFile('f', t).position(offset)).toEqual(naivePosition(t, offset));
      }),
    );
  });

  it('joins spans to the smallest covering span', () => {
    expect(joinSpans({ file: 'f', start: 5, end: 9 }, { file: 'f', start: 2, end: 6 })).toEqual({
      file: 'f',
      start: 2,
      end: 9,
    });
  });
});
