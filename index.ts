/** vitm: the typed ESM API. The compiler's entry points join this file as they land. */
export * from './runtime/index.js';
