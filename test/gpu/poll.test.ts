import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import ts from 'typescript';
import { afterEach, describe, expect, it } from 'vitest';
import { BufferUsage, type GpuDevice } from '../../runtime/webgpu/device.js';
import { dawnPollingThrottled, SPIN_MS, throttleDawnPolling } from '../../runtime/webgpu/node-poll.js';
import { deviceWait, deviceWaits } from '../../runtime/webgpu/waits.js';
import { openTestDevice } from '../support/gpu.js';

let open: GpuDevice[] = [];
afterEach(() => {
  for (const gpu of open) gpu.dispose();
  open = [];
});

/** A function shaped like Dawn's tick: native code and no name. */
function nativeTick(run: () => void): () => void {
  const tick = run.bind(null);
  Object.defineProperty(tick, 'name', { value: '' });
  return tick;
}

const kind = (handle: unknown): string => (handle as object).constructor.name;
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe("Dawn's polling while vitm waits", () => {
  it('spaces out anonymous native callbacks only during a device wait past its first millisecond', async () => {
    throttleDawnPolling();
    expect(dawnPollingThrottled()).toBe(true);
    const ran: string[] = [];
    // No wait in flight: Dawn's ticks run as immediates.
    expect(kind(setImmediate(nativeTick(() => ran.push('idle'))))).toBe('Immediate');

    let release = (): void => undefined;
    const waiting = deviceWait(() => new Promise<void>((resolve) => (release = resolve)));
    expect(deviceWaits().inFlight).toBe(1);
    // Within the first SPIN_MS of the wait the poll still spins.
    expect(kind(setImmediate(nativeTick(() => ran.push('early'))))).toBe('Immediate');
    await sleep(SPIN_MS + 5);
    const late = setImmediate(nativeTick(() => ran.push('late')));
    expect(kind(late)).toBe('Timeout');
    const cancelled = setImmediate(nativeTick(() => ran.push('cancelled')));
    clearImmediate(cancelled);
    // JavaScript callbacks, and bound functions (named `bound ...`), are never deferred.
    expect(kind(setImmediate(() => ran.push('js')))).toBe('Immediate');
    expect(kind(setImmediate((() => ran.push('bound')).bind(null)))).toBe('Immediate');
    expect(await promisify(setImmediate)('value')).toBe('value');
    await sleep(20);
    release();
    await waiting;
    expect(deviceWaits().inFlight).toBe(0);
    expect(ran.sort()).toEqual(['bound', 'early', 'idle', 'js', 'late']);
    expect(kind(setImmediate(nativeTick(() => undefined)))).toBe('Immediate');
  });

  it('keeps the count of waits right when a wait fails', async () => {
    await expect(deviceWait(() => Promise.reject(new Error('lost')))).rejects.toThrow('lost');
    expect(deviceWaits().inFlight).toBe(0);
  });

  it.runIf(existsSync('/proc/thread-self/stat'))(
    'leaves the JavaScript thread idle while the device runs a long submission',
    async (ctx) => {
      const gpu = await openTestDevice(ctx);
      open.push(gpu);
      const d = gpu.device;
      const module = d.createShaderModule({
        code: `
          @group(0) @binding(0) var<storage, read_write> out: array<f32>;
          @group(0) @binding(1) var<uniform> n: vec4u;
          @compute @workgroup_size(64) fn main(@builtin(global_invocation_id) id: vec3u) {
            var x = f32(id.x);
            for (var i = 0u; i < n.x; i++) { x = x * 0.999 + 1.0; }
            out[id.x] = x;
          }`,
      });
      const pipeline = d.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: 'main' } });
      const out = gpu.createBuffer('poll:out', 4096 * 4, BufferUsage.STORAGE | BufferUsage.COPY_SRC);
      const uniform = gpu.createBuffer('poll:n', 16, BufferUsage.UNIFORM | BufferUsage.COPY_DST);
      const bind = d.createBindGroup({
        layout: pipeline.getBindGroupLayout(0),
        entries: [
          { binding: 0, resource: { buffer: out } },
          { binding: 1, resource: { buffer: uniform } },
        ],
      });
      /** CPU milliseconds of this thread (user + system), in clock ticks of 10 ms. */
      const threadCpu = (): number => {
        const stat = readFileSync('/proc/thread-self/stat', 'utf8');
        const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        return (Number(fields[11]) + Number(fields[12])) * 10;
      };
      // Grow the loop until one submission keeps the device busy for at least 250 ms (a real GPU may never get there).
      let iterations = 1 << 14;
      for (;;) {
        d.queue.writeBuffer(uniform, 0, new Uint32Array([iterations, 0, 0, 0]));
        const encoder = d.createCommandEncoder();
        const pass = encoder.beginComputePass();
        pass.setPipeline(pipeline);
        pass.setBindGroup(0, bind);
        for (let i = 0; i < 8; i++) pass.dispatchWorkgroups(64);
        pass.end();
        d.queue.submit([encoder.finish()]);
        const cpu0 = threadCpu();
        const start = performance.now();
        await gpu.read(out);
        const wall = performance.now() - start;
        const cpu = threadCpu() - cpu0;
        if (wall >= 250) {
          // Dawn's own polling keeps this thread busy for the whole wait (cpu ~ wall); spaced out, it takes a few
          // percent. The bound leaves room for ticks of the 100 Hz clock and for a loaded machine.
          expect(cpu).toBeLessThan(0.3 * wall);
          return;
        }
        if (iterations >= 1 << 26) {
          ctx.skip(`the device finishes the longest submission in ${wall.toFixed(0)} ms; nothing to measure`);
          return;
        }
        iterations *= 4;
      }
    },
  );
});

describe('device waits', () => {
  /** The WebGPU calls that return a promise Dawn resolves by polling. */
  const WAITS = new Set([
    'mapAsync',
    'onSubmittedWorkDone',
    'popErrorScope',
    'createComputePipelineAsync',
    'createRenderPipelineAsync',
    'requestAdapter',
    'requestDevice',
  ]);
  /** The peer's own Dawn instance in the benchmark, which polls as it ships unless `--peer-poll throttled`. */
  const PEER = new Set(['bench/engines.ts:requestAdapter']);

  const sources = (dir: string): string[] =>
    readdirSync(dir, { recursive: true, encoding: 'utf8' })
      .filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))
      .map((f) => join(dir, f));

  it('go through deviceWait everywhere in the runtime, the CLI and the benchmarks', () => {
    const unwrapped: string[] = [];
    let seen = 0;
    for (const file of ['runtime', 'cli', 'compiler', 'bench'].flatMap(sources)) {
      const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
      const insideDeviceWait = (node: ts.Node): boolean => {
        // The source file's parent is undefined at run time, whatever its type says.
        for (let n = node.parent as ts.Node | undefined; n !== undefined; n = n.parent as ts.Node | undefined) {
          if (
            ts.isCallExpression(n) &&
            ts.isIdentifier(n.expression) &&
            n.expression.text === 'deviceWait' &&
            n.arguments.some((a) => a.pos <= node.pos && node.end <= a.end)
          )
            return true;
        }
        return false;
      };
      const visit = (node: ts.Node): void => {
        if (
          ts.isCallExpression(node) &&
          ts.isPropertyAccessExpression(node.expression) &&
          WAITS.has(node.expression.name.text)
        ) {
          seen++;
          const name = node.expression.name.text;
          if (!insideDeviceWait(node) && !PEER.has(`${file}:${name}`)) {
            const { line } = source.getLineAndCharacterOfPosition(node.getStart());
            unwrapped.push(`${file}:${line + 1} ${name}`);
          }
        }
        ts.forEachChild(node, visit);
      };
      visit(source);
    }
    expect(seen).toBeGreaterThan(10);
    expect(unwrapped).toEqual([]);
  });
});
