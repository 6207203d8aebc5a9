/**
 * Evaluation with test-time augmentation: the averaged prediction is the mean of the two class distributions (a
 * law over random logits, extreme ones included), and `Evaluator.run(..., 'flip')` scores exactly the mean of the
 * GPU's logits for each batch and its mirror image, the ragged last batch included.
 */
import fc from 'fast-check';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { nodeHost } from '../../cli/check.js';
import { compileModel, compileProgram } from '../../compiler/pipeline.js';
import { evalShape } from '../../compiler/types/shape.js';
import { evalData, type DataSpec } from '../../runtime/data/spec.js';
import { flipHorizontal } from '../../runtime/data/transforms.js';
import { initialValues } from '../../runtime/params/init.js';
import { batchSymbol, Evaluator, meanDistributionLogits, scoreLogits } from '../../runtime/train/evaluate.js';
import type { HostTensor } from '../../runtime/webgpu/executor.js';
import { openTestDevice } from '../support/gpu.js';

function softmax(x: ArrayLike<number>, base: number, classes: number): number[] {
  const row = Array.from({ length: classes }, (_, c) => x[base + c] as number);
  const top = Math.max(...row);
  const e = row.map((v) => Math.exp(v - top));
  const sum = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / sum);
}

describe('meanDistributionLogits', () => {
  it('its softmax is the mean of the two softmaxes, row by row, for any finite logits', () => {
    const logit = fc.oneof(fc.double({ min: -30, max: 30, noNaN: true }), fc.constantFrom(-1e4, 1e4, 0));
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 6 }),
        fc.integer({ min: 1, max: 3 }),
        fc.infiniteStream(logit),
        (classes, rows, values) => {
          const n = classes * rows;
          const a = Float32Array.from(values.take(n));
          const b = Float32Array.from(values.take(n));
          const m = meanDistributionLogits(a, b, classes);
          for (let base = 0; base < n; base += classes) {
            const pa = softmax(a, base, classes);
            const pb = softmax(b, base, classes);
            const pm = softmax(m, base, classes);
            for (let c = 0; c < classes; c++) {
              expect(Number.isFinite(m[base + c])).toBe(true);
              // float64 arithmetic on probabilities in [0, 1]: a few ulps of 1.
              expect(Math.abs((pm[c] as number) - ((pa[c] as number) + (pb[c] as number)) / 2)).toBeLessThan(1e-12);
            }
          }
        },
      ),
      { numRuns: 200 },
    );
  });

  it('of a distribution with itself is that distribution', () => {
    const a = [2, -1, 0.5, 7, 7, -3];
    const m = meanDistributionLogits(a, a, 3);
    for (const base of [0, 3]) {
      const p = softmax(a, base, 3);
      const q = softmax(m, base, 3);
      p.forEach((v, c) => {
        expect(Math.abs(v - (q[c] as number))).toBeLessThan(1e-15);
      });
    }
  });
});

const SOURCE = `import std.vit.{ViT}
model Small = ViT(image: 28, patch: 7, channels: 1, classes: 3, dim: 16, depth: 1, heads: 2, mlp_ratio: 2.0)
`;

describe('Evaluator with flip test-time augmentation', { timeout: 300_000 }, () => {
  it('scores the mean distribution of each image and its mirror image', async (ctx) => {
    const gpu = await openTestDevice(ctx);
    const dir = mkdtempSync(join(tmpdir(), 'vitm-eval-'));
    try {
      const file = join(dir, 'm.vitm');
      writeFileSync(file, SOURCE);
      const compiled = compileProgram(file, nodeHost());
      const model = compiled.program?.models.find((m) => m.name === 'Small');
      if (!model) throw new Error(compiled.diagnostics.map((d) => d.message).join('\n'));
      const forward = compileModel(model).forward;
      const batch = 16;
      const symbols = { [batchSymbol(forward)]: batch };
      const inits = new Map(model.parameters.map((p) => [p.parameter.path, p.parameter.init]));
      const params: Record<string, HostTensor> = {};
      for (const input of forward.inputs)
        if (input.kind === 'param') {
          const init = inits.get(input.name);
          if (!init) throw new Error(`no initializer for ${input.name}`);
          const shape = evalShape(input.value.type.shape, symbols);
          params[input.name] = {
            dtype: 'f32',
            shape,
            data: Float32Array.from(initialValues(input.name, shape, init, 7)),
          };
        }
      // 40 images: two full batches and a ragged one of 8.
      const spec: DataSpec = { source: { kind: 'synthetic', count: 40, classes: 3, seed: 5 } };
      const evaluator = new Evaluator(gpu, forward, batch);
      try {
        await evaluator.setParams(params);
        const tta = await evaluator.run(evalData(spec, batch), undefined, 'flip');
        const plain = await evaluator.run(evalData(spec, batch));
        let lossSum = 0;
        let correct = 0;
        let n = 0;
        for (const b of evalData(spec, batch)) {
          const images = new Float32Array(batch * 28 * 28);
          images.set(b.images);
          const x = await evaluator.logits(images);
          const y = await evaluator.logits(flipHorizontal(images, { channels: batch, height: 28, width: 28 }));
          const s = scoreLogits(meanDistributionLogits(x.data, y.data, x.classes), x.classes, b.labels, b.size);
          lossSum += s.lossSum;
          correct += s.correct;
          n += b.size;
        }
        expect(tta.n).toBe(40);
        expect(n).toBe(40);
        expect(tta.accuracy).toBe(correct / n);
        expect(Math.abs(tta.loss - lossSum / n)).toBeLessThan(1e-12);
        // Mirroring changes the prediction of an untrained model: the averaged loss is not the plain one.
        expect(tta.loss).not.toBe(plain.loss);
      } finally {
        evaluator.dispose();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
      gpu.dispose();
    }
  });
});
