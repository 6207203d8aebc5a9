/** `spec/ir.md` documents every op: one `### \`op\`` section per op, and none for an op that does not exist. */

import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { OP_NAMES } from '../../compiler/ops/op.js';

const spec = readFileSync(new URL('../../spec/ir.md', import.meta.url), 'utf8');
const sections = [...spec.matchAll(/^### `([a-z_0-9]+)`$/gm)].map((m) => m[1]);

describe('spec/ir.md', () => {
  it('has a section for every op', () => {
    expect(OP_NAMES.filter((op) => !sections.includes(op))).toEqual([]);
  });

  it('has no section for an op that does not exist', () => {
    expect(sections.filter((s) => !(OP_NAMES as readonly (string | undefined)[]).includes(s))).toEqual([]);
  });
});
