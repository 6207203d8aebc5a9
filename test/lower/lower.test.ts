import { readFileSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { checkProgram } from '../../compiler/frontend.js';
import { gradcheck, noiseFloor } from '../../compiler/gradcheck.js';
import { gradientName, type Graph } from '../../compiler/ir/graph.js';
import { printGraph } from '../../compiler/ir/print.js';
import { verifyGraph } from '../../compiler/ir/verify.js';
import { lowerForward, lowerLoss } from '../../compiler/lower/lower.js';
import { differentiate } from '../../compiler/passes/differentiate.js';
import { compileModel } from '../../compiler/pipeline.js';
import { CLEANUP_PASSES, runPasses } from '../../compiler/passes/run-passes.js';
import type { ElaboratedModel } from '../../compiler/semantic/elaborated.js';
import { nodeHost } from '../../cli/check.js';
import { evaluate } from '../../runtime/reference/interpret.js';
import { vitInputs, type VitConfig } from '../ir/fixtures/vit.js';
import { vitLogitsDirect } from '../ir/fixtures/vit-direct.js';

const FIXTURE = 'test/lower/fixtures/small_vit.vitm';
const SMALL: VitConfig = { image: 8, channels: 2, patch: 4, dim: 8, depth: 2, heads: 2, mlpRatio: 2, classes: 3 };

function models(file: string): ElaboratedModel[] {
  const result = checkProgram(file, nodeHost());
  expect(result.diagnostics).toEqual([]);
  return [...(result.program?.models ?? [])];
}

function model(file: string, name: string): ElaboratedModel {
  const found = models(file).find((m) => m.name === name);
  if (!found) throw new Error(`no model ${name} in ${file}`);
  return found;
}

function golden(name: string, text: string): void {
  const url = new URL(`./golden/${name}`, import.meta.url);
  if (process.env.UPDATE_GOLDEN === '1') writeFileSync(url, text);
  expect(text).toBe(readFileSync(url, 'utf8'));
}

describe('lowering the standard library ViT', () => {
  it('gives the logits of an independent float64 timm-style ViT on the same weights', () => {
    const graph = lowerForward(model(FIXTURE, 'Small'), { inputNames: ['images'] });
    verifyGraph(graph, 'lower');
    for (const batch of [1, 3]) {
      const inputs = vitInputs(graph, SMALL, batch, 7);
      const got = evaluate(graph, inputs, { symbols: { B: batch } }).output;
      const want = vitLogitsDirect(SMALL, inputs, batch);
      expect(got?.shape).toEqual([batch, SMALL.classes]);
      const flat = want.flat();
      // Same float64 arithmetic in a different order: agreement to a few ulps of the logits' magnitude.
      flat.forEach((w, i) => {
        expect(Math.abs((got?.data[i] ?? NaN) - w)).toBeLessThan(1e-12 * (1 + Math.abs(w)));
      });
    }
  });

  it('names parameters as timm does, one graph input each, with PyTorch layouts', () => {
    const graph = lowerForward(model(FIXTURE, 'Small'));
    const params = graph.inputs.filter((i) => i.kind === 'param').map((i) => i.name);
    expect(params).toContain('patch_embed.proj.weight');
    expect(params).toContain('blocks.1.attn.qkv.weight');
    expect(params).toContain('blocks.1.mlp.fc2.bias');
    expect(params).toContain('head.weight');
    expect(new Set(params).size).toBe(params.length);
    const qkv = graph.inputs.find((i) => i.name === 'blocks.0.attn.qkv.weight');
    expect(qkv?.value.type.shape.map((d) => d.coeff)).toEqual([24, 8]);
    const conv = graph.inputs.find((i) => i.name === 'patch_embed.proj.weight');
    expect(conv?.value.type.shape.map((d) => d.coeff)).toEqual([8, 2, 4, 4]);
  });

  it('has gradients equal to finite differences for every parameter (float64, rtol 1e-6)', () => {
    const graph = lowerLoss(model(FIXTURE, 'Small'), { inputNames: ['images'] });
    const inputs = vitInputs(graph, SMALL, 2, 3);
    const checks = gradcheck(graph, inputs, { loss: 'loss', symbols: { B: 2 } });
    expect(checks.length).toBe(graph.inputs.filter((i) => i.kind === 'param').length);
    for (const c of checks) expect(c.worst, c.name).toBeLessThan(1e-6);
  });

  it('gives frozen parameters no gradient at all (golden gradient IR)', () => {
    const frozen = model(FIXTURE, 'SmallAttnOnly');
    const loss = lowerLoss(frozen, { inputNames: ['images'] });
    const grad: Graph = runPasses(differentiate(loss), CLEANUP_PASSES, { verify: true });
    const trainable = loss.inputs.filter((i) => i.kind === 'param' && i.trainable).map((i) => i.name);
    const frozenNames = loss.inputs.filter((i) => i.kind === 'param' && !i.trainable).map((i) => i.name);
    expect(trainable.every((n) => n.startsWith('head.') || /^blocks\.\d\.attn\./.test(n))).toBe(true);
    expect(frozenNames.length).toBeGreaterThan(0);
    const outputs = grad.outputs.map((o) => o.name);
    for (const n of trainable) expect(outputs).toContain(gradientName(n));
    for (const n of frozenNames) expect(outputs).not.toContain(gradientName(n));
    golden('small_vit_attn_only.grad.ir', printGraph(grad) + '\n');
  });

  it('prints the forward IR of the stdlib ViT stably (golden)', () => {
    golden('small_vit.ir', printGraph(lowerForward(model(FIXTURE, 'Small'))) + '\n');
  });

  it('lowers every model of the examples to a graph the verifier accepts', () => {
    for (const file of ['examples/vit_tiny.vitm', 'examples/vit_base.vitm']) {
      for (const m of models(file)) {
        const graph = lowerLoss(m);
        verifyGraph(graph, `lower ${file}`);
        expect(graph.outputs.map((o) => o.name)).toEqual(['loss', 'logits']);
      }
    }
  });

  it('compiles through the pipeline: cleaned forward equals the raw lowering, gradients for every trainable parameter', () => {
    const m = model(FIXTURE, 'SmallAttnOnly');
    const compiled = compileModel(m, { verify: true, inputNames: ['images'] });
    const raw = lowerForward(m, { inputNames: ['images'] });
    expect(compiled.forward.equations.length).toBeLessThanOrEqual(raw.equations.length);
    const inputs = vitInputs(raw, SMALL, 2, 11);
    const a = evaluate(raw, inputs, { symbols: { B: 2 } }).output?.data ?? [];
    const b = evaluate(compiled.forward, inputs, { symbols: { B: 2 } }).output?.data ?? [];
    expect([...b]).toEqual([...a]);
    const trainable = m.parameters.filter((p) => p.parameter.trainable).map((p) => gradientName(p.parameter.path));
    expect(
      compiled.training.outputs
        .map((o) => o.name)
        .filter((n) => n.startsWith('grad:'))
        .sort(),
    ).toEqual(trainable.sort());
  });
});

describe('the finite-difference noise floor', () => {
  it('scales with the loss and the step, never below 1e-6, and stays far below real gradient errors', () => {
    // 100 eps |L| / (h rtol) for |L| = 2.3, h = 1e-4, rtol = 1e-6.
    expect(noiseFloor(2.3, 1e-4, 1e-6)).toBeCloseTo((100 * Number.EPSILON * 2.3) / 1e-10, 12);
    expect(noiseFloor(2.3, 1e-3, 1e-6)).toBeCloseTo(noiseFloor(2.3, 1e-4, 1e-6) / 10, 12);
    expect(noiseFloor(0, 1, 1)).toBe(1e-6);
    // The absolute error it tolerates (rtol * floor) is ~5e-10 for a loss near ln 10: a gradient rule that is wrong
    // by even 0.1% of a gradient of size 1e-3 (error 1e-6) is still caught.
    expect(1e-6 * noiseFloor(2.3, 1e-4, 1e-6)).toBeLessThan(1e-9);
  });
});
