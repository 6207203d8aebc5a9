/**
 * Properties of the syntax: printing then parsing gives the same tree; the front end only ever answers with
 * diagnostics, in bounded time, for random token streams and for random byte mutations of valid programs.
 */
import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { checkProgram } from '../../compiler/frontend.js';
import { parseFile } from '../../compiler/syntax/parse.js';
import { printProgram } from '../../compiler/syntax/print.js';
import { programArb, stripSpans } from './arbitrary.js';
import { withFiles } from './support.js';

describe('printer', () => {
  test('parse(print(ast)) == ast on generated trees', () => {
    fc.assert(
      fc.property(programArb, (ast) => {
        const text = printProgram(ast);
        const parsed = parseFile('gen.vitm', text);
        expect(
          parsed.diagnostics.all.map((d) => `${d.code} ${d.message}`),
          text,
        ).toEqual([]);
        expect(stripSpans(parsed.program), text).toEqual(stripSpans(ast));
      }),
      { numRuns: 400 },
    );
  });

  test('printing is idempotent on the good corpus', () => {
    for (const f of [
      'stdlib/nn.vitm',
      'stdlib/vit.vitm',
      'stdlib/moe.vitm',
      'test/frontend/corpus/good/syntax.vitm',
      'test/frontend/corpus/good/edits.vitm',
    ]) {
      const once = printProgram(parseFile(f, readFileSync(f, 'utf8')).program);
      const twice = printProgram(parseFile(f, once).program);
      expect(twice).toBe(once);
    }
  });
});

const VOCABULARY = [
  'import',
  'module',
  'param',
  'frozen',
  'forward',
  'return',
  'let',
  'require',
  'model',
  'with',
  'freeze',
  'unfreeze',
  'insert',
  'experiment',
  'law',
  'when',
  'as',
  'it',
  'true',
  'false',
  'and',
  'or',
  'not',
  'std',
  'nn',
  'vit',
  'Linear',
  'ViT',
  'x',
  'B',
  'f32',
  'dim',
  'blocks',
  '0',
  '3',
  '1.5',
  '1e-6',
  '"s"',
  '"',
  '->',
  '==',
  '!=',
  '<=',
  '>=',
  '<',
  '>',
  '=',
  '**',
  '*',
  '/',
  '%',
  '+',
  '-',
  '@',
  '...',
  '.',
  ',',
  ':',
  ';',
  '(',
  ')',
  '[',
  ']',
  '{',
  '}',
  '/*',
  '//',
  '#',
  '\n',
];

function timed(text: string, extra: Record<string, string> = {}): number {
  const started = performance.now();
  const r = checkProgram('fuzz.vitm', withFiles({ 'fuzz.vitm': text, ...extra }));
  for (const d of r.diagnostics) expect(d.code).toMatch(/^VT[1-5]\d{3}$/);
  return performance.now() - started;
}

describe('fuzzing', () => {
  test('random token streams give diagnostics, never exceptions, in bounded time', () => {
    fc.assert(
      fc.property(fc.array(fc.constantFrom(...VOCABULARY), { maxLength: 120 }), (tokens) => {
        expect(timed(tokens.join(' '))).toBeLessThan(5_000);
      }),
      { numRuns: 300 },
    );
  });

  test('generated syntactically valid programs give diagnostics, never exceptions', () => {
    fc.assert(
      fc.property(programArb, (ast) => {
        expect(timed(printProgram(ast))).toBeLessThan(5_000);
      }),
      { numRuns: 400 },
    );
  });

  const sources = [
    'examples/vit_tiny.vitm',
    'test/frontend/corpus/good/edits.vitm',
    'test/frontend/corpus/good/moe.vitm',
    'test/frontend/corpus/good/syntax.vitm',
    'stdlib/nn.vitm',
  ].map((f) => readFileSync(f, 'utf8'));
  const mutation = fc.record({
    source: fc.nat({ max: sources.length - 1 }),
    edits: fc.array(
      fc.record({
        kind: fc.constantFrom('delete', 'insert', 'duplicate', 'replace'),
        at: fc.nat(),
        length: fc.nat({ max: 12 }),
        text: fc.string({ maxLength: 6 }),
      }),
      { minLength: 1, maxLength: 4 },
    ),
  });

  test('random mutations of valid programs give diagnostics, never exceptions, in bounded time', () => {
    fc.assert(
      fc.property(mutation, ({ source, edits }) => {
        let text = sources[source] ?? '';
        for (const e of edits) {
          const at = e.at % (text.length + 1);
          if (e.kind === 'delete') text = text.slice(0, at) + text.slice(at + e.length);
          else if (e.kind === 'insert') text = text.slice(0, at) + e.text + text.slice(at);
          else if (e.kind === 'duplicate') text = text.slice(0, at) + text.slice(at, at + e.length) + text.slice(at);
          else text = text.slice(0, at) + e.text + text.slice(at + e.text.length);
        }
        expect(timed(text)).toBeLessThan(5_000);
      }),
      { numRuns: 120 },
    );
  });
});
