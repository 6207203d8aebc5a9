/**
 * `vitm gradcheck FILE`: builds a model's training loss (cross-entropy of its output against random labels) on random
 * inputs, and checks every trainable parameter's gradient (reverse-mode autodiff, run by the float64 reference
 * interpreter) against central finite differences along random directions. Prints the worst relative error per
 * parameter; returns 1 if any is beyond the tolerance.
 *
 * With `--backend webgpu` it runs the training graph (the loss and every gradient) on the WebGPU device instead, on the
 * same inputs, and compares each gradient with the float64 reference interpreter. The device computes in f32, so the
 * tolerance per gradient is derived from the reference's own f32 mode (every op's result rounded to f32):
 * `||gpu - ref64|| <= 8 ||ref32 - ref64|| + 2^-20 ||ref64||` (norms over the whole tensor; the factor 8 covers f32
 * accumulation inside the device's reductions and its transcendental ulps, the last term a floor for gradients the
 * f32 mode happens to get exactly).
 */
import { renderDiagnostics } from '../compiler/diagnostics/render.js';
import type { FrontendHost } from '../compiler/frontend.js';
import { gradcheck as checkGradients, noiseFloor } from '../compiler/gradcheck.js';
import type { Graph } from '../compiler/ir/graph.js';
import { compileModel, compileProgram } from '../compiler/pipeline.js';
import type { ElaboratedModel } from '../compiler/semantic/elaborated.js';
import { evalShape, shapeToString, type SymbolValues } from '../compiler/types/shape.js';
import { initialValues } from '../runtime/params/init.js';
import { normalFromBits, randomWords } from '../runtime/reference/philox.js';
import { evaluate } from '../runtime/reference/interpret.js';
import { makeTensor, type RefTensor } from '../runtime/reference/tensor.js';
import { openNodeDevice } from '../runtime/webgpu/node.js';
import { runGraphOnGpu } from '../runtime/webgpu/executor.js';
import { nodeHost } from './check.js';

/** Where the gradients under test are computed. */
export type GradcheckBackend = 'reference' | 'webgpu';
export const GRADCHECK_BACKENDS: readonly GradcheckBackend[] = ['reference', 'webgpu'];

export interface GradcheckCliOptions {
  readonly model?: string;
  /** The size of every dimension symbol of the model's input (the batch), default 1. */
  readonly batch?: number;
  readonly directions?: number;
  readonly seed?: number;
  readonly rtol?: number;
  /** `reference` (default): finite differences in float64; `webgpu`: the device's gradients against the reference. */
  readonly backend?: GradcheckBackend;
  readonly host?: FrontendHost;
}

export class GradcheckUsageError extends Error {}

function pickModel(models: readonly ElaboratedModel[], name: string | undefined): ElaboratedModel {
  const names = models.map((m) => m.name);
  if (name !== undefined) {
    const found = models.find((m) => m.name === name);
    if (found === undefined) {
      throw new GradcheckUsageError(`no model '${name}' in the file; its models: ${names.join(', ') || '(none)'}`);
    }
    return found;
  }
  const first = models[0];
  if (first === undefined) throw new GradcheckUsageError('the file declares no model');
  return first;
}

/** Random inputs: parameters from their initialisers, float data ~ N(0, 1), labels uniform over the classes. */
export function gradcheckInputs(
  model: ElaboratedModel,
  graph: Graph,
  symbols: SymbolValues,
  seed: number,
): Record<string, RefTensor> {
  const inputs: Record<string, RefTensor> = {};
  const params = new Map(model.parameters.map((p) => [p.parameter.path, p.parameter]));
  const logits = graph.outputs.find((o) => o.name === 'logits')?.value.type.shape;
  const classes = logits?.[logits.length - 1]?.coeff ?? 1;
  graph.inputs.forEach((input, k) => {
    const shape = evalShape(input.value.type.shape, symbols);
    const n = shape.reduce((a, b) => a * b, 1);
    const words = (i: number): [number, number, number, number] => randomWords(seed, 0x5eed0000 + k, i);
    if (input.kind === 'param') {
      const p = params.get(input.name);
      if (p === undefined) throw new Error(`the parameter '${input.name}' is not in the model`);
      inputs[input.name] = makeTensor(input.value.type.dtype, shape, initialValues(input.name, shape, p.init, seed));
    } else if (input.name === 'labels') {
      inputs[input.name] = makeTensor(
        'i32',
        shape,
        Array.from({ length: n }, (_, i) => words(i)[0] % classes),
      );
    } else if (input.value.type.dtype === 'u32' || input.value.type.dtype === 'i32') {
      inputs[input.name] = makeTensor(
        input.value.type.dtype,
        shape,
        Array.from({ length: n }, (_, i) => words(i)[0] % 1024),
      );
    } else {
      inputs[input.name] = makeTensor(
        input.value.type.dtype,
        shape,
        Array.from({ length: n }, (_, i) => {
          const w = words(i);
          return normalFromBits(w[0], w[1]);
        }),
      );
    }
  });
  return inputs;
}

/**
 * The finite-difference step along a unit direction. At initialisation a ViT's activations are small (std ~0.02), so
 * its LayerNorms curve on that scale: the O(h^4) truncation of the Richardson-extrapolated difference needs h well
 * below it, while the rounding noise grows only as 1/h (and is covered by `noiseFloor` in compiler/gradcheck.ts).
 */
const STEP = 1e-4;

/** Every dimension symbol of the graph's inputs bound to `batch`. */
function batchSymbols(graph: Graph, batch: number): Record<string, number> {
  const symbols: Record<string, number> = {};
  for (const input of graph.inputs) for (const d of input.value.type.shape) for (const s of d.syms) symbols[s] = batch;
  return symbols;
}

/** Runs the check and prints the report; returns the exit code. */
export function gradcheckCommand(file: string, options: GradcheckCliOptions = {}): number | Promise<number> {
  const result = compileProgram(file, options.host ?? nodeHost());
  if (result.program === undefined) {
    process.stderr.write(renderDiagnostics(result.diagnostics, result.files) + '\n');
    return 1;
  }
  const model = pickModel(result.program.models, options.model);
  const backend = options.backend ?? 'reference';
  switch (backend) {
    case 'reference':
      return referenceGradcheck(model, result.program.models, options);
    case 'webgpu':
      if (options.directions !== undefined || options.rtol !== undefined) {
        throw new GradcheckUsageError('--directions and --rtol apply to the reference backend only');
      }
      return webgpuGradcheck(model, result.program.models, options);
  }
}

/** The note naming the file's other models when none was picked. */
function otherModels(model: ElaboratedModel, models: readonly ElaboratedModel[], picked: boolean): string {
  const others = models.filter((m) => m !== model).map((m) => m.name);
  return others.length > 0 && !picked ? ` (other models: ${others.join(', ')}; pick with --model)` : '';
}

/** Finite differences against reverse mode, both in float64 on the reference interpreter. */
function referenceGradcheck(
  model: ElaboratedModel,
  models: readonly ElaboratedModel[],
  options: GradcheckCliOptions,
): number {
  const batch = options.batch ?? 1;
  const rtol = options.rtol ?? 1e-6;
  const seed = options.seed ?? 0;
  const graph = compileModel(model, { verify: true }).loss;
  const symbols = batchSymbols(graph, batch);
  const trainable = graph.inputs.filter((i) => i.kind === 'param' && i.trainable).length;
  process.stdout.write(
    `gradcheck ${model.name}: ${trainable} trainable parameter tensors, batch ${batch}, ` +
      `${options.directions ?? 1} random direction(s) each, float64, rtol ${rtol}` +
      otherModels(model, models, options.model !== undefined) +
      '\n',
  );
  const inputs = gradcheckInputs(model, graph, symbols, seed);
  const loss = Math.abs(evaluate(graph, inputs, { symbols }).loss?.data[0] ?? NaN);
  if (!Number.isFinite(loss)) {
    process.stdout.write(`FAILED: the loss is ${loss} at the initial weights; no gradient can be checked\n`);
    return 1;
  }
  const checks = checkGradients(graph, inputs, {
    loss: 'loss',
    symbols,
    directions: options.directions ?? 1,
    seed,
    step: STEP,
    floor: noiseFloor(loss, STEP, rtol),
  });
  const shapes = new Map(graph.inputs.map((i) => [i.name, shapeToString(i.value.type.shape)]));
  const width = Math.max(9, ...checks.map((c) => c.name.length));
  const lines = checks.map(
    (c) =>
      `  ${c.name.padEnd(width)}  ${(shapes.get(c.name) ?? '').padEnd(16)}  ${c.worst.toExponential(2).padStart(9)}  ${c.worst <= rtol ? 'ok' : 'FAILED'}`,
  );
  const worst = checks.reduce((w, c) => (c.worst > w.worst ? c : w), { name: '(none)', worst: 0 });
  const failed = checks.filter((c) => !(c.worst <= rtol));
  process.stdout.write(
    `  ${'parameter'.padEnd(width)}  ${'shape'.padEnd(16)}  ${'rel error'.padStart(9)}\n${lines.join('\n')}\n` +
      `${failed.length === 0 ? 'ok' : 'FAILED'}: ${checks.length} parameters checked, worst relative error ` +
      `${worst.worst.toExponential(2)} (${worst.name}), tolerance ${rtol} ` +
      `(absolute below ${(rtol * noiseFloor(loss, STEP, rtol)).toExponential(1)}, the finite differences' rounding noise)\n`,
  );
  return failed.length === 0 ? 0 : 1;
}

/** The Euclidean norm of `xs - ys` (of `xs` without `ys`). */
function norm(xs: ArrayLike<number>, ys?: ArrayLike<number>): number {
  let sum = 0;
  for (let i = 0; i < xs.length; i++) sum += ((xs[i] ?? NaN) - (ys === undefined ? 0 : (ys[i] ?? NaN))) ** 2;
  return Math.sqrt(sum);
}

/** The training graph on the WebGPU device against the float64 reference, with the f32-derived tolerance above. */
async function webgpuGradcheck(
  model: ElaboratedModel,
  models: readonly ElaboratedModel[],
  options: GradcheckCliOptions,
): Promise<number> {
  const batch = options.batch ?? 1;
  const seed = options.seed ?? 0;
  const graph = compileModel(model, { verify: true }).training;
  const symbols = batchSymbols(graph, batch);
  const inputs = gradcheckInputs(model, graph, symbols, seed);
  const gradients = graph.outputs.filter((o) => o.name.startsWith('grad:'));
  const gpu = await openNodeDevice();
  let got: Awaited<ReturnType<typeof runGraphOnGpu>>;
  try {
    process.stdout.write(
      `gradcheck ${model.name}: ${gradients.length} trainable parameter tensors, batch ${batch}, ` +
        `webgpu (${gpu.adapter.description}) against the float64 reference` +
        otherModels(model, models, options.model !== undefined) +
        '\n',
    );
    got = await runGraphOnGpu(gpu, graph, inputs, { symbols });
  } finally {
    gpu.dispose();
  }
  const ref64 = evaluate(graph, inputs, { symbols });
  const ref32 = evaluate(graph, inputs, { symbols, precision: 'f32' });
  const rows = compareGradients(graph, got, ref64, ref32);
  const loss =
    `loss ${(got.loss?.data[0] ?? NaN).toPrecision(8)} on the device, ` +
    `${(ref64.loss?.data[0] ?? NaN).toPrecision(8)} in float64`;
  const report = gradientReport(rows);
  process.stdout.write(`${report.text}; ${loss}\n`);
  return report.ok ? 0 : 1;
}

/** One gradient compared: errors relative to the float64 gradient's norm, and whether it is within its allowance. */
export interface GradientRow {
  readonly name: string;
  readonly shape: string;
  /** `||gpu - ref64|| / ||ref64||` (the absolute error where the reference is zero; Infinity if not finite). */
  readonly rel: number;
  /** The allowance in the same units: `(8 ||ref32 - ref64|| + 2^-20 ||ref64||) / ||ref64||`. */
  readonly allowed: number;
  readonly ok: boolean;
}

/** Compares every `grad:` output of `got` with the float64 reference, allowing the f32 error described above. */
export function compareGradients(
  graph: Graph,
  got: Readonly<Record<string, { readonly data: ArrayLike<number> } | undefined>>,
  ref64: Readonly<Record<string, RefTensor | undefined>>,
  ref32: Readonly<Record<string, RefTensor | undefined>>,
): GradientRow[] {
  return graph.outputs
    .filter((o) => o.name.startsWith('grad:'))
    .map((o) => {
      const want = ref64[o.name]?.data ?? new Float64Array();
      const data = Array.from(got[o.name]?.data ?? []);
      const allowed = 8 * norm(ref32[o.name]?.data ?? [], want) + 2 ** -20 * norm(want);
      const err = data.length === want.length && data.every(Number.isFinite) ? norm(data, want) : Infinity;
      const scale = norm(want) || 1;
      return {
        name: o.name.slice('grad:'.length),
        shape: shapeToString(o.value.type.shape),
        rel: err / scale,
        allowed: allowed / scale,
        ok: err <= allowed,
      };
    });
}

/** A ratio of error to allowance, readable at any size. */
function formatRatio(r: number): string {
  return r < 1000 ? r.toFixed(3) : r.toExponential(2);
}

/** The per-parameter table and the verdict line (without its end), in the reference check's format. */
export function gradientReport(rows: readonly GradientRow[]): { text: string; ok: boolean } {
  const width = Math.max(9, ...rows.map((r) => r.name.length));
  const lines = rows.map(
    (r) =>
      `  ${r.name.padEnd(width)}  ${r.shape.padEnd(16)}  ${r.rel.toExponential(2).padStart(9)}  ` +
      `${r.allowed.toExponential(2).padStart(9)}  ${r.ok ? 'ok' : 'FAILED'}`,
  );
  const ratio = (r: GradientRow): number => (r.allowed === 0 ? (r.rel === 0 ? 0 : Infinity) : r.rel / r.allowed);
  const worst = rows.reduce<GradientRow | undefined>(
    (w, r) => (w === undefined || ratio(r) > ratio(w) ? r : w),
    undefined,
  );
  const failed = rows.filter((r) => !r.ok);
  const text =
    `  ${'parameter'.padEnd(width)}  ${'shape'.padEnd(16)}  ${'rel error'.padStart(9)}  ${'allowed'.padStart(9)}\n` +
    `${lines.join('\n')}\n` +
    `${failed.length === 0 ? 'ok' : 'FAILED'}: ${rows.length} gradients checked, worst relative error ` +
    `${worst === undefined ? '0' : worst.rel.toExponential(2)} (${worst?.name ?? '(none)'}), ` +
    `${worst === undefined ? '0' : formatRatio(ratio(worst))} of its allowance ` +
    `8 ||ref32 - ref64|| + 2^-20 ||ref64|| (ref32: the reference in f32)`;
  return { text, ok: failed.length === 0 };
}
