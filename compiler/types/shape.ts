/**
 * Tensor types shared by the front end (checking `.vitm` forward graphs) and the IR: dtypes, dimensions and shapes.
 *
 * A dimension is a positive integer times a product of named symbols: `768`, `B`, `B*197`, `4*B*N`. Model
 * hyperparameters are known when a model is elaborated, so in practice only a few dimensions stay symbolic (the
 * batch `B`, sometimes a token count), and this small algebra is closed under what reshapes need: products, and
 * exact division by a constant or by a symbol that is present. A sum of two symbolic dimensions (concatenating along
 * the batch, say) is not a dimension: callers report it as a type error.
 */

export const DTYPES = ['f32', 'f16', 'i32', 'u32', 'bool'] as const;
export type DType = (typeof DTYPES)[number];

export function isFloat(dtype: DType): boolean {
  return dtype === 'f32' || dtype === 'f16';
}

/** Bytes per element as stored in device buffers (bool is stored as u32, WGSL having no storable bool). */
export function byteSize(dtype: DType): number {
  return dtype === 'f16' ? 2 : 4;
}

export interface Dim {
  /** A positive integer factor. */
  readonly coeff: number;
  /** Symbol names, sorted, with repetition for powers. Empty for a concrete dimension. */
  readonly syms: readonly string[];
}

export type Shape = readonly Dim[];

export function dim(n: number): Dim {
  if (!Number.isInteger(n) || n < 0) throw new RangeError(`a dimension must be a non-negative integer, got ${n}`);
  return { coeff: n, syms: [] };
}

export function sym(name: string): Dim {
  return { coeff: 1, syms: [name] };
}

/** A shape from numbers and symbol names: `shape(['B', 197, 768])`. */
export function shape(dims: readonly (number | string | Dim)[]): Shape {
  return dims.map((d) => (typeof d === 'number' ? dim(d) : typeof d === 'string' ? sym(d) : d));
}

export function isConcrete(d: Dim): boolean {
  return d.syms.length === 0;
}

/** The integer value of a concrete dimension, or undefined if it has symbols. */
export function concrete(d: Dim): number | undefined {
  return d.syms.length === 0 ? d.coeff : undefined;
}

export function dimEquals(a: Dim, b: Dim): boolean {
  return a.coeff === b.coeff && a.syms.length === b.syms.length && a.syms.every((s, i) => s === b.syms[i]);
}

export function shapeEquals(a: Shape, b: Shape): boolean {
  return a.length === b.length && a.every((d, i) => dimEquals(d, b[i] as Dim));
}

export function mulDim(a: Dim, b: Dim): Dim {
  return { coeff: a.coeff * b.coeff, syms: [...a.syms, ...b.syms].sort() };
}

/** `a / b` when it is exact (b's coefficient divides a's and b's symbols are all in a), else undefined. */
export function divDim(a: Dim, b: Dim): Dim | undefined {
  if (b.coeff === 0 || a.coeff % b.coeff !== 0) return undefined;
  const rest = [...a.syms];
  for (const s of b.syms) {
    const i = rest.indexOf(s);
    if (i < 0) return undefined;
    rest.splice(i, 1);
  }
  return { coeff: a.coeff / b.coeff, syms: rest };
}

/** The number of elements: the product of the dimensions. */
export function numel(s: Shape): Dim {
  return s.reduce(mulDim, dim(1));
}

export function dimToString(d: Dim): string {
  if (d.syms.length === 0) return String(d.coeff);
  const parts: string[] = [];
  for (let i = 0; i < d.syms.length;) {
    const name = d.syms[i] as string;
    let power = 0;
    while (d.syms[i] === name) {
      power++;
      i++;
    }
    parts.push(power === 1 ? name : `${name}^${power}`);
  }
  return (d.coeff === 1 ? '' : `${d.coeff}*`) + parts.join('*');
}

export function shapeToString(s: Shape): string {
  return `[${s.map(dimToString).join(', ')}]`;
}

/** A tensor type: `f32[B, 197, 768]`. */
export interface TensorType {
  readonly dtype: DType;
  readonly shape: Shape;
}

export function typeToString(t: TensorType): string {
  return `${t.dtype}${shapeToString(t.shape)}`;
}

/** Values for the symbols of a program (the batch size, say), to turn symbolic shapes into numbers. */
export type SymbolValues = Readonly<Record<string, number>>;

/** The value of `d` under `values`; throws if a symbol has no value. */
export function evalDim(d: Dim, values: SymbolValues): number {
  let n = d.coeff;
  for (const s of d.syms) {
    const v = values[s];
    if (v === undefined) throw new RangeError(`no value for the dimension symbol '${s}'`);
    n *= v;
  }
  return n;
}

export function evalShape(s: Shape, values: SymbolValues): number[] {
  return s.map((d) => evalDim(d, values));
}

export type BroadcastResult =
  { readonly ok: true; readonly shape: Shape } | { readonly ok: false; readonly axis: number };

/**
 * NumPy broadcasting: align trailing axes; two dimensions agree if equal or if one is 1. A symbolic dimension only
 * agrees with itself or with 1. On failure, `axis` is the position (in the result, from the left) that disagrees.
 */
export function broadcastShapes(a: Shape, b: Shape): BroadcastResult {
  const rank = Math.max(a.length, b.length);
  const out: Dim[] = [];
  for (let i = 0; i < rank; i++) {
    const da = a[a.length - rank + i] ?? dim(1);
    const db = b[b.length - rank + i] ?? dim(1);
    if (dimEquals(da, db) || concrete(db) === 1) out.push(da);
    else if (concrete(da) === 1) out.push(db);
    else return { ok: false, axis: i };
  }
  return { ok: true, shape: out };
}
