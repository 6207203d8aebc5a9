/**
 * A tiny, deliberately naive float64 array library for the op tests: every function walks multi-indices with
 * `unravel`/`ravel`, independently of the reference interpreter's strided loops, so the two can check each other.
 */

export interface Nd {
  readonly shape: readonly number[];
  readonly data: readonly number[];
}

export function sizeOf(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

export function unravel(i: number, shape: readonly number[]): number[] {
  const idx = new Array<number>(shape.length).fill(0);
  let rest = i;
  for (let a = shape.length - 1; a >= 0; a--) {
    const d = shape[a] as number;
    idx[a] = rest % d;
    rest = Math.floor(rest / d);
  }
  return idx;
}

export function ravel(idx: readonly number[], shape: readonly number[]): number {
  let i = 0;
  shape.forEach((d, a) => {
    i = i * d + (idx[a] as number);
  });
  return i;
}

export function generate(shape: readonly number[], f: (idx: number[]) => number): Nd {
  return { shape: [...shape], data: Array.from({ length: sizeOf(shape) }, (_, i) => f(unravel(i, shape))) };
}

export function get(t: Nd, idx: readonly number[]): number {
  return t.data[ravel(idx, t.shape)] as number;
}

export function broadcastShape(...shapes: (readonly number[])[]): number[] {
  const rank = Math.max(...shapes.map((s) => s.length));
  return Array.from({ length: rank }, (_, i) => Math.max(...shapes.map((s) => s[s.length - rank + i] ?? 1)));
}

/** Reads `t` at an index of a broadcast result. */
export function readBroadcast(t: Nd, outIdx: readonly number[]): number {
  const lead = outIdx.length - t.shape.length;
  return get(
    t,
    t.shape.map((d, a) => (d === 1 ? 0 : (outIdx[lead + a] as number))),
  );
}

export function map(f: (...xs: number[]) => number, ...ts: Nd[]): Nd {
  const shape = broadcastShape(...ts.map((t) => t.shape));
  return generate(shape, (idx) => f(...ts.map((t) => readBroadcast(t, idx))));
}

/** Applies `f` to the list of values of each group of reduced `axes`. */
export function reduce(t: Nd, axes: readonly number[], keepdims: boolean, f: (vals: number[]) => number): Nd {
  const kept = t.shape.map((d, a) => (axes.includes(a) ? 1 : d));
  const groups = new Map<number, number[]>();
  t.data.forEach((x, i) => {
    const idx = unravel(i, t.shape).map((v, a) => (axes.includes(a) ? 0 : v));
    const g = ravel(idx, kept);
    groups.set(g, [...(groups.get(g) ?? []), x]);
  });
  const shape = keepdims ? kept : t.shape.filter((_, a) => !axes.includes(a));
  return { shape, data: Array.from({ length: sizeOf(kept) }, (_, g) => f(groups.get(g) ?? [])) };
}

export const sum = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0);

/** erf by its Maclaurin series (|x| <= 3 here; about 1e-14 absolute error there). */
export function erfSeries(x: number): number {
  let term = x;
  let total = x;
  for (let n = 1; n < 200; n++) {
    term *= (-x * x) / n;
    const add = term / (2 * n + 1);
    total += add;
    if (Math.abs(add) < 1e-18) break;
  }
  return (2 / Math.sqrt(Math.PI)) * total;
}

/** A deterministic pseudo-random tensor (for loss weights), by a simple LCG. */
export function weights(shape: readonly number[], seed = 1): number[] {
  let s = seed >>> 0;
  return Array.from({ length: sizeOf(shape) }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s / 2 ** 32) * 2 - 1;
  });
}
