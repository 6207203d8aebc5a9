/**
 * Every row of the reference op table (test/ops/table.ts) run on the WebGPU device through the graph executor and
 * compared with the float64 reference interpreter, on shapes and values drawn by fast-check (a few cases per row:
 * the adapter is slow). A test fails if an op has no GPU row.
 *
 * Inputs are rounded to their dtype first (f32 with Math.fround), so the reference and the device see the same
 * numbers and every difference is the device's arithmetic. Tolerances (`tolerance` below), with u = 2^-24 the unit
 * roundoff of f32:
 *
 * - exact ops (layout, indexing, comparisons, selections, integer arithmetic, uniform random bits, permutations):
 *   the device must give exactly the reference rounded to f32 (bit-identical for the random ops);
 * - correctly rounded arithmetic (add, sub, mul, neg, ...): |err| <= 1 ulp, i.e. u |ref| (ties and subnormals
 *   aside); division and the transcendental built-ins (exp, log, sqrt, tanh, acos, pow; Vulkan's precision rules
 *   allow a few ulp, and exp/pow a relative error growing with |x|): |err| <= c_op u (|ref| + |x|) plus a small
 *   absolute term where the function crosses zero;
 * - sums, means and matmul (serial f32 accumulation of n terms): the classic bound
 *   |err| <= n u sum|terms| + u |ref|, with sum|terms| obtained by running the reference on |inputs| (exactly
 *   sum |x_i| for a sum and sum |a_ik b_kj| for a matmul);
 * - softmax, logsumexp, layer_norm and cross-entropy (max-subtracted exponentials and two-pass moments over n
 *   elements of magnitude <= M): |err| <= c n u (|ref| + M).
 *
 * The worst error relative to its tolerance per row is printed at the end (VITM_DEBUG=1) and must stay <= 1.
 */

import fc from 'fast-check';
import { afterAll, describe, expect, it, type TestContext } from 'vitest';
import { GraphBuilder } from '../../compiler/ir/builder.js';
import type { Graph, Value } from '../../compiler/ir/graph.js';
import { OP_NAMES } from '../../compiler/ops/op.js';
import { isFloat, type DType } from '../../compiler/types/shape.js';
import { evaluate } from '../../runtime/reference/interpret.js';
import { roundF16 } from '../../runtime/reference/math.js';
import { makeTensor, type RefTensor } from '../../runtime/reference/tensor.js';
import type { GpuDevice } from '../../runtime/webgpu/device.js';
import { runGraphOnGpu } from '../../runtime/webgpu/executor.js';
import type { Instance, Row } from '../ops/row.js';
import { OP_ROWS } from '../ops/table.js';
import { openTestDevice } from '../support/gpu.js';

const RUNS = Number(process.env.VITM_GPU_OP_RUNS ?? 3);
const U = 2 ** -24;

let devicePromise: Promise<GpuDevice> | undefined;
function device(ctx: TestContext): Promise<GpuDevice> {
  devicePromise ??= openTestDevice(ctx);
  return devicePromise;
}
afterAll(async () => {
  if (devicePromise) (await devicePromise.catch(() => undefined))?.dispose();
});

/** How a row's results are compared; see the file comment. */
type Tolerance =
  | { readonly kind: 'exact' }
  | { readonly kind: 'ulps'; readonly ulps: number; readonly abs?: number; readonly inputScaled?: boolean }
  | { readonly kind: 'sum'; readonly c: number }
  | { readonly kind: 'normalised'; readonly c: number };

const EXACT = new Set([
  'full',
  'constant',
  'dim_size',
  'neg',
  'relu',
  'abs',
  'cast',
  'stop_gradient',
  'maximum',
  'minimum',
  'less',
  'less_equal',
  'greater',
  'greater_equal',
  'equal',
  'not_equal',
  'where',
  'reduce_max',
  'reshape',
  'transpose',
  'broadcast_to',
  'concat',
  'slice',
  'pad',
  'take',
  'take_along_axis',
  'one_hot',
  'argmax',
  'top_k',
  'random_uniform',
  'random_permutation',
  'composite:split',
  'composite:topKValues',
]);

function toleranceOf(name: string): Tolerance {
  if (EXACT.has(name)) return { kind: 'exact' };
  switch (name) {
    case 'add':
    case 'sub':
    case 'mul':
      return { kind: 'ulps', ulps: 1 };
    case 'div':
    case 'sqrt':
    case 'rsqrt':
      return { kind: 'ulps', ulps: 4 };
    case 'exp':
    case 'pow':
      // Vulkan: exp within 3 + 2|x| ulp; pow as exp2(y log2 x).
      return { kind: 'ulps', ulps: 8, inputScaled: true };
    case 'log':
      return { kind: 'ulps', ulps: 4, abs: 2 ** -21 };
    case 'tanh':
    case 'sigmoid':
    case 'acos':
      return { kind: 'ulps', ulps: 8, abs: 4 * U };
    case 'random_normal':
      // cos(2 pi u2): the f32 argument carries an absolute rounding error up to about 2 pi u, scaled by the
      // radius sqrt(-2 ln u1) <= 5.8; the bits u1, u2 themselves are exact.
      return { kind: 'ulps', ulps: 16, abs: 2 ** -18 };
    case 'erf':
    case 'gelu':
    case 'gelu_grad':
      // erf: series to 40 terms below |x| = 2 (f32 rounding of positive terms), A&S 7.1.26 (1.5e-7 absolute) above.
      return { kind: 'ulps', ulps: 16, abs: 3e-7, inputScaled: true };
    case 'add_n':
    case 'composite:meanN':
    case 'reduce_sum':
    case 'reduce_mean':
    case 'matmul':
    case 'composite:linear':
    case 'scatter_add':
    case 'scatter_add_along_axis':
      return { kind: 'sum', c: 1 };
    case 'softmax':
    case 'softmax_grad':
    case 'logsumexp':
    case 'layer_norm':
    case 'layer_norm_grad':
    case 'cross_entropy':
    case 'composite:l2Normalize':
    case 'composite:cosineSimilarity':
      return { kind: 'normalised', c: 4 };
    default:
      return { kind: 'normalised', c: 4 };
  }
}

function roundTo(x: number, dtype: DType): number {
  if (dtype === 'f32') return Math.fround(x);
  if (dtype === 'f16') return roundF16(x);
  return x;
}

function build(inst: Instance): { graph: Graph; inputs: Record<string, RefTensor>; abs: Record<string, RefTensor> } {
  const b = new GraphBuilder();
  const values: Value[] = inst.inputs.map((i) =>
    i.role === 'param' && isFloat(i.dtype)
      ? b.param(i.name, i.shape, { dtype: i.dtype })
      : b.data(i.name, i.shape, i.dtype),
  );
  const inputs: Record<string, RefTensor> = {};
  const abs: Record<string, RefTensor> = {};
  for (const i of inst.inputs) {
    const data = i.data.map((x) => roundTo(x, i.dtype));
    inputs[i.name] = makeTensor(i.dtype, i.shape, data);
    abs[i.name] = makeTensor(i.dtype, i.shape, isFloat(i.dtype) ? data.map(Math.abs) : data);
  }
  const y = inst.build(b, values);
  return { graph: b.build({ y }), inputs, abs };
}

/** The worst |err| / tolerance of one case (0 when equal), and a description of the worst element. */
function compare(
  row: Row,
  got: Float64Array,
  want: RefTensor,
  absRef: RefTensor | undefined,
  inputs: Record<string, RefTensor>,
): { ratio: number; detail: string } {
  const tol = toleranceOf(row.name);
  const floatInputs = Object.values(inputs).filter((t) => isFloat(t.dtype));
  const m = Math.max(0, ...floatInputs.flatMap((t) => Array.from(t.data, Math.abs)));
  const n = Math.max(1, ...floatInputs.map((t) => t.data.length)) / Math.max(1, want.data.length);
  const reduction = Math.max(n, ...Object.values(inputs).map((t) => t.shape[t.shape.length - 1] ?? 1));
  let worst = 0;
  let detail = '';
  for (let i = 0; i < want.data.length; i++) {
    const e = want.data[i] as number;
    const a = got[i] as number;
    const expected = isFloat(want.dtype) ? roundTo(e, want.dtype) : e;
    if (a === expected || (Number.isNaN(a) && Number.isNaN(expected))) continue;
    let allowed: number;
    switch (tol.kind) {
      case 'exact':
        allowed = 0;
        break;
      case 'ulps':
        allowed = tol.ulps * U * (Math.abs(e) + (tol.inputScaled ? m * Math.abs(e) + m : 0)) + (tol.abs ?? 0);
        break;
      case 'sum':
        allowed = tol.c * reduction * U * Math.abs(absRef?.data[i] ?? m * reduction) + 2 * U * Math.abs(e);
        break;
      case 'normalised':
        allowed = tol.c * reduction * U * (Math.abs(e) + m + 1);
        break;
    }
    if (!Number.isFinite(a) && a !== expected) return { ratio: Infinity, detail: `[${i}] got ${a}, want ${e}` };
    const ratio = allowed === 0 ? Infinity : Math.abs(a - e) / allowed;
    if (ratio > worst) {
      worst = ratio;
      detail = `[${i}] got ${a}, want ${e}, |err| ${Math.abs(a - e)}, tolerance ${allowed}`;
    }
  }
  return { ratio: worst, detail };
}

const worstByRow = new Map<string, number>();

afterAll(() => {
  if (process.env.VITM_DEBUG)
    for (const [k, v] of worstByRow) process.stdout.write(`${k}: worst error / tolerance ${v.toExponential(2)}\n`);
});

describe('the WebGPU op table', () => {
  it('has a GPU row for every op', () => {
    const covered = new Set(OP_ROWS.map((r) => r.name));
    expect(OP_NAMES.filter((op) => !covered.has(op))).toEqual([]);
    for (const op of OP_NAMES) expect(toleranceOf(op), op).toBeDefined();
  });

  describe.each(OP_ROWS.map((row, k) => ({ row, label: `${row.name} #${k}` })))('$label', ({ row }) => {
    it('matches the float64 reference within its f32 tolerance', { timeout: 120_000 }, async (ctx) => {
      const gpu = await device(ctx);
      const cases = fc.sample(row.cases, { numRuns: RUNS, seed: 0x5eed + row.name.length });
      for (const inst of cases) {
        const { graph, inputs, abs } = build(inst);
        const want = evaluate(graph, inputs).y as RefTensor;
        const absRef = toleranceOf(row.name).kind === 'sum' ? (evaluate(graph, abs).y as RefTensor) : undefined;
        const got = (await runGraphOnGpu(gpu, graph, inputs)).y;
        expect(got?.shape).toEqual(want.shape);
        const { ratio, detail } = compare(row, got?.data ?? new Float64Array(), want, absRef, inputs);
        const label = `${row.name} #${OP_ROWS.indexOf(row)}`;
        worstByRow.set(label, Math.max(worstByRow.get(label) ?? 0, ratio));
        expect(ratio, `${row.name}: ${detail}`).toBeLessThanOrEqual(1);
      }
    });
  });
});
