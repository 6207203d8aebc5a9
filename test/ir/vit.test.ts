/**
 * The ViT fixture end to end: its parameters are timm's, its forward pass equals a direct loop implementation, its
 * gradients equal finite differences, frozen parameters get no gradient equations, and its IR and gradient IR match
 * the golden files in `golden/` (`UPDATE_GOLDEN=1` rewrites them).
 */

import { readFileSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { gradcheck } from '../../compiler/gradcheck.js';
import { GraphBuilder } from '../../compiler/ir/builder.js';
import { gradientName, type Value } from '../../compiler/ir/graph.js';
import { differentiate } from '../../compiler/passes/differentiate.js';
import { makeTensor } from '../../runtime/reference/tensor.js';
import { weights } from '../ops/numpy.js';
import { printGraph } from '../../compiler/ir/print.js';
import { verifyGraph } from '../../compiler/ir/verify.js';
import { CLEANUP_PASSES, differentiatePass, runPasses } from '../../compiler/passes/run-passes.js';
import { evaluate } from '../../runtime/reference/interpret.js';
import type { RefTensor } from '../../runtime/reference/tensor.js';
import { TINY_VIT, vitBlock, vitGraph, vitInputs, type VitConfig } from './fixtures/vit.js';
import { vitLogitsDirect } from './fixtures/vit-direct.js';

const SMALL: VitConfig = { image: 8, channels: 2, patch: 4, dim: 8, depth: 2, heads: 2, mlpRatio: 4, classes: 3 };

function golden(name: string, text: string): void {
  const url = new URL(`golden/${name}`, import.meta.url);
  if (process.env.UPDATE_GOLDEN === '1') writeFileSync(url, text);
  expect(text).toBe(readFileSync(url, 'utf8'));
}

describe('the ViT fixture', () => {
  it('has timm parameter names and layouts', () => {
    const g = vitGraph(TINY_VIT);
    verifyGraph(g);
    const params = g.inputs.filter((i) => i.kind === 'param').map((i) => i.name);
    expect(params.slice(0, 4)).toEqual(['patch_embed.proj.weight', 'patch_embed.proj.bias', 'cls_token', 'pos_embed']);
    expect(params).toContain('blocks.1.attn.qkv.weight');
    expect(params.slice(-4)).toEqual(['norm.weight', 'norm.bias', 'head.weight', 'head.bias']);
    const shapeOf = (name: string): string =>
      printGraph(g)
        .split('\n')
        .find((l) => l.includes(`"${name}"`)) ?? '';
    expect(shapeOf('patch_embed.proj.weight')).toContain('f32[64, 1, 4, 4]');
    expect(shapeOf('blocks.0.attn.qkv.weight')).toContain('f32[192, 64]');
    expect(shapeOf('pos_embed')).toContain('f32[1, 50, 64]');
    expect(params).toHaveLength(4 + 12 * TINY_VIT.depth + 4);
  });

  it.each([
    ['small', SMALL],
    ['tiny', TINY_VIT],
  ] as const)('computes the same logits as a direct implementation (%s)', (_name, cfg) => {
    const g = vitGraph(cfg);
    const inputs = vitInputs(g, cfg, 3);
    const logits = evaluate(g, inputs, { symbols: { B: 3 } }).logits as RefTensor;
    const direct = vitLogitsDirect(cfg, inputs, 3).flat();
    expect(logits.shape).toEqual([3, cfg.classes]);
    direct.forEach((v, i) => {
      expect(logits.data[i]).toBeCloseTo(v, 10);
    });
  });

  it('has a transformer block whose gradients equal finite differences', () => {
    const b = new GraphBuilder();
    const x = b.param('x', ['B', 5, SMALL.dim]);
    const p = (name: string, s: readonly number[]): Value => b.param(name, s);
    b.setSpan({ file: 'block.vitm', start: 0, end: 5 });
    const y = vitBlock(b, x, p, 'blocks.0', SMALL, 5);
    const g = b.build({ loss: b.sum(b.mul(y, y)) });
    const inputs: Record<string, RefTensor> = {};
    g.inputs.forEach((input, k) => {
      const s = input.value.type.shape.map((d) => (d.syms.length === 0 ? d.coeff : 2));
      inputs[input.name] = makeTensor('f32', s, weights(s, k + 1));
    });
    for (const c of gradcheck(g, inputs, { symbols: { B: 2 } })) expect(c.worst, c.name).toBeLessThanOrEqual(1e-6);
    // Backward equations carry the span of the forward equation they differentiate.
    const d = differentiate(g);
    const [seed, ...backward] = d.equations.slice(g.equations.length);
    expect(seed?.op).toBe('full'); // the cotangent seed of the loss, which has no source
    // A parameter used several times sums its cotangents at the end, outside any one use.
    const unspanned = backward.filter((eq) => eq.span?.file !== 'block.vitm').map((eq) => eq.op);
    expect(unspanned).toEqual(['add_n']);
  });

  it('agrees within f32 rounding in f32 mode', () => {
    const g = vitGraph(SMALL);
    const inputs = vitInputs(g, SMALL, 2);
    const f64 = evaluate(g, inputs, { symbols: { B: 2 } }).logits as RefTensor;
    const f32 = evaluate(g, inputs, { symbols: { B: 2 }, precision: 'f32' }).logits as RefTensor;
    const scale = Math.max(...Array.from(f64.data, Math.abs));
    f64.data.forEach((v, i) => {
      const diff = Math.abs((f32.data[i] as number) - v);
      expect(diff).toBeLessThan(1e-5 * scale);
      expect(diff).toBeGreaterThan(0); // f32 mode does round
    });
  });

  it('has gradients equal to finite differences (small ViT, every parameter)', () => {
    const g = vitGraph(SMALL);
    const checks = gradcheck(g, vitInputs(g, SMALL, 2), { symbols: { B: 2 }, directions: 2 });
    expect(checks).toHaveLength(4 + 12 * SMALL.depth + 4);
    for (const c of checks) expect(c.worst, c.name).toBeLessThanOrEqual(1e-6);
  });

  it('has gradients equal to finite differences (tiny ViT 28x28, patch 4, dim 64, depth 2, batch 2)', () => {
    const g = vitGraph(TINY_VIT);
    const checks = gradcheck(g, vitInputs(g, TINY_VIT, 2), { symbols: { B: 2 }, directions: 1 });
    for (const c of checks) expect(c.worst, c.name).toBeLessThanOrEqual(1e-6);
  }, 300_000);

  it('emits no gradient equation for frozen parameters', () => {
    const headOnly = vitGraph(TINY_VIT, { frozen: (name) => !name.startsWith('head.') });
    const d = runPasses(headOnly, [differentiatePass({ loss: 'loss' }), ...CLEANUP_PASSES], { verify: true });
    expect(d.outputs.map((o) => o.name)).toEqual([
      'loss',
      'logits',
      gradientName('head.weight'),
      gradientName('head.bias'),
    ]);
    const backward = d.equations.slice(headOnly.equations.length);
    // The only product in the backward pass is the head weight's gradient.
    expect(backward.filter((eq) => eq.op === 'matmul')).toHaveLength(1);
    const allFrozen = vitGraph(TINY_VIT, { frozen: () => true });
    const none = runPasses(allFrozen, [differentiatePass()], { verify: true });
    expect(none.equations).toHaveLength(allFrozen.equations.length);
  });

  it('matches the golden IR and gradient IR (backbone before the last block frozen)', () => {
    const frozen = (name: string): boolean =>
      name.startsWith('patch_embed.') || name === 'cls_token' || name === 'pos_embed' || name.startsWith('blocks.0.');
    const g = vitGraph(TINY_VIT, { frozen });
    golden('vit_tiny.ir', printGraph(g));
    const d = runPasses(g, [differentiatePass({ loss: 'loss' }), ...CLEANUP_PASSES], { verify: true });
    const text = printGraph(d);
    golden('vit_tiny.grad.ir', text);
    expect(text).not.toContain('"grad:blocks.0.');
    expect(text).not.toContain('"grad:patch_embed.');
    expect(text).toContain('"grad:blocks.1.attn.qkv.weight"');
  });
});
