/**
 * The law runner: the laws of stdlib/moe.vitm and test/laws/holds.vitm hold on the reference and on the device; every
 * law of test/laws/false.vitm fails with a shrunk counterexample that really breaks it; `vitm test` prints coded
 * errors with the law's file:line:col and exits 1 for them, 0 when every law holds.
 */
import { describe, expect, test, type TestContext } from 'vitest';
import { nodeHost } from '../../cli/check.js';
import { lowerLaw } from '../../compiler/lower/lower.js';
import { GraphBuilder } from '../../compiler/ir/builder.js';
import { checkProgram, memoryHost } from '../../compiler/frontend.js';
import { compileProgram } from '../../compiler/pipeline.js';
import type { ElaboratedLaw } from '../../compiler/semantic/elaborated.js';
import { checkLaw, type LawResult } from '../../runtime/laws/check.js';
import { renderLawResult } from '../../runtime/laws/report.js';
import { accumulationLengths, allowance, reductionLength } from '../../runtime/laws/tolerance.js';
import { evaluate } from '../../runtime/reference/interpret.js';
import { JS_STACK_FRAME, runCli } from '../support/cli.js';
import { openTestDevice } from '../support/gpu.js';

function lawsOf(file: string): { laws: readonly ElaboratedLaw[]; files: ReturnType<typeof compileProgram>['files'] } {
  const result = compileProgram(file, nodeHost());
  expect(result.diagnostics).toEqual([]);
  return { laws: result.program?.laws ?? [], files: result.files };
}

const MOE_LAWS = [
  'equal_experts_moe_is_ffn',
  'inverse_permutation_restores_order',
  'ewa_keeps_the_mean',
  'ewa_shrinks_deviations',
  'ewa_collapses_at_beta_max',
  'collapsed_moe_is_its_fold',
  'equal_experts_topk_moe_is_ffn',
];

/** Re-evaluates a failing result's counterexample on the reference: the two sides differ there beyond the allowance. */
function confirmCounterexample(law: ElaboratedLaw, result: LawResult): void {
  const c = result.counterexample;
  const m = c?.mismatch;
  if (c === undefined || m === undefined) throw new Error(`${law.name}: no counterexample with a mismatch`);
  expect(Math.abs(m.lhs - m.rhs), law.name).toBeGreaterThan(m.allowed);
  const outputs = evaluate(lowerLaw(law), c.case.inputs, { symbols: c.case.symbols, precision: 'f32' });
  const lhs = outputs[m.output];
  const rhs = outputs[`rhs${m.output.slice(3)}`];
  if (lhs === undefined || rhs === undefined) throw new Error(`${law.name}: no output ${m.output}`);
  const at = m.index.reduce((flat, i, axis) => flat * (lhs.shape[axis] ?? 1) + i, 0);
  expect(Math.abs((lhs.data[at] ?? NaN) - (rhs.data[at] ?? NaN)), law.name).toBeGreaterThan(m.allowed);
}

describe('the tolerance rule', () => {
  test('reduction lengths: matmul contraction, reduced axes, softmax rows, add_n arity', () => {
    const b = new GraphBuilder();
    const x = b.data('x', ['B', 5, 7]);
    const w = b.param('w', [3, 7]);
    const y = b.matmul(x, w, { transposeB: true });
    const s = b.sum(y, [0, 1]);
    const m = b.softmax(x, -1);
    const n = b.addN([m, m, m]);
    const g = b.build({ s, n });
    const lengths = g.equations.map((eq) => reductionLength(eq, { B: 4 }));
    expect(lengths).toEqual([7, 20, 7, 3]);
    const acc = accumulationLengths(g, { B: 4 });
    expect(acc.get(g.outputs[0]?.value.id ?? -1)).toBe(27);
    expect(acc.get(g.outputs[1]?.value.id ?? -1)).toBe(10);
  });

  test('the allowance is 8 u A S plus the smallest normal; integers compare exactly', () => {
    expect(allowance('f32', 10, 2)).toBe(8 * 2 ** -24 * 10 * 2 + 2 ** -126);
    expect(allowance('f16', 1, 1)).toBe(8 * 2 ** -11 + 2 ** -14);
    expect(allowance('i32', 100, 100)).toBe(0);
  });
});

describe('laws on the reference interpreter', () => {
  test('lowering names a module parameter after the law parameter that holds it', () => {
    const law = lawsOf('test/laws/false.vitm').laws.find((l) => l.name === 'fold_is_the_moe');
    expect(law).toBeDefined();
    if (law === undefined) return;
    const names = lowerLaw(law).inputs.map((i) => i.name);
    expect(names).toEqual([
      't.moe.fc1.weight',
      't.moe.fc1.bias',
      't.moe.fc2.weight',
      't.moe.fc2.bias',
      'x',
      'rng.seed',
    ]);
  });

  test('every law of stdlib/moe.vitm holds', async () => {
    const { laws } = lawsOf('stdlib/moe.vitm');
    expect(laws.map((l) => l.name)).toEqual(MOE_LAWS);
    for (const law of laws) {
      const r = await checkLaw(law, 'reference', { runs: 40, seed: 7 });
      expect(r.counterexample?.mismatch ?? r.counterexample?.error, law.name).toBeUndefined();
      expect(r.ok, law.name).toBe(true);
      expect(r.runs).toBe(40);
    }
  });

  test('laws of plain layers hold', async () => {
    for (const law of lawsOf('test/laws/holds.vitm').laws) {
      expect((await checkLaw(law, 'reference', { runs: 30 })).ok, law.name).toBe(true);
    }
  });

  test('a when condition skips the cases it rejects; a law no case meets is reported untested', async () => {
    const relu = lawsOf('test/laws/holds.vitm').laws.find((l) => l.name === 'relu_is_the_identity_on_nonnegatives');
    if (relu === undefined) throw new Error('no relu law');
    const held = await checkLaw(relu, 'reference', { runs: 30 });
    expect(held.ok).toBe(true);
    expect(held.skipped).toBeGreaterThan(0);
    const { laws, files } = lawsOf('test/laws/untested.vitm');
    const never = laws[0];
    if (never === undefined) throw new Error('no law');
    const r = await checkLaw(never, 'reference', { runs: 10 });
    expect(r.ok).toBe(false);
    expect(r.counterexample).toBeUndefined();
    expect(renderLawResult(r, files)).toMatch(
      /^test\/laws\/untested\.vitm:2:1: error VT6019: the law 'never_tested' could not be tested on reference: its when condition was false in \d+ drawn cases and true in 0/,
    );
  });

  test('when declares bounds of dimension symbols; without them the same law fails', async () => {
    const { laws } = lawsOf('test/laws/holds.vitm');
    const half = laws.find((l) => l.name === 'mean_is_half_the_sum_of_two');
    const one = laws.find((l) => l.name === 'mean_is_the_sum_for_one_column');
    expect(half?.bounds).toEqual({ N: { min: 2, max: 2 } });
    expect(half?.when).toBeDefined();
    expect(one?.bounds).toEqual({ N: { min: 1, max: 1 } });
    expect(one?.when).toBeUndefined();
    const unbounded = (text: string): ElaboratedLaw => {
      const r = checkProgram('l.vitm', memoryHost(new Map([['l.vitm', text]])));
      const law = r.program?.laws[0];
      if (law === undefined) throw new Error(JSON.stringify(r.diagnostics));
      return law;
    };
    const free = unbounded('law l(x: f32[N]): mean(x) * 2.0 == sum(x)');
    expect((await checkLaw(free, 'reference', { runs: 30 })).ok).toBe(false);
    const bounded = unbounded('law l(x: f32[N]) when 2 <= N and N <= 2: mean(x) * 2.0 == sum(x)');
    expect((await checkLaw(bounded, 'reference', { runs: 30 })).ok).toBe(true);
    const empty = checkProgram(
      'l.vitm',
      memoryHost(new Map([['l.vitm', 'law l(x: f32[N]) when N > 4 and N < 3: x == x']])),
    );
    expect(empty.diagnostics.map((d) => [d.code, d.message])).toEqual([
      ['VT5103', 'the bounds leave N no value (5 to 2)'],
    ]);
  });

  test('every false law fails with a shrunk counterexample that breaks it', async () => {
    const { laws, files } = lawsOf('test/laws/false.vitm');
    expect(laws.length).toBe(5);
    for (const law of laws) {
      const r = await checkLaw(law, 'reference', { runs: 30 });
      expect(r.ok, law.name).toBe(false);
      confirmCounterexample(law, r);
      const text = renderLawResult(r, files);
      expect(text).toMatch(
        new RegExp(`^test/laws/false\\.vitm:\\d+:1: error VT6019: the law '${law.name}' does not hold`),
      );
      expect(text).toContain('counterexample (after');
    }
  });

  test('shrinking reaches a small case: the square law fails at one element of 1/64', async () => {
    const law = lawsOf('test/laws/false.vitm').laws.find((l) => l.name === 'square_is_identity');
    if (law === undefined) throw new Error('no square_is_identity law');
    const r = await checkLaw(law, 'reference', { runs: 50, seed: 1 });
    expect(r.counterexample?.case.symbols).toEqual({ B: 1, K: 1 });
    expect(Array.from(r.counterexample?.case.inputs.x?.data ?? [])).toEqual([0.015625]);
  });
});

describe('laws on the WebGPU device', () => {
  test('the laws of stdlib/moe.vitm hold; false laws fail with a counterexample', async (ctx: TestContext) => {
    const gpu = await openTestDevice(ctx);
    try {
      for (const law of lawsOf('stdlib/moe.vitm').laws) {
        const r = await checkLaw(law, 'webgpu', { runs: 8, gpu, maxDim: 3 });
        expect(r.counterexample?.mismatch ?? r.counterexample?.error, law.name).toBeUndefined();
        expect(r.ok, law.name).toBe(true);
      }
      const { laws } = lawsOf('test/laws/false.vitm');
      for (const name of ['fold_is_the_moe', 'permutation_is_an_involution']) {
        const law = laws.find((l) => l.name === name);
        if (law === undefined) throw new Error(`no law ${name}`);
        const r = await checkLaw(law, 'webgpu', { runs: 8, gpu, maxDim: 3 });
        expect(r.ok, name).toBe(false);
        confirmCounterexample(law, r);
      }
    } finally {
      gpu.dispose();
    }
  }, 240_000);
});

describe('vitm test', () => {
  test('exits 0 when every law holds', () => {
    const r = runCli(['test', 'stdlib/moe.vitm', '--runs', '20']);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('vitm test stdlib/moe.vitm: 7 laws, 20 cases each on reference, fast-check seed 0');
    for (const name of MOE_LAWS) expect(r.stdout).toContain(`ok    law ${name} on reference (20 cases)`);
    expect(r.stdout).toContain('ok: 7 of 7 law checks hold');
  });

  test('exits 1 with coded errors, the law’s location and a counterexample, no stack trace', () => {
    const r = runCli(['test', 'test/laws/false.vitm', '--runs', '20', '--law', 'permutation_is_an_involution']);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(
      "test/laws/false.vitm:11:1: error VT6019: the law 'permutation_is_an_involution' does not hold on reference",
    );
    expect(r.stderr).toMatch(/\n {4}B = 1\n {4}x: f32\[1, 6\] = \[.*\]\n {4}rng\.seed: u32\[\] = \d+/);
    expect(r.stderr).not.toMatch(JS_STACK_FRAME);
    expect(r.stdout).toContain('FAILED: 0 of 1 law checks hold');
  });

  test('usage errors: an unknown law, a bad backend', () => {
    const unknown = runCli(['test', 'stdlib/moe.vitm', '--law', 'nope']);
    expect(unknown.status).toBe(2);
    expect(unknown.stderr).toContain("no law 'nope' in the file");
    const backend = runCli(['test', 'stdlib/moe.vitm', '--backend', 'cpu']);
    expect(backend.status).toBe(2);
    expect(backend.stderr).toContain('--backend takes reference, webgpu, both');
  });
});
