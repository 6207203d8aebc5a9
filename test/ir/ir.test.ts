/** The IR core: printer format, builder type errors, the verifier's messages, autodiff's accumulation and sharing. */

import { describe, expect, it } from 'vitest';
import { gradcheck } from '../../compiler/gradcheck.js';
import { GraphBuilder } from '../../compiler/ir/builder.js';
import { IrTypeError, IrVerifyError } from '../../compiler/ir/errors.js';
import { gradientName, type Equation, type Graph } from '../../compiler/ir/graph.js';
import { printGraph } from '../../compiler/ir/print.js';
import { verifyGraph } from '../../compiler/ir/verify.js';
import { differentiate } from '../../compiler/passes/differentiate.js';
import { differentiatePass, runPasses, type Pass } from '../../compiler/passes/run-passes.js';
import { shape } from '../../compiler/types/shape.js';
import { evaluate } from '../../runtime/reference/interpret.js';
import { makeTensor, type RefTensor } from '../../runtime/reference/tensor.js';
import { weights } from '../ops/numpy.js';

function tiny(): Graph {
  const b = new GraphBuilder();
  const x = b.data('x', ['B', 3]);
  const w = b.param('w', [4, 3]);
  const bias = b.param('bias', [4], { trainable: false });
  b.setSpan({ file: 'm.vitm', start: 10, end: 20 });
  const y = b.linear(x, w, bias);
  b.setSpan(undefined);
  return b.build({ loss: b.mean(b.relu(y)) });
}

describe('the printer', () => {
  it('prints the canonical text form', () => {
    expect(printGraph(tiny())).toBe(
      [
        'graph {',
        '  data %0: f32[B, 3] "x"',
        '  param %1: f32[4, 3] "w"',
        '  param %2: f32[4] "bias" frozen',
        '  %3: f32[B, 4] = matmul(%0, %1) {transposeA=false, transposeB=true}',
        '  %4: f32[B, 4] = add(%3, %2)',
        '  %5: f32[B, 4] = relu(%4)',
        '  %6: f32[] = reduce_mean(%5) {axes=[0, 1], keepdims=false}',
        '  output "loss" = %6',
        '}',
        '',
      ].join('\n'),
    );
  });

  it('prints spans on request', () => {
    expect(printGraph(tiny(), { spans: true })).toContain('= add(%3, %2) @m.vitm:10-20');
  });
});

describe('the builder', () => {
  it('rejects ill-typed equations where they are built', () => {
    const b = new GraphBuilder();
    const x = b.data('x', [2, 3]);
    expect(() => b.matmul(x, x)).toThrow(IrTypeError);
    expect(() => b.matmul(x, x)).toThrow(/contracted dimensions differ: 3 and 2/);
    expect(() => b.add(x, b.data('y', [4]))).toThrow(/do not broadcast/);
    expect(() => b.reshape(x, [5])).toThrow(/element count/);
    expect(() => b.exp(b.data('i', [2], 'i32'))).toThrow(/float/);
    expect(() => b.param('x', [1])).toThrow(/duplicate input/);
  });

  it('keeps symbolic dimensions through reshapes', () => {
    const b = new GraphBuilder();
    const x = b.data('x', ['B', 4, 6]);
    expect(b.reshape(x, [shape(['B'])[0] ?? 1, 24]).type.shape).toEqual(shape(['B', 24]));
  });
});

describe('the verifier', () => {
  it('accepts built graphs', () => {
    expect(() => {
      verifyGraph(tiny());
    }).not.toThrow();
  });

  it('rejects an equation whose type disagrees with its rule, printing the IR around it', () => {
    const g = tiny();
    const bad = g.equations[1] as Equation;
    const broken: Graph = {
      ...g,
      equations: g.equations.map((eq) =>
        eq === bad ? { ...bad, out: { ...bad.out, type: { dtype: 'f16', shape: bad.out.type.shape } } } : eq,
      ),
    };
    expect(() => {
      verifyGraph(broken, 'test');
    }).toThrow(IrVerifyError);
    try {
      verifyGraph(broken, 'test');
    } catch (e) {
      const message = (e as Error).message;
      expect(message).toContain(
        'IR verification failed after test: add has type f16[B, 4] but its rule gives f32[B, 4]',
      );
      expect(message).toContain('>>   %4: f16[B, 4] = add(%3, %2)');
      expect(message).toContain('   %3: f32[B, 4] = matmul(%0, %1)');
    }
  });

  it('rejects uses before definitions and duplicate outputs', () => {
    const g = tiny();
    const [first, second] = g.equations as [Equation, Equation];
    expect(() => {
      verifyGraph({ ...g, equations: [second, first, ...g.equations.slice(2)] });
    }).toThrow(/equation defines %4, expected %3/);
    const out = g.outputs[0];
    if (out === undefined) throw new Error('no output');
    expect(() => {
      verifyGraph({ ...g, outputs: [out, out] });
    }).toThrow(/duplicate output name 'loss'/);
  });

  it('names the pass that broke the IR', () => {
    const breaking: Pass = { name: 'break-things', run: (g) => ({ ...g, equations: g.equations.slice(1) }) };
    expect(() => runPasses(tiny(), [breaking], { verify: true })).toThrow(/after break-things/);
  });
});

describe('differentiate', () => {
  it('adds the gradients of trainable parameters only', () => {
    const d = runPasses(tiny(), [differentiatePass()], { verify: true });
    expect(d.outputs.map((o) => o.name)).toEqual(['loss', gradientName('w')]);
  });

  it('accumulates every use of a value', () => {
    const b = new GraphBuilder();
    const x = b.param('x', [3]);
    const g = b.build({ loss: b.sum(b.mul(x, x)) });
    const x0 = makeTensor('f32', [3], [1, -2, 0.5]);
    const grad = evaluate(differentiate(g), { x: x0 })[gradientName('x')] as RefTensor;
    expect(Array.from(grad.data)).toEqual([2, -4, 1]);
    expect(printGraph(differentiate(g))).toContain('add_n(');
  });

  it('gives a shared parameter the sum of the gradients of its untied copies', () => {
    // y = W2 tanh(W1 x + b), with W1 and W2 one parameter (tied) or two parameters holding the same values (untied).
    const model = (tied: boolean): Graph => {
      const b = new GraphBuilder();
      const x = b.data('x', ['B', 4]);
      const w1 = b.param('w', [4, 4]);
      const w2 = tied ? w1 : b.param('w_copy', [4, 4]);
      const bias = b.param('b', [4]);
      const y = b.linear(b.tanh(b.linear(x, w1, bias)), w2);
      return b.build({ loss: b.mean(b.mul(y, y)) });
    };
    const w = makeTensor('f32', [4, 4], weights([4, 4], 3));
    const inputs = { x: makeTensor('f32', [5, 4], weights([5, 4], 4)), w, b: makeTensor('f32', [4], weights([4], 5)) };
    const symbols = { B: 5 };
    const tied = evaluate(differentiate(model(true)), inputs, { symbols });
    const untied = evaluate(differentiate(model(false)), { ...inputs, w_copy: w }, { symbols });
    const sum = (untied[gradientName('w')] as RefTensor).data.map(
      (v, i) => v + ((untied[gradientName('w_copy')] as RefTensor).data[i] as number),
    );
    const tiedGrad = (tied[gradientName('w')] as RefTensor).data;
    tiedGrad.forEach((v, i) => {
      expect(v).toBeCloseTo(sum[i] as number, 14);
    });
    expect(Math.max(...Array.from(tiedGrad, Math.abs))).toBeGreaterThan(1e-3);
    for (const c of gradcheck(model(true), inputs, { symbols })) expect(c.worst, c.name).toBeLessThanOrEqual(1e-6);
  });

  it('divides by a symbolic batch size in the gradient of a mean over the batch', () => {
    const b = new GraphBuilder();
    const x = b.param('x', ['B', 2]);
    const g = b.build({ loss: b.mean(b.mul(x, x)) });
    expect(printGraph(differentiate(g))).toContain('dim_size() {dim=2*B, dtype=f32}');
    const inputs = { x: makeTensor('f32', [3, 2], [1, 2, 3, 4, 5, 6]) };
    const grad = evaluate(differentiate(g), inputs, { symbols: { B: 3 } })[gradientName('x')] as RefTensor;
    Array.from(grad.data).forEach((v, i) => {
      expect(v).toBeCloseTo((2 * (i + 1)) / 6, 14);
    });
  });

  it('gives a zero gradient to a trainable parameter the loss ignores, and none through stop_gradient', () => {
    const b = new GraphBuilder();
    const x = b.param('x', [2]);
    b.param('unused', [3]);
    const g = b.build({ loss: b.sum(b.mul(b.stopGradient(x), x)) });
    const out = evaluate(differentiate(g), {
      x: makeTensor('f32', [2], [3, 4]),
      unused: makeTensor('f32', [3], [1, 1, 1]),
    });
    expect(Array.from((out[gradientName('x')] as RefTensor).data)).toEqual([3, 4]);
    expect(Array.from((out[gradientName('unused')] as RefTensor).data)).toEqual([0, 0, 0]);
  });

  it('routes a zero vector through cosine similarity without NaN', () => {
    const b = new GraphBuilder();
    const a = b.param('a', [2, 3]);
    const e = b.param('e', [2, 3]);
    const g = b.build({ loss: b.sum(b.cosineSimilarity(a, e)) });
    const out = evaluate(differentiate(g), {
      a: makeTensor('f32', [2, 3], [0, 0, 0, 1, 2, 3]),
      e: makeTensor('f32', [2, 3], [1, 0, 0, 0, 0, 0]),
    });
    for (const t of Object.values(out)) for (const v of t.data) expect(Number.isFinite(v)).toBe(true);
  });
});
