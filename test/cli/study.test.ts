/**
 * `vitm study`: every experiment with every seed, a markdown table of test accuracies with means, standard
 * deviations and paired differences; exported models scored in their target model; completed runs reused.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, type TestContext } from 'vitest';
import { studyTable } from '../../cli/study.js';
import { JS_STACK_FRAME, runCli } from '../support/cli.js';
import { openTestDevice } from '../support/gpu.js';

const SOURCE = `import std.vit.{ViT}
import std.moe.{RandomPartitionMoE}
model Plain = ViT(image: 28, patch: 7, channels: 1, classes: 3, dim: 16, depth: 2, heads: 2, mlp_ratio: 2.0)
model Moe = Plain with {
  blocks[1].mlp = RandomPartitionMoE(16, 32, experts: 2);
}
experiment plain {
  model: Plain
  data: synthetic(size: 96, classes: 3)
  eval: synthetic(size: 30, classes: 3)
  loss: cross_entropy
  optimizer: adamw(lr: 3e-3)
  steps: 12
  batch: 16
}
experiment folded {
  model: Moe
  data: synthetic(size: 96, classes: 3)
  eval: synthetic(size: 30, classes: 3)
  loss: cross_entropy
  optimizer: adamw(lr: 3e-3)
  steps: 12
  batch: 16
  after_step: ewa(blocks[1].mlp, beta: 0.3)
  export: to_ffn(blocks[1].mlp) as Plain
}
`;

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'vitm-study-'));
  writeFileSync(join(dir, 'study.vitm'), SOURCE);
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('vitm study', { timeout: 600_000 }, () => {
  it('trains every experiment per seed and writes the table; a second run reuses the runs', async (ctx: TestContext) => {
    (await openTestDevice(ctx)).dispose();
    const args = ['study', join(dir, 'study.vitm'), '--seeds', '0,1', '--out', join(dir, 'runs'), '--fixed-tiles'];
    const r = runCli(args, {}, 400_000);
    expect(r.stderr).not.toMatch(JS_STACK_FRAME);
    expect(r.status).toBe(0);
    expect(r.stdout.match(/^train /gm)).toHaveLength(4);
    const table = readFileSync(join(dir, 'runs', 'results.md'), 'utf8');
    expect(table).toMatch(/\| plain \| Plain \| \d+\.\d\d \| \d+\.\d\d \| \d+\.\d\d ± \d+\.\d\d \| \(reference\) \|/);
    expect(table).toMatch(/\| folded \| Plain \| .* \| -?\d+\.\d\d ± \d+\.\d\d \| [0-2]\/2 \|/);
    const again = runCli(args, {}, 240_000);
    expect(again.status).toBe(0);
    expect(again.stdout).not.toMatch(/^train /m);
    expect(
      readFileSync(join(dir, 'runs', 'results.md'), 'utf8')
        .split('\n')
        .slice(0, 8),
    ).toEqual(table.split('\n').slice(0, 8));
  });

  it('computes means, sample standard deviations and paired differences', () => {
    const cells = [
      { experiment: 'a', seed: 0, accuracy: 0.8, scoredOn: 'M' },
      { experiment: 'a', seed: 1, accuracy: 0.9, scoredOn: 'M' },
      { experiment: 'b', seed: 0, accuracy: 0.85, scoredOn: 'M' },
      { experiment: 'b', seed: 1, accuracy: 0.9, scoredOn: 'M' },
    ];
    const t = studyTable(cells, ['a', 'b'], [0, 1]);
    expect(t).toContain('| a | M | 80.00 | 90.00 | 85.00 ± 7.07 | (reference) |  |');
    expect(t).toContain('| b | M | 85.00 | 90.00 | 87.50 ± 3.54 | 2.50 ± 3.54 | 1/2 |');
  });
});
