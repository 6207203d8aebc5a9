/**
 * The ops the research methods need, composed as the standard library will: a random token partition for a mixture of
 * experts (permutation, gather, batched experts, scatter back) and top-1 cosine routing.
 */

import { describe, expect, it } from 'vitest';
import { gradcheck } from '../../compiler/gradcheck.js';
import { GraphBuilder } from '../../compiler/ir/builder.js';
import { gradientName, type Graph } from '../../compiler/ir/graph.js';
import { differentiate } from '../../compiler/passes/differentiate.js';
import { evaluate } from '../../runtime/reference/interpret.js';
import { randomPermutation } from '../../runtime/reference/kernels.js';
import { makeTensor, type RefTensor } from '../../runtime/reference/tensor.js';
import { weights } from '../ops/numpy.js';

const T = 8; // tokens
const D = 3; // width
const N = 2; // experts

/** y = scatter(expert_g(gather(x, perm) group g)): every token through the expert of its group. */
function randomPartitionMoe(): Graph {
  const b = new GraphBuilder();
  const x = b.param('x', [T, D]);
  const w = b.param('experts', [N, D, D]);
  const seed = b.data('seed', [], 'u32');
  const perm = b.randomPermutation(seed, T, 0);
  const grouped = b.reshape(b.take(x, perm, 0), [N, T / N, D]);
  const out = b.reshape(b.matmul(grouped, w, { transposeB: true }), [T, D]);
  const y = b.scatterAdd(perm, out, 0, T);
  return b.build({ loss: b.sum(b.mul(y, b.constant(weights([T, D], 9), [T, D]))), y });
}

describe('random token partition (EWA)', () => {
  const inputs = {
    x: makeTensor('f32', [T, D], weights([T, D], 1)),
    experts: makeTensor('f32', [N, D, D], weights([N, D, D], 2)),
    seed: makeTensor('u32', [], [12345]),
  };

  it('sends each token through the expert of its group and restores token order', () => {
    const y = evaluate(randomPartitionMoe(), inputs).y as RefTensor;
    const perm = randomPermutation(12345, 0, T);
    perm.forEach((token, position) => {
      const e = Math.floor(position / (T / N));
      for (let o = 0; o < D; o++) {
        let s = 0;
        for (let i = 0; i < D; i++)
          s += (inputs.experts.data[(e * D + o) * D + i] as number) * (inputs.x.data[token * D + i] as number);
        expect(y.data[token * D + o]).toBeCloseTo(s, 14);
      }
    });
  });

  it('has gradients equal to finite differences', () => {
    for (const c of gradcheck(randomPartitionMoe(), inputs)) expect(c.worst, c.name).toBeLessThanOrEqual(1e-6);
  });
});

describe('top-1 cosine routing (Adapter-X)', () => {
  // p = softmax(cos(z, e_i) / tau); output = p_{i*} * A_{i*} z with A_i = diag(a_i).
  function router(): Graph {
    const b = new GraphBuilder();
    const z = b.param('z', [4, D]);
    const e = b.param('embeddings', [N, D]);
    const a = b.param('adapters', [N, D]);
    const cos = b.cosineSimilarity(b.reshape(z, [4, 1, D]), b.reshape(e, [1, N, D]), -1);
    const p = b.softmax(b.div(cos, 0.5), -1);
    const top = b.reshape(b.argmax(p, -1), [4, 1]);
    const pTop = b.takeAlongAxis(p, top, -1);
    const chosen = b.take(a, b.reshape(top, [4]), 0);
    const y = b.mul(pTop, b.mul(chosen, z));
    return b.build({ loss: b.sum(b.mul(y, b.constant(weights([4, D], 3), [4, D]))) });
  }
  const inputs = {
    z: makeTensor('f32', [4, D], weights([4, D], 4)),
    embeddings: makeTensor('f32', [N, D], weights([N, D], 5)),
    adapters: makeTensor('f32', [N, D], weights([N, D], 6)),
  };

  it('has gradients equal to finite differences', () => {
    for (const c of gradcheck(router(), inputs)) expect(c.worst, c.name).toBeLessThanOrEqual(1e-6);
  });

  it('gives exactly zero gradient to an expert no token selects', () => {
    // Tokens with positive entries all point towards embedding 0 = (1, 1, 1) and away from embedding 1 = -(1, 1, 1).
    const positive = {
      ...inputs,
      z: makeTensor(
        'f32',
        [4, D],
        weights([4, D], 4).map((v) => Math.abs(v) + 0.1),
      ),
    };
    const chosen = { ...positive, embeddings: makeTensor('f32', [N, D], [1, 1, 1, -1, -1, -1]) };
    const grads = evaluate(differentiate(router()), chosen);
    const adapters = grads[gradientName('adapters')] as RefTensor;
    expect(Array.from(adapters.data.slice(D))).toEqual([0, 0, 0]);
    expect(Array.from(adapters.data.slice(0, D)).every((v) => v !== 0)).toBe(true);
    // The unselected expert's embedding still learns through the softmax's normaliser.
    const embeddings = grads[gradientName('embeddings')] as RefTensor;
    expect(Array.from(embeddings.data.slice(D)).some((v) => v !== 0)).toBe(true);
  });
});
