/**
 * The end-to-end property of EWA (METHODS.md, section 4): with experts that start equal and beta = (N - 1)/N after
 * every step, k steps of (momentum) SGD on the MoE model are k steps on the dense model with the FFN's gradient scaled
 * by 1/N. It exercises autodiff through the partition's gathers, the expert gradients' scatters and the EWA update:
 * the MoE's experts each see only their tokens, and only their mean follows the dense FFN.
 */
import { describe, expect, test } from 'vitest';
import { nodeHost } from '../../cli/check.js';
import { compileModel, compileProgram } from '../../compiler/pipeline.js';
import type { Graph } from '../../compiler/ir/graph.js';
import { SEED_INPUT } from '../../compiler/lower/lower.js';
import { ewaOnHost } from '../../runtime/hooks/ewa.js';
import { initialValues } from '../../runtime/params/init.js';
import { normalFromBits, randomWords } from '../../runtime/reference/philox.js';
import { evaluate } from '../../runtime/reference/interpret.js';
import { makeTensor, type RefTensor } from '../../runtime/reference/tensor.js';

const FIXTURE = 'test/moe/moe_vit.vitm';
const EXPERTS = 2;
const MOE = 'blocks.1.mlp.';
const B = 2;

function training(name: string): { graph: Graph; init: Map<string, RefTensor> } {
  const result = compileProgram(FIXTURE, nodeHost());
  const model = result.program?.models.find((m) => m.name === name);
  if (model === undefined) throw new Error(`no model ${name}`);
  const graph = compileModel(model).training;
  const init = new Map<string, RefTensor>();
  for (const { parameter } of model.parameters) {
    const shape = parameter.type.shape.map((d) => d.coeff);
    init.set(parameter.path, makeTensor('f32', shape, initialValues(parameter.path, shape, parameter.init, 5)));
  }
  return { graph, init };
}

/** The dense model's FFN tensor stacked N times: the MoE's experts, all equal. */
function stacked(t: RefTensor): RefTensor {
  const data = new Float64Array(t.data.length * EXPERTS);
  for (let e = 0; e < EXPERTS; e++) data.set(t.data, e * t.data.length);
  return makeTensor(t.dtype, [EXPERTS, ...t.shape], data);
}

function batch(step: number): Record<string, RefTensor> {
  const n = B * 2 * 8 * 8;
  const x = Array.from({ length: n }, (_, i) => {
    const w = randomWords(step, 77, i);
    return normalFromBits(w[0], w[1]);
  });
  return {
    x: makeTensor('f32', [B, 2, 8, 8], x),
    labels: makeTensor('i32', [B], [step % 3, (step + 1) % 3]),
    [SEED_INPUT]: makeTensor('u32', [], [1000 + step]),
  };
}

interface Optimizer {
  readonly lr: number;
  readonly momentum: number;
}

/** k steps of SGD with momentum (PyTorch's form: v <- mu v + g, p <- p - lr v); `after` runs after each step. */
function train(
  graph: Graph,
  params: Map<string, RefTensor>,
  steps: number,
  opt: Optimizer,
  scale: (name: string) => number,
  after: (params: Map<string, RefTensor>) => void,
): void {
  const velocity = new Map<string, Float64Array>();
  for (let step = 0; step < steps; step++) {
    const inputs: Record<string, RefTensor> = Object.fromEntries(params);
    for (const [k, v] of Object.entries(batch(step))) if (graph.inputs.some((i) => i.name === k)) inputs[k] = v;
    const out = evaluate(graph, inputs, { symbols: { B } });
    for (const [name, p] of params) {
      const g = out[`grad:${name}`];
      if (g === undefined) throw new Error(`no gradient for ${name}`);
      const v = velocity.get(name) ?? new Float64Array(p.data.length);
      const s = scale(name);
      for (let i = 0; i < v.length; i++) v[i] = opt.momentum * (v[i] ?? 0) + s * (g.data[i] ?? 0);
      velocity.set(name, v);
      params.set(
        name,
        makeTensor(
          p.dtype,
          p.shape,
          p.data.map((x, i) => x - opt.lr * (v[i] ?? 0)),
        ),
      );
    }
    after(params);
  }
}

describe('EWA with beta = (N - 1)/N', () => {
  test.each([
    { lr: 0.5, momentum: 0 },
    { lr: 0.3, momentum: 0.9 },
  ])('k steps of the MoE equal k dense steps with the FFN gradient / N (%o)', (opt) => {
    const dense = training('Small');
    const moe = training('SmallEwa');
    const denseParams = new Map(dense.init);
    const moeParams = new Map<string, RefTensor>();
    for (const name of moe.init.keys()) {
      const d = dense.init.get(name);
      if (d === undefined) throw new Error(`no dense tensor ${name}`);
      moeParams.set(name, name.startsWith(MOE) ? stacked(d) : d);
    }
    const beta = (EXPERTS - 1) / EXPERTS;
    const steps = 3;
    let spread = 0;
    train(
      moe.graph,
      moeParams,
      steps,
      opt,
      () => 1,
      (params) => {
        for (const [name, p] of params) {
          if (!name.startsWith(MOE)) continue;
          // Before averaging, the experts differ: each saw only its own tokens.
          const half = p.data.length / EXPERTS;
          for (let i = 0; i < half; i++)
            spread = Math.max(spread, Math.abs((p.data[i] ?? 0) - (p.data[i + half] ?? 0)));
          params.set(name, makeTensor(p.dtype, p.shape, ewaOnHost(p.data, EXPERTS, beta)));
        }
      },
    );
    train(
      dense.graph,
      denseParams,
      steps,
      opt,
      (name) => (name.startsWith(MOE) ? 1 / EXPERTS : 1),
      () => undefined,
    );
    expect(spread).toBeGreaterThan(1e-4);
    let worst = 0;
    for (const [name, d] of denseParams) {
      const m = moeParams.get(name);
      if (m === undefined) throw new Error(`no MoE tensor ${name}`);
      const n = d.data.length;
      for (let e = 0; e < (name.startsWith(MOE) ? EXPERTS : 1); e++) {
        for (let i = 0; i < n; i++) worst = Math.max(worst, Math.abs((m.data[e * n + i] ?? NaN) - (d.data[i] ?? NaN)));
      }
      // The weights moved: the comparison is not between untouched initial values.
      const initial = dense.init.get(name);
      expect(
        d.data.some((x, i) => x !== initial?.data[i]),
        name,
      ).toBe(true);
    }
    expect(worst).toBeLessThan(1e-12);
  });
});
