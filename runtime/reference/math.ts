/** Scalar functions of the reference interpreter, in float64, in numerically stable forms. */

const TWO_OVER_SQRT_PI = 2 / Math.sqrt(Math.PI);

/**
 * The error function to about 1e-15 relative error: `erf(x) = 2/sqrt(pi) exp(-x^2) sum_n 2^n x^(2n+1) / (2n+1)!!`,
 * a series of positive terms (no cancellation); |x| >= 6 gives +-1 (erfc(6) < 3e-17).
 */
export function erf(x: number): number {
  if (Number.isNaN(x)) return NaN;
  if (x >= 6) return 1;
  if (x <= -6) return -1;
  const x2 = x * x;
  let term = x;
  let sum = x;
  for (let n = 1; n < 500; n++) {
    term *= (2 * x2) / (2 * n + 1);
    sum += term;
    if (Math.abs(term) <= 1e-17 * Math.abs(sum)) break;
  }
  return TWO_OVER_SQRT_PI * Math.exp(-x2) * sum;
}

/** The logistic function, computed without overflow for either sign. */
export function sigmoid(x: number): number {
  if (x >= 0) return 1 / (1 + Math.exp(-x));
  const e = Math.exp(x);
  return e / (1 + e);
}

/** Exact GELU: `x * Phi(x)`. */
export function geluErf(x: number): number {
  return 0.5 * x * (1 + erf(x * Math.SQRT1_2));
}

/** GELU's tanh approximation; `Math.tanh` saturates to +-1 for large arguments (no overflow). */
export function geluTanh(x: number): number {
  return 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x)));
}

/** The derivative of exact GELU: `Phi(x) + x phi(x)`. */
export function geluErfGrad(x: number): number {
  return 0.5 * (1 + erf(x * Math.SQRT1_2)) + (x * Math.exp(-0.5 * x * x)) / Math.sqrt(2 * Math.PI);
}

/** The derivative of GELU's tanh approximation: `0.5 (1 + t) + 0.5 x (1 - t^2) u'`, t = tanh(u). */
export function geluTanhGrad(x: number): number {
  const c = Math.sqrt(2 / Math.PI);
  const t = Math.tanh(c * (x + 0.044715 * x * x * x));
  return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * c * (1 + 3 * 0.044715 * x * x);
}

/** Rounds to the nearest IEEE half-precision value (ties to even), overflowing to infinity. */
export function roundF16(x: number): number {
  if (!Number.isFinite(x) || x === 0) return x;
  const a = Math.abs(x);
  if (a >= 65520) return x > 0 ? Infinity : -Infinity;
  const e = Math.max(Math.floor(Math.log2(a)), -14);
  const quantum = 2 ** (e - 10);
  const q = a / quantum;
  let r = Math.round(q);
  if (r - q === 0.5 && r % 2 === 1) r -= 1; // ties to even (Math.round rounds .5 up)
  return Math.sign(x) * r * quantum;
}
