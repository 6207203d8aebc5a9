/**
 * std.moe in models: the random partition gives every expert the same number of positions up to one, for token counts
 * the experts do not divide too, redraws it per seed and agrees on the device bit for bit; the load-balance loss is
 * the Switch formula; a ViT with an EWA MoE or a top-k MoE block lowers, and its gradients pass `vitm gradcheck` on
 * the reference and on the device.
 */
import { describe, expect, test, type TestContext } from 'vitest';
import { nodeHost } from '../../cli/check.js';
import { lowerForward, SEED_INPUT } from '../../compiler/lower/lower.js';
import { compileProgram } from '../../compiler/pipeline.js';
import type { ElaboratedModel } from '../../compiler/semantic/elaborated.js';
import { evaluate } from '../../runtime/reference/interpret.js';
import { makeTensor } from '../../runtime/reference/tensor.js';
import { runGraphOnGpu } from '../../runtime/webgpu/executor.js';
import { JS_STACK_FRAME, runCli } from '../support/cli.js';
import { openTestDevice } from '../support/gpu.js';

const FIXTURE = 'test/moe/moe_vit.vitm';

function model(name: string): ElaboratedModel {
  const result = compileProgram(FIXTURE, nodeHost());
  expect(result.diagnostics).toEqual([]);
  const found = result.program?.models.find((m) => m.name === name);
  if (found === undefined) throw new Error(`no model ${name}`);
  return found;
}

function countsInputs(tokens: number, seed: number): Record<string, ReturnType<typeof makeTensor>> {
  return {
    x: makeTensor('f32', [1, tokens, 4]),
    [SEED_INPUT]: makeTensor('u32', [], [seed]),
  };
}

describe('the random partition', () => {
  const graph = lowerForward(model('Assign'));
  const assign = (tokens: number, seed: number): number[] =>
    Array.from(evaluate(graph, countsInputs(tokens, seed), { symbols: { B: 1, N: tokens } }).output?.data ?? []);

  test('gives each of 3 experts N/3 positions up to one, every position once, for N = 1..40', () => {
    for (let tokens = 1; tokens <= 40; tokens++) {
      for (const seed of [0, 1, 12345]) {
        const experts = assign(tokens, seed);
        expect(experts.length).toBe(tokens);
        const counts = [0, 1, 2].map((e) => experts.filter((x) => x === e).length);
        expect(
          counts.reduce((a, b) => a + b, 0),
          `N = ${tokens}`,
        ).toBe(tokens);
        expect(Math.max(...counts) - Math.min(...counts), `N = ${tokens}`).toBeLessThanOrEqual(1);
      }
    }
  });

  test('is redrawn with the seed: 20 seeds give 20 different partitions of 12 positions', () => {
    const seen = new Set<string>();
    for (let seed = 0; seed < 20; seed++) seen.add(assign(12, seed).join(','));
    // 12! / (4!)^3 = 34,650 partitions: twenty draws repeat one with probability below 1%.
    expect(seen.size).toBeGreaterThanOrEqual(19);
  });

  test('is the same on the device, bit for bit', async (ctx: TestContext) => {
    const gpu = await openTestDevice(ctx);
    try {
      for (const [tokens, seed] of [
        [7, 3],
        [50, 99],
      ] as const) {
        const inputs = countsInputs(tokens, seed);
        const symbols = { B: 1, N: tokens };
        const got = await runGraphOnGpu(gpu, graph, inputs, { symbols });
        expect(Array.from(got.output?.data ?? [])).toEqual(assign(tokens, seed));
      }
    } finally {
      gpu.dispose();
    }
  });
});

describe('the load-balance loss', () => {
  const graph = lowerForward(model('Balance'));
  const loss = (probs: number[][]): number =>
    evaluate(
      graph,
      { probs: makeTensor('f32', [1, probs.length, 3], probs.flat()) },
      { symbols: { B: 1, N: probs.length } },
    ).output?.data[0] ?? NaN;

  test('is 1 for a balanced router and 3 when every token picks one expert with certainty', () => {
    expect(
      loss([
        [0.6, 0.2, 0.2],
        [0.2, 0.6, 0.2],
        [0.2, 0.2, 0.6],
      ]),
    ).toBeCloseTo(1, 12);
    expect(
      loss([
        [1, 0, 0],
        [1, 0, 0],
      ]),
    ).toBeCloseTo(3, 12);
  });
});

describe('a ViT with mixture-of-experts blocks', () => {
  test.each(['SmallEwa', 'SmallTopK'])('%s passes vitm gradcheck on the reference', (name) => {
    const r = runCli(['gradcheck', FIXTURE, '--model', name, '--batch', '2'], {}, 120_000);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/blocks\.1\.mlp\.fc1\.weight\s+\[\d, 16, 8\]\s+\d\.\d\de-\d+\s+ok/);
  });

  test('SmallEwa passes vitm gradcheck on the device', async (ctx: TestContext) => {
    const gpu = await openTestDevice(ctx);
    gpu.dispose();
    const r = runCli(['gradcheck', FIXTURE, '--model', 'SmallEwa', '--batch', '2', '--backend', 'webgpu'], {}, 120_000);
    expect(r.stderr).not.toMatch(JS_STACK_FRAME);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/\nok: 32 gradients checked/);
  });
});
