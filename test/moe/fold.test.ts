/**
 * The fold `to_ffn` on host values: the expert tensors of a MoE model are found by path; folded, the values have
 * exactly the plain model's names and shapes; after an EWA step with beta = (N - 1)/N the plain model with the folded
 * values computes what the MoE computes, and before it (unequal experts) it does not.
 */
import { describe, expect, test } from 'vitest';
import { nodeHost } from '../../cli/check.js';
import { lowerForward, SEED_INPUT } from '../../compiler/lower/lower.js';
import { compileProgram } from '../../compiler/pipeline.js';
import type { ElaboratedModel } from '../../compiler/semantic/elaborated.js';
import { ewaOnHost } from '../../runtime/hooks/ewa.js';
import { expertTensors, foldExperts, type FoldTensor } from '../../runtime/hooks/fold.js';
import { initialValues } from '../../runtime/params/init.js';
import { evaluate } from '../../runtime/reference/interpret.js';
import { makeTensor, type RefTensor } from '../../runtime/reference/tensor.js';

const FIXTURE = 'test/moe/moe_vit.vitm';

function models(): Map<string, ElaboratedModel> {
  const result = compileProgram(FIXTURE, nodeHost());
  expect(result.diagnostics).toEqual([]);
  return new Map((result.program?.models ?? []).map((m) => [m.name, m]));
}

function values(model: ElaboratedModel, seed: number): Map<string, FoldTensor> {
  return new Map(
    model.parameters.map(({ parameter: p }) => {
      const shape = p.type.shape.map((d) => d.coeff);
      // Normal weights everywhere (biases too), so the experts of every tensor differ.
      return [p.path, { shape, data: initialValues(p.path, shape, { kind: 'normal', mean: 0, std: 0.5 }, seed) }];
    }),
  );
}

function forward(model: ElaboratedModel, params: ReadonlyMap<string, FoldTensor>): Float64Array {
  const graph = lowerForward(model);
  const inputs: Record<string, RefTensor> = {};
  for (const [name, t] of params) inputs[name] = makeTensor('f32', t.shape, t.data);
  inputs.x = makeTensor(
    'f32',
    [2, 2, 8, 8],
    Array.from({ length: 256 }, (_, i) => Math.sin(i * 0.37)),
  );
  if (graph.inputs.some((i) => i.name === SEED_INPUT)) inputs[SEED_INPUT] = makeTensor('u32', [], [42]);
  return evaluate(graph, inputs, { symbols: { B: 2 } }).output?.data ?? new Float64Array();
}

describe('to_ffn', () => {
  const all = models();
  const moe = all.get('SmallEwa');
  const plain = all.get('Small');
  const topk = all.get('SmallTopK');
  if (moe === undefined || plain === undefined || topk === undefined) throw new Error('fixture models missing');

  test('finds the stacked expert tensors under a path, and no router weight', () => {
    const found = expertTensors(moe, ['blocks.1.mlp']);
    expect(found.map((t) => [t.path, t.shape, t.experts, t.elements])).toEqual([
      ['blocks.1.mlp.fc1.weight', [2, 16, 8], 2, 128],
      ['blocks.1.mlp.fc1.bias', [2, 16], 2, 16],
      ['blocks.1.mlp.fc2.weight', [2, 8, 16], 2, 128],
      ['blocks.1.mlp.fc2.bias', [2, 8], 2, 8],
    ]);
    expect(expertTensors(moe, ['blocks.0'])).toEqual([]);
    expect(expertTensors(moe)).toEqual(found);
    expect(expertTensors(topk).map((t) => t.path)).toEqual([
      'blocks.1.mlp.fc1.weight',
      'blocks.1.mlp.fc1.bias',
      'blocks.1.mlp.fc2.weight',
      'blocks.1.mlp.fc2.bias',
    ]);
  });

  test('gives the plain model’s names and shapes, and the experts’ means', () => {
    const v = values(moe, 3);
    const folded = foldExperts(v, expertTensors(moe));
    expect([...folded].map(([name, t]) => [name, t.shape])).toEqual(
      plain.parameters.map(({ parameter: p }) => [p.path, p.type.shape.map((d) => d.coeff)]),
    );
    const stacked = v.get('blocks.1.mlp.fc2.bias')?.data ?? [];
    expect(Array.from(folded.get('blocks.1.mlp.fc2.bias')?.data ?? [])).toEqual(
      Array.from({ length: 8 }, (_, k) => ((stacked[k] ?? NaN) + (stacked[k + 8] ?? NaN)) / 2),
    );
  });

  test('after a collapsing EWA step the plain model with the folded values is the MoE', () => {
    const v = values(moe, 5);
    const experts = expertTensors(moe);
    const before = forward(moe, v);
    const unequal = forward(plain, foldExperts(v, experts));
    expect(Math.max(...before.map((x, i) => Math.abs(x - (unequal[i] ?? NaN))))).toBeGreaterThan(1e-3);
    const collapsed = new Map(v);
    for (const t of experts) {
      const data = v.get(t.path)?.data ?? [];
      collapsed.set(t.path, { shape: t.shape, data: ewaOnHost(data, t.experts, (t.experts - 1) / t.experts) });
    }
    const after = forward(moe, collapsed);
    const folded = forward(plain, foldExperts(collapsed, experts));
    expect(after.length).toBe(6);
    expect(Math.max(...after.map((x, i) => Math.abs(x - (folded[i] ?? NaN))))).toBeLessThan(1e-12);
  });
});
