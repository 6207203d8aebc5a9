/**
 * The program corpus: every good program checks without diagnostics and matches its golden (printed AST, then the
 * check report and the parameter list); every bad program reports the code its name starts with, and matches its
 * golden diagnostics. Every catalog code has at least one bad program. `UPDATE_GOLDEN=1` rewrites the goldens.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { CODES } from '../../compiler/diagnostics/catalog.js';
import { parseFile } from '../../compiler/syntax/parse.js';
import { printProgram } from '../../compiler/syntax/print.js';
import { summarize } from '../../cli/check.js';
import { check, CORPUS, GOLDEN, golden, join, rendered, vitmFiles } from './support.js';

const good = vitmFiles(join(CORPUS, 'good'));
const bad = vitmFiles(join(CORPUS, 'bad'));

describe('good programs', () => {
  test.each(good)('%s', (name) => {
    const path = join(CORPUS, 'good', name);
    const r = check(path);
    expect(rendered(r), 'no diagnostics').toBe(rendered({ ...r, diagnostics: [] }));
    expect(r.program).toBeDefined();
    const ast = parseFile(path, readFileSync(path, 'utf8')).program;
    const params = (r.program?.models ?? []).flatMap((m) => [
      `model ${m.name} (${m.derivation.kind === 'merge' ? m.derivation.terms.map((t) => `${t.coefficient} ${t.model}`).join(' + ') : m.derivation.kind})`,
      ...m.parameters.map(
        (e) =>
          `  ${e.parameter.path}: ${e.parameter.type.dtype}[${e.parameter.type.shape.map((d) => d.coeff).join(', ')}] ${e.parameter.init.kind}${e.parameter.trainable ? '' : ' frozen'}${e.uses.length > 1 ? ` uses ${e.uses.slice(1).join(' ')}` : ''}`,
      ),
    ]);
    golden(
      join(GOLDEN, 'good', name.replace(/\.vitm$/, '.txt')),
      `${printProgram(ast)}\n// ---- check ----\n${summarize(r.program ?? { models: [], experiments: [], laws: [] })}\n\n// ---- parameters ----\n${params.join('\n')}`,
    );
  });
});

describe('bad programs', () => {
  test('there are at least 40', () => {
    expect(bad.length).toBeGreaterThanOrEqual(40);
  });

  test('every catalog code has a bad program', () => {
    const covered = new Set(bad.map((f) => f.slice(0, 6)));
    expect(CODES.filter((c) => !covered.has(c))).toEqual([]);
  });

  test.each(bad)('%s', (name) => {
    const path = join(CORPUS, 'bad', name);
    const r = check(path);
    const code = name.slice(0, 6);
    expect(r.program).toBeUndefined();
    expect(r.diagnostics.map((d) => d.code)).toContain(code);
    golden(join(GOLDEN, 'bad', name.replace(/\.vitm$/, '.txt')), rendered(r));
  });
});
