/**
 * The ViT fixture end to end: its parameters are timm's, its forward pass equals a direct loop implementation, its
 * gradients equal finite differences, frozen parameters get no gradient equations, and its IR and gradient IR match
 * the golden files in `golden/` (`UPDATE_GOLDEN=1` rewrites them).
 */

import { readFileSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { gradcheck } from '../../compiler/gradcheck.js';
import { gradientName } from '../../compiler/ir/graph.js';
import { printGraph } from '../../compiler/ir/print.js';
import { verifyGraph } from '../../compiler/ir/verify.js';
import { CLEANUP_PASSES, differentiatePass, runPasses } from '../../compiler/passes/run-passes.js';
import { evaluate } from '../../runtime/reference/interpret.js';
import type { RefTensor } from '../../runtime/reference/tensor.js';
import { TINY_VIT, vitGraph, vitInputs, type VitConfig } from './fixtures/vit.js';
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

  it('computes the same logits as a direct implementation', () => {
    const g = vitGraph(SMALL);
    const inputs = vitInputs(g, SMALL, 3);
    const logits = evaluate(g, inputs, { symbols: { B: 3 } }).logits as RefTensor;
    const direct = vitLogitsDirect(SMALL, inputs, 3).flat();
    expect(logits.shape).toEqual([3, 3]);
    direct.forEach((v, i) => {
      expect(logits.data[i]).toBeCloseTo(v, 10);
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
