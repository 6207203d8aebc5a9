/**
 * `vitm eval FILE --checkpoint CKPT [--experiment NAME] [--split train|test] [--json]`: the accuracy and mean
 * cross-entropy of an experiment's model with the weights of CKPT, on the experiment's eval data (or the named
 * split of its data set), on the GPU. CKPT is a `.safetensors` file, a checkpoint folder (`checkpoints/step-N`), or a
 * run folder (its final `model.safetensors`, else its latest checkpoint). `--json` prints
 * `{"accuracy": A, "loss": L, "n": N}`. `--tta flip` scores the mean of the class distributions of each image and its
 * mirror image.
 */
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { FrontendHost } from '../compiler/frontend.js';
import { CheckpointStore, loadCheckpointDir, readSafetensorsFile } from '../runtime/checkpoint/run.js';
import type { TensorMap } from '../runtime/checkpoint/safetensors.js';
import type { DataSpec } from '../runtime/data/spec.js';
import { VitmRuntimeError } from '../runtime/errors.js';
import { evaluateWeights, type TestTimeAugmentation } from '../runtime/train/evaluate.js';
import { openNodeDevice } from '../runtime/webgpu/node.js';
import { formatCount } from './format.js';
import { loadExperiment } from './train.js';

export interface EvalCliOptions {
  readonly checkpoint: string;
  readonly experiment?: string;
  readonly split?: 'train' | 'test';
  readonly json?: boolean;
  readonly batch?: number;
  /** Test-time augmentation (default none). */
  readonly tta?: TestTimeAugmentation;
  readonly host?: FrontendHost;
}

/** The weights a CKPT argument names, and where they were read from. */
export function loadWeights(ckpt: string): { weights: TensorMap; from: string } {
  if (!existsSync(ckpt))
    throw new VitmRuntimeError(
      'VT6012',
      `no checkpoint ${ckpt}`,
      'give a .safetensors file, a checkpoint folder or a run folder',
    );
  if (!statSync(ckpt).isDirectory()) return { weights: readSafetensorsFile(ckpt).tensors, from: ckpt };
  if (existsSync(join(ckpt, 'state.json'))) return { weights: loadCheckpointDir(ckpt).model, from: ckpt };
  const final = join(ckpt, 'model.safetensors');
  if (existsSync(final)) return { weights: readSafetensorsFile(final).tensors, from: final };
  const latest = new CheckpointStore(ckpt).latest();
  if (latest === undefined)
    throw new VitmRuntimeError('VT6012', `the folder ${ckpt} holds no model.safetensors and no checkpoint`);
  return { weights: loadCheckpointDir(latest).model, from: latest };
}

export async function evalCommand(file: string, options: EvalCliOptions): Promise<number> {
  const loaded = loadExperiment(file, options.experiment, options.host);
  if (typeof loaded === 'number') return loaded;
  const { experiment, model, config } = loaded;
  let data: DataSpec = config.eval ?? config.train;
  if (options.split !== undefined) {
    if (data.source.kind !== 'fashion-mnist')
      throw new VitmRuntimeError('VT6018', '--split applies to fashion_mnist data only');
    data = { ...data, source: { ...data.source, split: options.split } };
  }
  const { weights, from } = loadWeights(options.checkpoint);
  const gpu = await openNodeDevice();
  try {
    const r = await evaluateWeights(
      gpu,
      model,
      weights,
      from,
      data,
      options.batch ?? config.batch,
      options.tta ?? 'none',
    );
    if (options.json) process.stdout.write(JSON.stringify({ accuracy: r.accuracy, loss: r.loss, n: r.n }) + '\n');
    else {
      const split = data.source.kind === 'fashion-mnist' ? `fashion_mnist ${data.source.split}` : 'synthetic data';
      process.stdout.write(
        `eval ${experiment.name}: model ${model.name}, weights ${from}\n` +
          `accuracy ${(100 * r.accuracy).toFixed(2)}% (${formatCount(Math.round(r.accuracy * r.n))}/${formatCount(r.n)}), ` +
          `loss ${r.loss.toFixed(4)} on ${split}${options.tta === 'flip' ? ', each image averaged with its mirror image' : ''}\n`,
      );
    }
    return 0;
  } finally {
    gpu.dispose();
  }
}
