/**
 * Evaluation of a classifier on the GPU: the forward graph at a fixed batch size (the last batch padded with zero
 * images whose logits are ignored, so one prepared plan serves every batch), logits read back per batch, and the
 * mean cross-entropy (without label smoothing) and accuracy (arg-max, first maximum) computed on the host in float64.
 * With test-time augmentation `flip`, each batch also runs mirrored left-right and an image's prediction is the mean
 * of the two class distributions (its loss the cross-entropy of that mean).
 */
import type { Graph } from '../../compiler/ir/graph.js';
import { SEED_INPUT } from '../../compiler/lower/lower.js';
import { evalShape, type SymbolValues } from '../../compiler/types/shape.js';
import { compileModel } from '../../compiler/pipeline.js';
import type { ElaboratedModel } from '../../compiler/semantic/elaborated.js';
import { readSafetensorsFile } from '../checkpoint/run.js';
import type { TensorMap } from '../checkpoint/safetensors.js';
import type { Batch } from '../data/loader.js';
import { evalData, type DataSpec } from '../data/spec.js';
import { flipHorizontal } from '../data/transforms.js';
import { weightsFor } from './weights.js';
import { VitmRuntimeError } from '../errors.js';
import type { GpuDevice } from '../webgpu/device.js';
import { GraphExecutor, type ExecutorOptions, type HostTensor } from '../webgpu/executor.js';

export interface EvalResult {
  /** Fraction of correct predictions, 0-1. */
  readonly accuracy: number;
  /** Mean cross-entropy. */
  readonly loss: number;
  /** Images evaluated. */
  readonly n: number;
}

/** The image input of a model graph (the one data input that is neither the labels nor the random seed). */
export function imageInput(graph: Graph): Graph['inputs'][number] {
  const data = graph.inputs.filter((i) => i.kind !== 'param' && i.name !== 'labels' && i.name !== SEED_INPUT);
  const input = data[0];
  if (data.length !== 1 || input === undefined)
    throw new VitmRuntimeError(
      'VT6018',
      `the model's forward takes ${data.length} data inputs; the trainer needs exactly one batch of images`,
      'declare forward(x: f32[B, channels, height, width]) -> f32[B, classes]',
    );
  return input;
}

/** The name of the batch symbol (the image input's leading dimension). */
export function batchSymbol(graph: Graph): string {
  const input = imageInput(graph);
  const lead = input.value.type.shape[0];
  const name = lead?.syms[0];
  if (lead?.coeff !== 1 || lead.syms.length !== 1 || name === undefined || input.value.type.shape.length !== 4)
    throw new VitmRuntimeError(
      'VT6018',
      `the model's input '${input.name}' must be a batch of images [B, channels, height, width]`,
      'declare forward(x: f32[B, channels, height, width]) -> f32[B, classes]',
    );
  return name;
}

/** Test-time augmentation: `none`, or `flip` (the mean of the class distributions of an image and its mirror image). */
export type TestTimeAugmentation = 'none' | 'flip';

/**
 * Log of the mean of the softmax distributions of `a` and `b` (logits, [rows, classes]), row by row in float64: logits
 * whose softmax is that mean, so `scoreLogits` scores the averaged prediction.
 */
export function meanDistributionLogits(a: ArrayLike<number>, b: ArrayLike<number>, classes: number): Float64Array {
  const out = new Float64Array(a.length);
  for (let base = 0; base < a.length; base += classes) {
    const la = rowLogSumExp(a, base, classes);
    const lb = rowLogSumExp(b, base, classes);
    for (let c = 0; c < classes; c++) {
      const pa = (a[base + c] as number) - la;
      const pb = (b[base + c] as number) - lb;
      const hi = Math.max(pa, pb);
      out[base + c] = hi + Math.log((Math.exp(pa - hi) + Math.exp(pb - hi)) / 2);
    }
  }
  return out;
}

/** log(sum(exp)) of the `classes` values of `x` from `base`, with the maximum subtracted first. */
function rowLogSumExp(x: ArrayLike<number>, base: number, classes: number): number {
  let top = -Infinity;
  for (let c = 0; c < classes; c++) top = Math.max(top, x[base + c] as number);
  let sum = 0;
  for (let c = 0; c < classes; c++) sum += Math.exp((x[base + c] as number) - top);
  return top + Math.log(sum);
}

/** Mean cross-entropy and correct count of `size` rows of `logits` ([rows, classes]) against `labels`. */
export function scoreLogits(
  logits: ArrayLike<number>,
  classes: number,
  labels: ArrayLike<number>,
  size: number,
): { lossSum: number; correct: number } {
  let lossSum = 0;
  let correct = 0;
  for (let r = 0; r < size; r++) {
    const base = r * classes;
    let best = 0;
    let top = logits[base] as number;
    for (let c = 1; c < classes; c++) {
      const v = logits[base + c] as number;
      if (v > top) {
        top = v;
        best = c;
      }
    }
    const label = labels[r] as number;
    lossSum += rowLogSumExp(logits, base, classes) - (logits[base + label] as number);
    if (best === label) correct++;
  }
  return { lossSum, correct };
}

export class Evaluator {
  private readonly executor: GraphExecutor;
  private readonly symbols: SymbolValues;
  private readonly input: string;
  private readonly output: string;
  private readonly padded: Float32Array;
  private readonly imageShape: readonly number[];

  constructor(
    gpu: GpuDevice,
    private readonly forward: Graph,
    readonly batch: number,
    options: ExecutorOptions = {},
  ) {
    this.executor = new GraphExecutor(gpu, forward, options);
    this.symbols = { [batchSymbol(forward)]: batch };
    this.input = imageInput(forward).name;
    const out = forward.outputs[0];
    if (out === undefined) throw new VitmRuntimeError('VT6018', "the model's forward has no output");
    this.output = out.name;
    const shape = evalShape(imageInput(forward).value.type.shape, this.symbols);
    this.imageShape = shape;
    this.padded = new Float32Array(shape.reduce((a, b) => a * b, 1));
  }

  /** Writes the parameters from the host (when they are not bound to external buffers). */
  async setParams(params: Readonly<Record<string, HostTensor>>): Promise<void> {
    await this.executor.setInputs(params, { symbols: this.symbols });
  }

  /** The logits of one full batch of images (`batch * C * H * W` floats), and the number of classes. */
  async logits(images: Float32Array, seeded = false): Promise<{ data: ArrayLike<number>; classes: number }> {
    const inputs: Record<string, HostTensor> = {
      [this.input]: { dtype: 'f32', shape: this.imageShape, data: images },
    };
    if (seeded) inputs[SEED_INPUT] = { dtype: 'u32', shape: [], data: [0] };
    const result = await this.executor.run(inputs, { symbols: this.symbols, outputs: [this.output] });
    const logits = result[this.output];
    if (!logits) throw new RangeError('the forward graph returned no logits');
    return { data: logits.data, classes: logits.shape[logits.shape.length - 1] ?? 1 };
  }

  /** Evaluates every batch; `onBatch` reports progress (images done). */
  async run(
    batches: Iterable<Batch>,
    onBatch?: (done: number) => void,
    tta: TestTimeAugmentation = 'none',
  ): Promise<EvalResult> {
    let n = 0;
    let lossSum = 0;
    let correct = 0;
    const seeded = this.forward.inputs.some((i) => i.name === SEED_INPUT);
    for (const b of batches) {
      if (b.size > this.batch) throw new RangeError(`a batch of ${b.size} is larger than the evaluation batch`);
      let images: Float32Array = b.images;
      if (b.size < this.batch) {
        this.padded.fill(0);
        this.padded.set(b.images);
        images = this.padded;
      }
      const plain = await this.logits(images, seeded);
      let scored = plain.data;
      if (tta === 'flip') {
        const [, channels, height, width] = this.imageShape as [number, number, number, number];
        const mirrored = flipHorizontal(images, { channels: this.batch * channels, height, width });
        const flipped = await this.logits(mirrored, seeded);
        scored = meanDistributionLogits(plain.data, flipped.data, plain.classes);
      }
      const s = scoreLogits(scored, plain.classes, b.labels, b.size);
      lossSum += s.lossSum;
      correct += s.correct;
      n += b.size;
      onBatch?.(n);
    }
    return { accuracy: n > 0 ? correct / n : 0, loss: n > 0 ? lossSum / n : 0, n };
  }

  dispose(): void {
    this.executor.dispose();
  }
}

/** The accuracy of `weights` (read from `from`) loaded into `model`, on `data` (VT6015 if they do not fit). */
export async function evaluateWeights(
  gpu: GpuDevice,
  model: ElaboratedModel,
  weights: TensorMap,
  from: string,
  data: DataSpec,
  batch = 500,
  tta: TestTimeAugmentation = 'none',
): Promise<EvalResult> {
  const forward = compileModel(model).forward;
  const symbols = { [batchSymbol(forward)]: batch };
  const params: Record<string, HostTensor> = {};
  for (const input of forward.inputs) {
    if (input.kind !== 'param') continue;
    const shape = evalShape(input.value.type.shape, symbols);
    params[input.name] = { dtype: 'f32', shape, data: weightsFor(weights, input.name, shape, from) };
  }
  const evaluator = new Evaluator(gpu, forward, batch);
  try {
    await evaluator.setParams(params);
    return await evaluator.run(evalData(data, batch), undefined, tta);
  } finally {
    evaluator.dispose();
  }
}

/** The accuracy of the weights in a `.safetensors` file loaded into `model`, on `data`. */
export function evaluateWeightsFile(
  gpu: GpuDevice,
  model: ElaboratedModel,
  file: string,
  data: DataSpec,
  batch = 500,
): Promise<EvalResult> {
  return evaluateWeights(gpu, model, readSafetensorsFile(file).tensors, file, data, batch);
}
