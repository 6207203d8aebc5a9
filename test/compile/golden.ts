/**
 * Golden files for `vitm compile` output. Text stages (`forward.ir`, `training.ir`, `kernels.txt`) are compared whole.
 * The WGSL files repeat a few dozen distinct kernels many times over, so the golden set keeps each distinct text once,
 * under the name of its first occurrence (`wgsl/forward_003_layer_norm_f32.wgsl`), and `wgsl-files.txt` maps every
 * emitted file to its text: a changed kernel, a new or a missing one all show in review. `UPDATE_GOLDEN=1` rewrites.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { expect } from 'vitest';

const updating = (): boolean => process.env.UPDATE_GOLDEN === '1';

/** Compares `actual` with the golden file at `path`, or rewrites it when UPDATE_GOLDEN=1. */
export function goldenText(path: string, actual: string): void {
  if (updating()) {
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, actual);
    return;
  }
  expect(existsSync(path), `missing golden ${path}: run with UPDATE_GOLDEN=1`).toBe(true);
  expect(actual, `golden ${path}`).toBe(readFileSync(path, 'utf8'));
}

/** The `.wgsl` files under `dir/<stage>/`, as `<stage>/<file>`, in plan order. */
export function wgslFiles(dir: string, stages: readonly string[]): string[] {
  return stages.flatMap((stage) =>
    readdirSync(join(dir, stage))
      .filter((f) => f.endsWith('.wgsl'))
      .sort()
      .map((f) => `${stage}/${f}`),
  );
}

/** Compares the WGSL files of `stages` under `outDir` with the deduplicated golden set in `goldenDir`. */
export function goldenWgsl(outDir: string, stages: readonly string[], goldenDir: string): void {
  const files = wgslFiles(outDir, stages);
  const firstOf = new Map<string, string>();
  const mapping: string[] = [];
  for (const file of files) {
    const text = readFileSync(join(outDir, file), 'utf8');
    let name = firstOf.get(text);
    if (name === undefined) {
      name = file.replace('/', '_');
      firstOf.set(text, name);
    }
    mapping.push(`${file} ${name}`);
  }
  const wgslDir = join(goldenDir, 'wgsl');
  if (updating()) rmSync(wgslDir, { recursive: true, force: true });
  goldenText(join(goldenDir, 'wgsl-files.txt'), mapping.join('\n') + '\n');
  for (const [text, name] of firstOf) goldenText(join(wgslDir, name), text);
  const kept = existsSync(wgslDir) ? readdirSync(wgslDir).sort() : [];
  expect(kept, `stale golden kernels in ${wgslDir}: run with UPDATE_GOLDEN=1`).toEqual([...firstOf.values()].sort());
}
