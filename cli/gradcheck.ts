/**
 * `vitm gradcheck FILE`: builds a model's training loss (cross-entropy of its output against random labels) on random
 * inputs, and checks every trainable parameter's gradient (reverse-mode autodiff, run by the float64 reference
 * interpreter) against central finite differences along random directions. Prints the worst relative error per
 * parameter; returns 1 if any is beyond the tolerance.
 */
import { renderDiagnostics } from '../compiler/diagnostics/render.js';
import { checkProgram, type FrontendHost } from '../compiler/frontend.js';
import { gradcheck as checkGradients } from '../compiler/gradcheck.js';
import { lowerLoss } from '../compiler/lower/lower.js';
import { verifyGraph } from '../compiler/ir/verify.js';
import type { ElaboratedModel } from '../compiler/semantic/elaborated.js';
import { evalShape, shapeToString, type SymbolValues } from '../compiler/types/shape.js';
import { initialValues } from '../runtime/params/init.js';
import { normalFromBits, randomWords } from '../runtime/reference/philox.js';
import { evaluate } from '../runtime/reference/interpret.js';
import { makeTensor, type RefTensor } from '../runtime/reference/tensor.js';
import { nodeHost } from './check.js';

export interface GradcheckCliOptions {
  readonly model?: string;
  /** The size of every dimension symbol of the model's input (the batch), default 1. */
  readonly batch?: number;
  readonly directions?: number;
  readonly seed?: number;
  readonly rtol?: number;
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
  graph: ReturnType<typeof lowerLoss>,
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
 * below it, while the rounding noise grows only as 1/h (and is covered by `noiseFloor`).
 */
const STEP = 1e-4;

/**
 * The relative error's absolute floor. A central difference of a loss of size |L| carries a rounding error near
 * eps_f64 |L| / h (Richardson extrapolation multiplies it by about 3); a directional derivative that small (a
 * zero-initialised bias under a small head, say) cannot be compared relatively. Errors below 100 times that noise are
 * accepted: `|analytic - numeric| <= rtol * max(|analytic|, |numeric|, floor)` with `floor = 100 eps |L| / (h rtol)`.
 * A wrong gradient rule gives errors of the gradient's own size, far above it.
 */
export function noiseFloor(loss: number, rtol: number): number {
  return Math.max(1e-6, (100 * Number.EPSILON * Math.max(loss, 1)) / (STEP * rtol));
}

/** Runs the check and prints the report; returns the exit code. */
export function gradcheckCommand(file: string, options: GradcheckCliOptions = {}): number {
  const result = checkProgram(file, options.host ?? nodeHost());
  if (result.program === undefined) {
    process.stderr.write(renderDiagnostics(result.diagnostics, result.files) + '\n');
    return 1;
  }
  const model = pickModel(result.program.models, options.model);
  const batch = options.batch ?? 1;
  const rtol = options.rtol ?? 1e-6;
  const seed = options.seed ?? 0;
  const graph = lowerLoss(model);
  verifyGraph(graph, 'lower');
  const symbols: Record<string, number> = {};
  for (const input of graph.inputs) for (const d of input.value.type.shape) for (const s of d.syms) symbols[s] = batch;
  const trainable = graph.inputs.filter((i) => i.kind === 'param' && i.trainable).length;
  const others = result.program.models.filter((m) => m !== model).map((m) => m.name);
  process.stdout.write(
    `gradcheck ${model.name}: ${trainable} trainable parameter tensors, batch ${batch}, ` +
      `${options.directions ?? 1} random direction(s) each, float64, rtol ${rtol}` +
      (others.length > 0 && options.model === undefined
        ? ` (other models: ${others.join(', ')}; pick with --model)`
        : '') +
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
    floor: noiseFloor(loss, rtol),
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
      `(absolute below ${(rtol * noiseFloor(loss, rtol)).toExponential(1)}, the finite differences' rounding noise)\n`,
  );
  return failed.length === 0 ? 0 : 1;
}
