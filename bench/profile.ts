/**
 * Time per kernel of a model's graph: `npm run profile -- [--graph training|forward] [--batch N] [--rounds N]
 * [--model FILE --name MODEL] [--top N] [--by name|shape]
 * [--attention on|off] [--views on|off]`. Not a test and not part of `npm run bench`: a tool for deciding what to
 * make faster.
 *
 * The graph is lowered with `planGraph` as the executor lowers it (matmul tiles tuned by `selectMatmulConfig`), but
 * every value gets its own buffer (no reuse), so each step can be run alone and repeated without disturbing the
 * others. Reported per step: the median over rounds of (one submission holding the step `repeat` times) / `repeat`,
 * after warm-up; steps are grouped by kernel name. The whole graph in one submission is timed too, as the executor
 * runs it, so the sum of the parts can be compared with the whole. Times are wall-clock for the whole graph and also
 * CPU time of the process (every thread, the software driver's included): on a CPU adapter shared with other work,
 * CPU time varies far less with the machine's load than wall time does. `--top 0` times only the whole graph.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { nodeHost } from '../cli/check.js';
import { matmulEpilogueOf, type BufferRef, type KernelPlan, type PlannedStep } from '../compiler/codegen/kernel.js';
import { planGraph } from '../compiler/codegen/wgsl/ops/plan.js';
import { compileModel, compileProgram } from '../compiler/pipeline.js';
import type { Graph } from '../compiler/ir/graph.js';
import { byteSize, evalShape } from '../compiler/types/shape.js';
import { BufferUsage, type GpuDevice } from '../runtime/webgpu/device.js';
import { deviceCaps, GraphExecutor, stepLabel, type HostTensor } from '../runtime/webgpu/executor.js';
import { prepareMatmul } from '../runtime/webgpu/matmul.js';
import { openNodeDevice } from '../runtime/webgpu/node.js';
import { getPipeline } from '../runtime/webgpu/pipeline-cache.js';
import { selectMatmulConfig, TuningCache } from '../runtime/webgpu/tuning.js';
import { deviceWait } from '../runtime/webgpu/waits.js';

interface Options {
  graph: 'training' | 'forward';
  batch: number;
  rounds: number;
  repeat: number;
  top: number;
  model: string;
  name: string;
  /** A JSON file of matmul tile choices (`TuningCache`): read when it exists, else written after tuning. */
  tuning?: string;
  /** Time whole runs of a `GraphExecutor` instead (inputs written, every output read back). */
  executor: boolean;
  /** Group kernels by name (default) or by name and shape (`--by shape`). */
  by: 'name' | 'shape';
  /** Lower attention as one fused kernel where the device allows it (`--attention off`: the separate kernels). */
  attention: boolean;
  /** Read matmul operands and write products in place (`--views off`: through copies; views.ts). */
  views: boolean;
}

const DEFAULT_MODEL = fileURLToPath(
  new URL(
    import.meta.url.includes('/dist/') ? '../../bench/vit_small_bench.vitm' : './vit_small_bench.vitm',
    import.meta.url,
  ),
);

function parseArgs(args: readonly string[]): Options {
  const options: Options = {
    graph: 'training',
    batch: 128,
    rounds: 5,
    repeat: 4,
    top: 40,
    model: DEFAULT_MODEL,
    name: 'SmallBench',
    executor: false,
    by: 'name',
    attention: true,
    views: true,
  };
  for (let i = 0; i < args.length; i++) {
    const value = args[i + 1] ?? '';
    const flag = args[i] ?? '';
    switch (flag) {
      case '--graph':
        if (value !== 'training' && value !== 'forward') throw new Error('--graph is training or forward');
        options.graph = value;
        break;
      case '--batch':
        options.batch = Number(value);
        break;
      case '--rounds':
        options.rounds = Number(value);
        break;
      case '--repeat':
        options.repeat = Number(value);
        break;
      case '--top':
        options.top = Number(value);
        break;
      case '--model':
        options.model = value;
        break;
      case '--name':
        options.name = value;
        break;
      case '--tuning':
        options.tuning = value;
        break;
      case '--by':
        if (value !== 'name' && value !== 'shape') throw new Error('--by is name or shape');
        options.by = value;
        break;
      case '--attention':
        if (value !== 'on' && value !== 'off') throw new Error('--attention is on or off');
        options.attention = value === 'on';
        break;
      case '--views':
        if (value !== 'on' && value !== 'off') throw new Error('--views is on or off');
        options.views = value === 'on';
        break;
      case '--executor':
        options.executor = true;
        continue;
      default:
        throw new Error(`unknown argument ${flag}`);
    }
    i++;
  }
  return options;
}

const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? NaN;
};

interface Bound {
  readonly step: PlannedStep;
  encode(pass: GPUComputePassEncoder): void;
}

/** One buffer per value and temp, filled with small random numbers (labels and integers in [0, 10)). */
async function bindPlan(gpu: GpuDevice, plan: KernelPlan, tuning: TuningCache): Promise<Bound[]> {
  const buffers = new Map<string, GPUBuffer>();
  const key = (ref: BufferRef): string =>
    ref.kind === 'value' ? `v${plan.aliases.get(ref.id) ?? ref.id}` : `t${ref.index}`;
  const make = (k: string, dtype: Parameters<typeof byteSize>[0], elements: number): void => {
    const words = Math.max(1, Math.ceil((elements * byteSize(dtype)) / 4));
    const data = new Uint32Array(words);
    const f = new Float32Array(data.buffer);
    for (let i = 0; i < words; i++) {
      if (dtype === 'f32') f[i] = (Math.random() - 0.5) * 0.2;
      else data[i] = Math.floor(Math.random() * 10);
    }
    buffers.set(k, gpu.upload(k, data, BufferUsage.STORAGE | BufferUsage.COPY_SRC | BufferUsage.COPY_DST));
  };
  for (const [id, spec] of plan.values) make(`v${id}`, spec.dtype, spec.elements);
  plan.temps.forEach((spec, i) => {
    make(`t${i}`, spec.dtype, spec.elements);
  });
  const resolve = (ref: BufferRef): GPUBuffer => {
    const b = buffers.get(key(ref));
    if (!b) throw new Error(`no buffer ${key(ref)}`);
    return b;
  };
  const bound: Bound[] = [];
  for (const step of plan.steps) {
    switch (step.kind) {
      case 'upload': {
        const padded = new Uint8Array(Math.ceil(step.bytes.byteLength / 4) * 4);
        padded.set(step.bytes);
        if (padded.byteLength > 0) gpu.device.queue.writeBuffer(resolve(step.target), 0, padded);
        break;
      }
      case 'wgsl': {
        const pipeline = await getPipeline(gpu, stepLabel(step), step.wgsl, step.entryPoint);
        const uniform = gpu.upload(`${step.name}:params`, Uint32Array.from(step.params), BufferUsage.UNIFORM);
        const bindGroup = gpu.device.createBindGroup({
          layout: pipeline.getBindGroupLayout(0),
          entries: [uniform, ...step.bindings.map((b) => resolve(b.buffer))].map((buffer, binding) => ({
            binding,
            resource: { buffer },
          })),
        });
        const [x, y, z] = step.grid;
        bound.push({
          step,
          encode(pass) {
            pass.setPipeline(pipeline);
            pass.setBindGroup(0, bindGroup);
            pass.dispatchWorkgroups(x, y, z);
          },
        });
        break;
      }
      case 'matmul': {
        const config = await selectMatmulConfig(gpu, step.problem, { cache: tuning });
        const epilogue = matmulEpilogueOf(step.epilogue);
        const prepared = await prepareMatmul(gpu, step.problem, config, epilogue, step.rowSums !== undefined);
        const mm = prepared.bind({
          a: resolve(step.a),
          b: resolve(step.b),
          c: resolve(step.c),
          epilogueInputs: step.epilogue?.inputs.map((i) => resolve(i.buffer)) ?? [],
          ...(step.epilogue?.second ? { c2: resolve(step.epilogue.second.out) } : {}),
          ...(step.rowSums ? { sums: resolve(step.rowSums) } : {}),
        });
        bound.push({
          step: { ...step, name: prepared.label.kernel },
          encode(pass) {
            mm.encode(pass);
          },
        });
        break;
      }
    }
  }
  return bound;
}

/** CPU milliseconds of this process (every thread, the driver's included) since `since`. */
function cpuMillis(since?: NodeJS.CpuUsage): number {
  const u = process.cpuUsage(since);
  return (u.user + u.system) / 1000;
}

/** Wall and CPU milliseconds of one submission holding `steps` `repeat` times, per repetition. */
async function timeSubmission(
  gpu: GpuDevice,
  steps: readonly Bound[],
  repeat: number,
): Promise<{ wall: number; cpu: number }> {
  const encoder = gpu.device.createCommandEncoder();
  const pass = encoder.beginComputePass();
  for (let r = 0; r < repeat; r++) for (const s of steps) s.encode(pass);
  pass.end();
  const start = performance.now();
  const cpu = process.cpuUsage();
  gpu.device.queue.submit([encoder.finish()]);
  await deviceWait(() => gpu.device.queue.onSubmittedWorkDone());
  return { wall: (performance.now() - start) / repeat, cpu: cpuMillis(cpu) / repeat };
}

function shapeText(step: PlannedStep): string {
  if (step.kind === 'matmul') {
    const p = step.problem;
    return `${p.batch}x[${p.m}x${p.k}]x[${p.k}x${p.n}]${p.transposeA ? ' tA' : ''}${p.transposeB ? ' tB' : ''}`;
  }
  if (step.kind === 'wgsl') return `grid ${step.grid.join('x')}`;
  return '';
}

/**
 * Steps of a `GraphExecutor` on the graph, as a training loop runs them: parameters resident, the data written and
 * every output (loss and gradients) read back each step; median wall time per step over `rounds` after warm-up.
 */
async function timeExecutor(gpu: GpuDevice, graph: Graph, options: Options): Promise<void> {
  const saved = options.tuning !== undefined && existsSync(options.tuning);
  const tuning = saved
    ? TuningCache.fromJSON(JSON.parse(readFileSync(options.tuning ?? '', 'utf8')))
    : new TuningCache();
  const executor = new GraphExecutor(gpu, graph, {
    matmulConfig: (shape) => selectMatmulConfig(gpu, shape, { cache: tuning }),
    lower: (g, o) => planGraph(g, { ...o, attention: options.attention, views: options.views }),
  });
  try {
    const symbols = { B: options.batch };
    const inputs: Record<string, HostTensor> = {};
    for (const input of graph.inputs) {
      const shape = evalShape(input.value.type.shape, symbols);
      const n = shape.reduce((a, b) => a * b, 1);
      const dtype = input.value.type.dtype;
      const data = Array.from({ length: n }, () =>
        dtype === 'f32' ? (Math.random() - 0.5) * 0.2 : Math.floor(Math.random() * 10),
      );
      inputs[input.name] = { dtype, shape, data };
    }
    const data = Object.fromEntries(
      graph.inputs.filter((i) => i.kind !== 'param').map((i) => [i.name, inputs[i.name]]),
    );
    await executor.setInputs(inputs, { symbols });
    await executor.run(data as Record<string, HostTensor>, { symbols });
    if (options.tuning !== undefined && !saved) writeFileSync(options.tuning, JSON.stringify(tuning));
    const times: number[] = [];
    const cpu: number[] = [];
    for (let r = 0; r < options.rounds; r++) {
      const start = performance.now();
      const cpuStart = process.cpuUsage();
      await executor.run(data as Record<string, HostTensor>, { symbols });
      times.push(performance.now() - start);
      cpu.push(cpuMillis(cpuStart));
    }
    const kernels = (await executor.plan(symbols)).steps.filter((s) => s.kind !== 'upload').length;
    const sorted = [...times].sort((a, b) => a - b).map((t) => t.toFixed(1));
    console.log(
      `${options.name} ${options.graph} graph on GraphExecutor, batch ${options.batch}: ${kernels} kernels; ` +
        `median ${median(times).toFixed(1)} ms per step (${sorted.join(' ')}), ` +
        `${((1000 * options.batch) / median(times)).toFixed(1)} images/s; median ${median(cpu).toFixed(1)} ms CPU`,
    );
  } finally {
    executor.dispose();
  }
}

async function main(): Promise<void> {
  const options = parseArgs(process.argv.slice(2));
  const result = compileProgram(options.model, nodeHost());
  const model = result.program?.models.find((m) => m.name === options.name);
  if (!model) throw new Error(`${options.model} has no model ${options.name}`);
  const compiled = compileModel(model);
  const graph = options.graph === 'training' ? compiled.training : compiled.forward;
  const gpu = await openNodeDevice();
  try {
    if (options.executor) {
      await timeExecutor(gpu, graph, options);
      return;
    }
    const plan = planGraph(graph, {
      symbols: { B: options.batch },
      caps: deviceCaps(gpu),
      attention: options.attention,
      views: options.views,
    });
    const saved = options.tuning !== undefined && existsSync(options.tuning);
    const tuning = saved
      ? TuningCache.fromJSON(JSON.parse(readFileSync(options.tuning ?? '', 'utf8')))
      : new TuningCache();
    const bound = await bindPlan(gpu, plan, tuning);
    if (options.tuning !== undefined && !saved) writeFileSync(options.tuning, JSON.stringify(tuning));
    gpu.assertHealthy();
    await timeSubmission(gpu, bound, 1);
    const whole: number[] = [];
    const wholeCpu: number[] = [];
    const per = bound.map(() => [] as number[]);
    for (let r = 0; r < options.rounds; r++) {
      const t = await timeSubmission(gpu, bound, 1);
      whole.push(t.wall);
      wholeCpu.push(t.cpu);
      if (options.top > 0)
        for (const [i, s] of bound.entries()) per[i]?.push((await timeSubmission(gpu, [s], options.repeat)).cpu);
    }
    const sorted = [...whole].sort((a, b) => a - b).map((t) => t.toFixed(1));
    console.log(
      `${options.name} ${options.graph} graph, batch ${options.batch}: ${bound.length} kernels; whole graph ` +
        `median ${median(whole).toFixed(1)} ms wall (${sorted.join(' ')}), median ${median(wholeCpu).toFixed(1)} ms CPU`,
    );
    if (options.top === 0) return;
    const empty: number[] = [];
    for (let r = 0; r < 20; r++) empty.push((await timeSubmission(gpu, [], 1)).cpu);
    const overhead = median(empty);
    const times = per.map((t) => Math.max(0, median(t) - overhead / options.repeat));
    const total = times.reduce((a, b) => a + b, 0);
    const groups = new Map<string, { ms: number; count: number; shapes: Set<string> }>();
    bound.forEach((b, i) => {
      const name = options.by === 'shape' ? `${b.step.name}  ${shapeText(b.step)}` : b.step.name;
      const g = groups.get(name) ?? { ms: 0, count: 0, shapes: new Set<string>() };
      g.ms += times[i] ?? 0;
      g.count++;
      g.shapes.add(shapeText(b.step));
      groups.set(name, g);
    });
    const rows = [...groups.entries()].sort((a, b) => b[1].ms - a[1].ms).slice(0, options.top);
    console.log(`sum of kernels ${total.toFixed(1)} ms CPU, empty submission ${overhead.toFixed(2)} ms CPU`);
    for (const [name, g] of rows) {
      const shapes = [...g.shapes].slice(0, 3).join('; ');
      console.log(
        `${g.ms.toFixed(2).padStart(8)} ms ${((100 * g.ms) / total).toFixed(1).padStart(5)}% ${String(g.count).padStart(4)}x  ${options.by === 'shape' ? name : `${name.slice(0, 70).padEnd(70)} ${shapes}`}`,
      );
    }
  } finally {
    gpu.dispose();
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
