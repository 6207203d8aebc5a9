/**
 * The browser test's page: opens `navigator.gpu` through the same runtime code the Node path uses and runs the same
 * self-test kernel. The result lands on `window.vitmResult` for the test to read.
 */
import { openBrowserDevice, runSelfTest } from '../../runtime/webgpu/browser.js';

export interface BrowserResult {
  readonly ok: boolean;
  readonly error?: string;
  readonly backend?: string;
  readonly adapter?: { vendor: string; architecture: string; description: string };
  readonly maxStorageBuffersPerShaderStage?: number;
  readonly selfTest?: Awaited<ReturnType<typeof runSelfTest>>;
}

const target = globalThis as unknown as { vitmResult?: BrowserResult };

async function run(): Promise<BrowserResult> {
  const gpu = await openBrowserDevice();
  try {
    const selfTest = await runSelfTest(gpu);
    return {
      ok: selfTest.ok,
      backend: gpu.backend,
      adapter: gpu.adapter,
      maxStorageBuffersPerShaderStage: gpu.limit('maxStorageBuffersPerShaderStage'),
      selfTest,
    };
  } finally {
    gpu.dispose();
  }
}

run().then(
  (result) => (target.vitmResult = result),
  (error: unknown) =>
    (target.vitmResult = {
      ok: false,
      error: error instanceof Error ? `${error.name}: ${error.message}` : String(error),
    }),
);
