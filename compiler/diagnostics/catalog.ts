/**
 * The catalog of every diagnostic the front end reports. A code is stable once released: its meaning never changes,
 * and a retired code is never reused. The first digit is the stage that finds it (spec/diagnostics.md):
 * VT1xxx syntax, VT2xxx names, modules and imports, VT3xxx types and shapes, VT4xxx model edits and weight-space
 * expressions, VT5xxx experiments and laws. Each entry's `title` is the one-line summary used in the documentation;
 * the message of a reported diagnostic says what exactly went wrong.
 */

export const CATALOG = {
  VT1001: { title: 'unexpected character' },
  VT1002: { title: 'unterminated string literal' },
  VT1003: { title: 'syntax error: unexpected token' },
  VT1004: { title: 'unexpected end of file' },
  VT1005: { title: 'invalid number literal' },
  VT1006: { title: 'unterminated block comment' },
  VT1007: { title: 'brackets nested too deeply' },

  VT2001: { title: 'unknown name' },
  VT2002: { title: 'duplicate definition' },
  VT2003: { title: 'imported module not found' },
  VT2004: { title: 'imported name not defined by the module' },
  VT2005: { title: 'cyclic import' },
  VT2006: { title: 'wrong number of arguments' },
  VT2007: { title: 'unknown keyword argument' },
  VT2008: { title: 'missing argument' },
  VT2009: { title: 'argument given twice' },
  VT2010: { title: 'not callable' },
  VT2011: { title: 'no such submodule or parameter' },
  VT2012: { title: 'module has no forward' },
  VT2013: { title: 'definition refers to itself' },

  VT3001: { title: 'wrong kind of value' },
  VT3002: { title: 'shapes do not broadcast' },
  VT3003: { title: 'shapes do not fit a matrix product' },
  VT3004: { title: 'a module requirement does not hold' },
  VT3005: { title: 'axis or rank out of range' },
  VT3006: { title: 'reshape changes the number of elements' },
  VT3007: { title: 'wrong dtype' },
  VT3008: { title: 'forward result does not match the declared type' },
  VT3009: { title: 'top-k larger than the number of choices' },
  VT3010: { title: 'invalid hyperparameter arithmetic' },
  VT3011: { title: 'tensor where a compile-time constant is needed' },
  VT3012: { title: 'concat or split sizes do not fit' },
  VT3013: { title: 'unknown dtype' },
  VT3014: { title: 'tuple has the wrong number of elements' },
  VT3015: { title: 'dimension not expressible' },
  VT3016: { title: 'argument shape does not match the forward signature' },

  VT4001: { title: 'edit path matches nothing' },
  VT4002: { title: 'replacement is not a module instance' },
  VT4003: { title: 'models in a weight-space expression are incompatible' },
  VT4004: { title: '`it` outside an edit' },
  VT4005: { title: 'invalid weight-space expression' },
  VT4006: { title: 'invalid insertion' },

  VT5001: { title: 'unknown experiment field' },
  VT5002: { title: 'missing experiment field' },
  VT5003: { title: 'invalid experiment value' },
  VT5004: { title: 'unknown optimizer, schedule, loss, dataset or hook' },
  VT5005: { title: 'experiment field given twice' },
  VT5006: { title: 'both `epochs` and `steps`' },
  VT5101: { title: 'law body is not an equation' },
  VT5102: { title: 'the two sides of a law differ in type' },
  VT5103: { title: 'invalid law parameter' },
} as const satisfies Record<string, { readonly title: string }>;

/** A diagnostic code from the catalog. */
export type Code = keyof typeof CATALOG;

/** Every catalog code, in order. */
export const CODES: readonly Code[] = Object.keys(CATALOG) as Code[];
