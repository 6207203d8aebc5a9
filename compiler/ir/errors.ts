/**
 * Errors of the IR. These are compiler errors, not user diagnostics: a front end checks user programs first, so an
 * ill-typed equation or a failed verification is a bug in vitm (or in a hand-built test graph).
 */

/** An op's type rule rejected its arguments or attributes. */
export class IrTypeError extends Error {
  override readonly name = 'IrTypeError';
}

/** The verifier found a broken invariant; the message includes the IR around the bad equation. */
export class IrVerifyError extends Error {
  override readonly name = 'IrVerifyError';
}
