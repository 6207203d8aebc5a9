/**
 * `vitm doctor`: which WebGPU implementation and adapter vitm will use, the limits that shape its kernels, the
 * optional features, and a small kernel run and checked on the device.
 */
import { VitmRuntimeError } from '../runtime/errors.js';
import { KEY_LIMITS, OPTIONAL_FEATURES, type GpuDevice, type KeyLimit } from '../runtime/webgpu/device.js';
import { openNodeDevice } from '../runtime/webgpu/node.js';
import { runSelfTest, type SelfTestResult } from '../runtime/webgpu/selftest.js';
import { formatBytes, table } from './format.js';

const BYTE_LIMITS = new Set<KeyLimit>([
  'maxStorageBufferBindingSize',
  'maxBufferSize',
  'maxComputeWorkgroupStorageSize',
  'maxUniformBufferBindingSize',
  'minStorageBufferOffsetAlignment',
]);

/** What vitm's kernels are designed to fit (the floor seen on real browsers), printed beside the device's value. */
const DESIGN_FLOOR: Partial<Record<KeyLimit, number>> = {
  maxStorageBuffersPerShaderStage: 8,
  maxComputeWorkgroupStorageSize: 16384,
};

export interface DoctorReport {
  readonly backend: string;
  readonly adapter: GpuDevice['adapter'];
  readonly limits: Record<KeyLimit, number>;
  readonly features: Record<string, boolean>;
  /** Whether matmul kernels claim their tiles from a counter on this device (`GpuDevice.claimTiles`). */
  readonly claimTiles: boolean;
  readonly selfTest: SelfTestResult;
}

async function dawnVersion(): Promise<string> {
  try {
    const { createRequire } = await import('node:module');
    const pkg = createRequire(import.meta.url)('webgpu/package.json') as { version?: string };
    return pkg.version ?? '?';
  } catch {
    return '?';
  }
}

export async function collectDoctorReport(): Promise<DoctorReport> {
  const gpu = await openNodeDevice();
  try {
    const limits = Object.fromEntries(KEY_LIMITS.map((k) => [k, gpu.limit(k)])) as Record<KeyLimit, number>;
    const features = Object.fromEntries(OPTIONAL_FEATURES.map((f) => [f, gpu.features.has(f)]));
    const selfTest = await runSelfTest(gpu);
    return {
      backend: `Dawn (npm webgpu ${await dawnVersion()}) in Node ${process.version}`,
      adapter: gpu.adapter,
      limits,
      features,
      claimTiles: gpu.claimTiles,
      selfTest,
    };
  } finally {
    gpu.dispose();
  }
}

export function renderDoctorReport(report: DoctorReport): string {
  const { adapter, limits, features, selfTest } = report;
  const limitRows = KEY_LIMITS.map((key): [string, string] => {
    const value = limits[key];
    const shown = BYTE_LIMITS.has(key) ? formatBytes(value) : value.toLocaleString('en-US');
    const floor = DESIGN_FLOOR[key];
    const note =
      floor === undefined ? '' : `  (kernels are designed for >= ${BYTE_LIMITS.has(key) ? formatBytes(floor) : floor})`;
    return [key, shown + note];
  });
  const check = selfTest.ok
    ? `ok: ${selfTest.elements.toLocaleString('en-US')} values, ${selfTest.workgroups} workgroups, exact (${selfTest.millis.toFixed(1)} ms)`
    : `FAILED: ${selfTest.mismatches} wrong values, max error ${selfTest.maxError}`;
  return [
    'vitm doctor',
    table([
      ['backend', report.backend],
      ['vendor', adapter.vendor || '(not reported)'],
      ['architecture', adapter.architecture || '(not reported)'],
      ['device', adapter.device || '(not reported)'],
      ['description', adapter.description || '(not reported)'],
      ['fallback adapter', adapter.isFallbackAdapter ? 'yes' : 'no'],
      [
        'matmul tiles',
        report.claimTiles
          ? 'claimed from a counter (llvmpipe: its threads share each dispatch by speed)'
          : 'one per workgroup id',
      ],
    ]),
    'limits',
    table(limitRows),
    'optional features',
    table(
      Object.entries(features).map(([name, on]): [string, string] => [
        name,
        !on
          ? 'no (kernels fall back)'
          : name === 'subgroups' && adapter.subgroupMinSize > 0
            ? `yes (${adapter.subgroupMinSize === adapter.subgroupMaxSize ? adapter.subgroupMinSize : `${adapter.subgroupMinSize}-${adapter.subgroupMaxSize}`} lanes)`
            : 'yes',
      ]),
    ),
    'self-test (fma + workgroup reduction kernel)',
    table([['result', check]]),
  ].join('\n');
}

/** Runs the doctor; returns the process exit code. */
export async function doctor(args: { json: boolean }, out: NodeJS.WriteStream = process.stdout): Promise<number> {
  const report = await collectDoctorReport();
  out.write((args.json ? JSON.stringify(report, null, 2) : renderDoctorReport(report)) + '\n');
  if (!report.selfTest.ok) {
    throw new VitmRuntimeError(
      'VT6007',
      `the adapter computed ${report.selfTest.mismatches} wrong values in the self-test kernel`,
      'update the GPU driver; on lavapipe, use Mesa 24 or newer (npm run setup)',
    );
  }
  return 0;
}
