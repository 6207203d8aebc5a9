/** The registry's tables cover exactly the op union, at compile time and at run time. */

import { describe, expect, it } from 'vitest';
import { OP_NAMES, type OpName } from '../../compiler/ops/op.js';
import { TYPE_RULES, VJP_RULES } from '../../compiler/ops/registry.js';
import type { TypeRule } from '../../compiler/ops/rule.js';
import { sourceTypes } from '../../compiler/ops/sources.js';
import { REFERENCE_KERNELS } from '../../runtime/reference/kernels.js';

// Compile-time check (run by `tsc`): a table that lacks an op does not type-check. Were the mapped table type to stop
// requiring every op, this directive would itself be an error.
// @ts-expect-error a rule table without every op is rejected
const incomplete: { readonly [P in OpName]: TypeRule<P> } = { ...sourceTypes };

describe('the registry', () => {
  it('has exactly one rule per op in every table', () => {
    const sorted = [...OP_NAMES].sort();
    expect(Object.keys(TYPE_RULES).sort()).toEqual(sorted);
    expect(Object.keys(VJP_RULES).sort()).toEqual(sorted);
    expect(Object.keys(REFERENCE_KERNELS).sort()).toEqual(sorted);
    expect(new Set(OP_NAMES).size).toBe(OP_NAMES.length);
    expect(Object.keys(incomplete).length).toBeLessThan(OP_NAMES.length);
  });
});
