/** The documentation stays in sync with the code: grammar rules, diagnostic codes, builtins, tutorial programs. */
import { readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { CODES } from '../../compiler/diagnostics/catalog.js';
import { BUILTIN_NAMES } from '../../compiler/semantic/builtins.js';
import { ruleNames } from '../../compiler/syntax/grammar.js';
import { check, rendered, withFiles } from './support.js';

const language = readFileSync('spec/language.md', 'utf8');
const diagnostics = readFileSync('spec/diagnostics.md', 'utf8');

describe('spec/language.md', () => {
  const ebnf = /```ebnf\n([\s\S]*?)```/.exec(language)?.[1] ?? '';
  const productions = [...ebnf.matchAll(/^(\w+)\s*=/gm)].map((m) => m[1]);

  test('the EBNF has exactly the parser’s rules', () => {
    expect([...productions].sort()).toEqual([...ruleNames()].sort());
  });

  test('every builtin is documented', () => {
    const table = language.slice(language.indexOf('### Builtins'), language.indexOf('### Models'));
    for (const name of BUILTIN_NAMES) expect(table, name).toMatch(new RegExp(`\\b${name}\\b`));
  });

  test('complete tutorial programs check as the tutorial says', () => {
    const blocks = [...language.matchAll(/```\n(import[\s\S]*?)```/g)]
      .map((m) => m[1] ?? '')
      .filter((b) => !b.includes('...') && b.includes('model '));
    expect(blocks.length).toBeGreaterThanOrEqual(2);
    for (const b of blocks) {
      const r = check('tiny.vitm', withFiles({ 'tiny.vitm': b }));
      if (b.includes('model Bad')) {
        // The tutorial shows this error verbatim.
        expect(language).toContain(rendered(r).replace(/\n\n1 error$/, ''));
      } else expect(rendered(r), b).toBe(rendered({ ...r, diagnostics: [] }));
    }
  });
});

describe('spec/diagnostics.md', () => {
  test('documents every code, and only catalog codes', () => {
    const documented = [...diagnostics.matchAll(/^### (VT[1-5]\d{3}):/gm)].map((m) => m[1]);
    expect(documented).toEqual([...CODES]);
  });
});
