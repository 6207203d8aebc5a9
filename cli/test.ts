/**
 * `vitm test FILE`: property-tests every `law` of the file (spec/language.md, "Laws"). For each law and backend,
 * fast-check draws the dimension symbols, inputs, module weights and random seed, both sides are evaluated (the
 * reference interpreter rounding to f32 after every op, or the WebGPU device) and compared with the tolerance of
 * spec/ir.md ("Law tolerance"). A law that fails is reported as error VT6019 at its `file:line:col`, with the shrunk
 * counterexample. Returns 0 when every law holds on every backend, 1 otherwise.
 */
import { renderDiagnostics } from '../compiler/diagnostics/render.js';
import type { FrontendHost } from '../compiler/frontend.js';
import { compileProgram } from '../compiler/pipeline.js';
import { checkLaw, type LawBackend, type LawResult } from '../runtime/laws/check.js';
import { renderLawResult } from '../runtime/laws/report.js';
import type { GpuDevice } from '../runtime/webgpu/device.js';
import { openNodeDevice } from '../runtime/webgpu/node.js';
import { nodeHost } from './check.js';

/** `both` runs every law on the reference and then on the device. */
export type TestBackendChoice = LawBackend | 'both';
export const TEST_BACKENDS: readonly TestBackendChoice[] = ['reference', 'webgpu', 'both'];

export interface TestCliOptions {
  readonly runs?: number;
  readonly seed?: number;
  readonly backend?: TestBackendChoice;
  readonly maxDim?: number;
  /** Only the laws with these names. */
  readonly laws?: readonly string[];
  readonly host?: FrontendHost;
}

export class TestUsageError extends Error {}

/** Runs the laws, printing one line per law and backend (and a counterexample per failure); returns the exit code. */
export async function testCommand(file: string, options: TestCliOptions = {}): Promise<number> {
  const result = compileProgram(file, options.host ?? nodeHost());
  if (result.program === undefined) {
    process.stderr.write(renderDiagnostics(result.diagnostics, result.files) + '\n');
    return 1;
  }
  const wanted = options.laws;
  const laws = result.program.laws.filter((l) => wanted === undefined || wanted.includes(l.name));
  const missing = (wanted ?? []).filter((name) => !result.program?.laws.some((l) => l.name === name));
  if (missing.length > 0) {
    const names = result.program.laws.map((l) => l.name).join(', ') || '(none)';
    throw new TestUsageError(`no law ${missing.map((n) => `'${n}'`).join(', ')} in the file; its laws: ${names}`);
  }
  const choice = options.backend ?? 'reference';
  const backends: LawBackend[] = choice === 'both' ? ['reference', 'webgpu'] : [choice];
  const runs = options.runs ?? 50;
  const seed = options.seed ?? 0;
  process.stdout.write(
    `vitm test ${file}: ${laws.length} law${laws.length === 1 ? '' : 's'}, ${runs} cases each on ` +
      `${backends.join(' and ')}, fast-check seed ${seed}\n`,
  );
  let gpu: GpuDevice | undefined;
  const results: LawResult[] = [];
  try {
    if (backends.includes('webgpu') && laws.length > 0) {
      gpu = await openNodeDevice();
      process.stdout.write(`webgpu: ${gpu.adapter.description}\n`);
    }
    for (const backend of backends) {
      for (const law of laws) {
        const r = await checkLaw(law, backend, {
          runs,
          seed,
          ...(options.maxDim === undefined ? {} : { maxDim: options.maxDim }),
          ...(gpu === undefined ? {} : { gpu }),
        });
        results.push(r);
        const text = renderLawResult(r, result.files);
        if (r.ok) process.stdout.write(text + '\n');
        else process.stderr.write(text + '\n');
      }
    }
  } finally {
    gpu?.dispose();
  }
  const failed = results.filter((r) => !r.ok).length;
  process.stdout.write(
    `${failed === 0 ? 'ok' : 'FAILED'}: ${results.length - failed} of ${results.length} law checks hold\n`,
  );
  return failed === 0 ? 0 : 1;
}
