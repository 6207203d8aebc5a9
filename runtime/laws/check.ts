/**
 * The law runner (`vitm test`): property-tests a `law` by drawing its dimension symbols, inputs, module weights and
 * random seed with fast-check, evaluating both sides on a backend (the reference interpreter in f32, or the WebGPU
 * device), and comparing them with the tolerance of `tolerance.ts`. On failure fast-check shrinks the case, and the
 * result carries the minimal counterexample it found.
 *
 * What is drawn (spec/language.md, "Laws"): every dimension symbol of the law's tensor parameters within the bounds
 * its `when` declares (`N >= 2 and N <= 8`), by default from 1 to `maxDim` (default 4); float tensor elements in
 * [-2, 2] and module weights in [-1, 1] (three in four a multiple of 1/64, the rest any f32 in the range); integer
 * tensor elements from 0 to 3; bools; the `rng.seed` of random builtins over all u32. A case whose `when` condition
 * is false anywhere is skipped.
 */
import fc from 'fast-check';
import { lowerLaw } from '../../compiler/lower/lower.js';
import type { Graph } from '../../compiler/ir/graph.js';
import type { DimBound, ElaboratedLaw } from '../../compiler/semantic/elaborated.js';
import { type DType, evalShape, isFloat } from '../../compiler/types/shape.js';
import { evaluateEquation } from '../reference/interpret.js';
import { makeTensor, type RefTensor } from '../reference/tensor.js';
import type { GpuDevice } from '../webgpu/device.js';
import { GraphExecutor } from '../webgpu/executor.js';
import { accumulationLengths, allowance } from './tolerance.js';

/** Where both sides of a law are evaluated. */
export type LawBackend = 'reference' | 'webgpu';
export const LAW_BACKENDS: readonly LawBackend[] = ['reference', 'webgpu'];

export interface LawCheckOptions {
  /** Cases per law and backend (default 50). */
  readonly runs?: number;
  /** fast-check's seed (default 0): the same seed draws the same cases. */
  readonly seed?: number;
  /** The largest value a dimension symbol is drawn with (default 4). */
  readonly maxDim?: number;
  /** The device, for the `webgpu` backend. */
  readonly gpu?: GpuDevice;
}

/** One drawn case: the dimension symbols and a value for every graph input, by input name. */
export interface LawCase {
  readonly symbols: Readonly<Record<string, number>>;
  readonly inputs: Readonly<Record<string, RefTensor>>;
}

/** The worst element of a failing case. */
export interface LawMismatch {
  /** `lhs`, or `lhs.1` for a tuple's element. */
  readonly output: string;
  /** Its multi-index in the output. */
  readonly index: readonly number[];
  readonly lhs: number;
  readonly rhs: number;
  /** The tolerance there (0 for integer outputs). */
  readonly allowed: number;
}

export interface LawCounterexample {
  readonly case: LawCase;
  /** The worst element, or undefined when evaluation itself failed (then `error` says why). */
  readonly mismatch?: LawMismatch;
  readonly error?: string;
  /** How many shrinking steps fast-check took to reach it. */
  readonly shrinks: number;
}

/** The outcome of one law on one backend. */
export interface LawResult {
  readonly law: ElaboratedLaw;
  readonly backend: LawBackend;
  readonly ok: boolean;
  /** Cases evaluated (before shrinking) and cases skipped by `when`. */
  readonly runs: number;
  readonly skipped: number;
  readonly seed: number;
  readonly counterexample?: LawCounterexample;
  /** Why a law that failed without a counterexample could not be tested (its `when` held too rarely). */
  readonly untested?: string;
}

const FLOAT_RANGE = 2;
const WEIGHT_RANGE = 1;
const INT_MAX = 3;
const GRID = 64;

function symbolsOf(graph: Graph): string[] {
  const names = new Set<string>();
  for (const input of graph.inputs) for (const d of input.value.type.shape) for (const s of d.syms) names.add(s);
  return [...names].sort();
}

function elements(dtype: DType, param: boolean): fc.Arbitrary<number> {
  if (isFloat(dtype)) {
    const r = Math.fround(param ? WEIGHT_RANGE : FLOAT_RANGE);
    // Mostly multiples of 1/64 (a shrunk counterexample then reads plainly), sometimes any f32 in the range.
    const grid = fc.integer({ min: -r * GRID, max: r * GRID }).map((k) => (k === 0 ? 0 : k / GRID));
    const any = fc.float({ min: -r, max: r, noNaN: true, noDefaultInfinity: true }).map((x) => (x === 0 ? 0 : x));
    return fc.oneof({ withCrossShrink: true }, { arbitrary: grid, weight: 3 }, { arbitrary: any, weight: 1 });
  }
  if (dtype === 'bool') return fc.boolean().map((b) => (b ? 1 : 0));
  return fc.integer({ min: 0, max: INT_MAX });
}

/**
 * The arbitrary of the law's cases: symbols first (each from its declared bound, by default 1 to `maxDim`), then
 * every input at the shapes they give.
 */
export function lawCases(
  graph: Graph,
  maxDim = 4,
  bounds: Readonly<Record<string, DimBound>> = {},
): fc.Arbitrary<LawCase> {
  const names = symbolsOf(graph);
  const symbolArb = fc.tuple(
    ...names.map((n) => {
      const min = bounds[n]?.min ?? 1;
      return fc.integer({ min, max: bounds[n]?.max ?? Math.max(min, maxDim) });
    }),
  );
  return symbolArb.chain((values) => {
    const symbols: Record<string, number> = Object.fromEntries(names.map((n, i) => [n, values[i] ?? 1]));
    const inputs = graph.inputs.map((input) => {
      const shape = evalShape(input.value.type.shape, symbols);
      const n = shape.reduce((a, b) => a * b, 1);
      const dtype = input.value.type.dtype;
      const arb =
        input.kind === 'data' && input.name === 'rng.seed'
          ? fc.tuple(fc.integer({ min: 0, max: 0xffffffff }))
          : fc.array(elements(dtype, input.kind === 'param'), { minLength: n, maxLength: n });
      return arb.map((data): [string, RefTensor] => [input.name, makeTensor(dtype, shape, data)]);
    });
    return fc.tuple(...inputs).map((pairs) => ({ symbols, inputs: Object.fromEntries(pairs) }));
  });
}

/** Every value of the graph evaluated by the reference interpreter in f32, by id. */
function evaluateAll(graph: Graph, c: LawCase): Map<number, RefTensor> {
  const env = new Map<number, RefTensor>();
  for (const input of graph.inputs) {
    const t = c.inputs[input.name];
    if (t === undefined) throw new RangeError(`no value for the input '${input.name}'`);
    env.set(input.value.id, t);
  }
  for (const eq of graph.equations) {
    const args = eq.args.map((a) => env.get(a.id) as RefTensor);
    env.set(eq.out.id, evaluateEquation(eq, args, { symbols: c.symbols, precision: 'f32' }));
  }
  return env;
}

/** The largest finite float magnitude among the values. */
function scaleOf(values: Iterable<RefTensor>): number {
  let s = 0;
  for (const t of values) {
    if (!isFloat(t.dtype)) continue;
    for (const x of t.data) if (Number.isFinite(x) && Math.abs(x) > s) s = Math.abs(x);
  }
  return s;
}

function unravel(i: number, shape: readonly number[]): number[] {
  const index = new Array<number>(shape.length).fill(0);
  let rest = i;
  for (let a = shape.length - 1; a >= 0; a--) {
    const d = shape[a] ?? 1;
    index[a] = rest % d;
    rest = Math.floor(rest / d);
  }
  return index;
}

/** Two elements agree: equal (NaN with NaN, an infinity with itself), or finite and within `allowed`. */
function agree(a: number, b: number, allowed: number): boolean {
  if (a === b || (Number.isNaN(a) && Number.isNaN(b))) return true;
  return Number.isFinite(a) && Number.isFinite(b) && Math.abs(a - b) <= allowed;
}

/** The pairs of outputs the law equates: `lhs`/`rhs`, or `lhs.i`/`rhs.i` for tuples. */
function sides(graph: Graph): { lhs: string; rhs: string }[] {
  return graph.outputs
    .filter((o) => o.name === 'lhs' || o.name.startsWith('lhs.'))
    .map((o) => ({ lhs: o.name, rhs: `rhs${o.name.slice(3)}` }));
}

/** The worst disagreeing element of the outputs, or undefined when every element agrees. */
export function compareSides(
  graph: Graph,
  outputs: Readonly<Record<string, { readonly data: ArrayLike<number>; readonly shape: readonly number[] }>>,
  lengths: ReadonlyMap<number, number>,
  scale: number,
): LawMismatch | undefined {
  let worst: { mismatch: LawMismatch; ratio: number } | undefined;
  const byName = new Map(graph.outputs.map((o) => [o.name, o.value]));
  for (const pair of sides(graph)) {
    const lv = byName.get(pair.lhs);
    const rv = byName.get(pair.rhs);
    const l = outputs[pair.lhs];
    const r = outputs[pair.rhs];
    if (lv === undefined || rv === undefined || l === undefined || r === undefined) continue;
    const length = Math.max(lengths.get(lv.id) ?? 0, lengths.get(rv.id) ?? 0);
    const allowed = allowance(lv.type.dtype, length, scale);
    for (let i = 0; i < l.data.length; i++) {
      const a = l.data[i] ?? NaN;
      const b = r.data[i] ?? NaN;
      if (agree(a, b, allowed)) continue;
      const diff = Math.abs(a - b);
      const ratio = Number.isFinite(diff) ? diff / (allowed || Number.MIN_VALUE) : Infinity;
      if (worst === undefined || ratio > worst.ratio) {
        worst = { mismatch: { output: pair.lhs, index: unravel(i, l.shape), lhs: a, rhs: b, allowed }, ratio };
      }
    }
  }
  return worst?.mismatch;
}

/** A failed case, carried out of the property as its error. */
class LawFailure extends Error {
  constructor(
    readonly mismatch: LawMismatch | undefined,
    readonly detail: string | undefined,
  ) {
    super(detail ?? 'the two sides differ');
  }
}

/** Whether the `when` output (if any) holds everywhere. */
function holds(graph: Graph, outputs: Readonly<Record<string, { readonly data: ArrayLike<number> }>>): boolean {
  if (!graph.outputs.some((o) => o.name === 'when')) return true;
  return Array.from(outputs.when?.data ?? []).every((x) => x !== 0);
}

/** Property-tests one law on one backend. */
export async function checkLaw(
  law: ElaboratedLaw,
  backend: LawBackend,
  options: LawCheckOptions = {},
): Promise<LawResult> {
  const graph = lowerLaw(law);
  const runs = options.runs ?? 50;
  const seed = options.seed ?? 0;
  let executor: GraphExecutor | undefined;
  if (backend === 'webgpu') {
    if (options.gpu === undefined) throw new RangeError('the webgpu backend needs a device (options.gpu)');
    executor = new GraphExecutor(options.gpu, graph);
  }
  let fatal: Error | undefined;
  const property = fc.asyncProperty(lawCases(graph, options.maxDim, law.bounds), async (c) => {
    let values: Map<number, RefTensor>;
    try {
      values = evaluateAll(graph, c);
    } catch (error) {
      throw new LawFailure(undefined, `the reference interpreter failed: ${(error as Error).message}`);
    }
    const reference: Record<string, RefTensor> = {};
    for (const o of graph.outputs) reference[o.name] = values.get(o.value.id) as RefTensor;
    fc.pre(holds(graph, reference));
    let outputs: Readonly<Record<string, { readonly data: ArrayLike<number>; readonly shape: readonly number[] }>> =
      reference;
    if (executor !== undefined) {
      try {
        outputs = await executor.run(c.inputs, { symbols: c.symbols });
      } catch (error) {
        // A device failure is not a counterexample: stop and report it.
        fatal ??= error instanceof Error ? error : new Error(String(error));
        throw error;
      }
    }
    const mismatch = compareSides(graph, outputs, accumulationLengths(graph, c.symbols), scaleOf(values.values()));
    if (mismatch !== undefined) throw new LawFailure(mismatch, undefined);
  });
  try {
    const details = await fc.check(property, { numRuns: runs, seed });
    if (fatal !== undefined) throw fatal;
    const base = { law, backend, runs: details.numRuns, skipped: details.numSkips, seed };
    if (!details.failed) return { ...base, ok: true };
    const counter = details.counterexample?.[0];
    const failure = details.errorInstance instanceof LawFailure ? details.errorInstance : undefined;
    const error =
      failure?.detail ??
      (failure === undefined ? String((details.errorInstance as Error | undefined)?.message) : undefined);
    if (counter === undefined) {
      const why =
        details.numSkips > 0
          ? `its when condition was false in ${details.numSkips} drawn cases and true in ${details.numRuns}`
          : ((details.errorInstance as Error | undefined)?.message ?? 'fast-check gave no case');
      return { ...base, ok: false, untested: why };
    }
    return {
      ...base,
      ok: false,
      counterexample: {
        case: counter,
        ...(failure?.mismatch === undefined ? {} : { mismatch: failure.mismatch }),
        ...(error === undefined ? {} : { error }),
        shrinks: details.numShrinks,
      },
    };
  } finally {
    executor?.dispose();
  }
}
