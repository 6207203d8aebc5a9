/**
 * `vitm compile FILE`: compiles one model of a `.vitm` file through every stage that needs no device and writes the
 * stages' text into a folder, one file per stage:
 *
 *   - `ir`: `forward.ir`, the forward graph as printed IR (`compiler/ir/print.ts`);
 *   - `grad`: `training.ir`, the loss graph with one `grad:<name>` output per trainable parameter;
 *   - `wgsl`: `forward/NNN_<kernel>.wgsl` and `training/NNN_<kernel>.wgsl`, one file per kernel of the forward and
 *     training plans (`planGraph` at the given batch, in plan order), and `kernels.txt`, their index.
 *
 * Planning needs only the device's caps; the kernels are planned for WebGPU's default limits (`WEBGPU_DEFAULT_CAPS`),
 * which every conforming adapter meets. Matmul steps are written with the first candidate tile that fits those
 * limits, the executor's own default; on a device the tuner may pick another tile.
 *
 * The summary counts FLOPs per example as documented at `flopClass`.
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative, isAbsolute } from 'node:path';
import { matmulEpilogueOf, type KernelPlan, type PlannedStep } from '../compiler/codegen/kernel.js';
import {
  generateMatmulWgsl,
  matmulKernelName,
  type MatmulConfig,
  workgroupStorageBytes,
} from '../compiler/codegen/wgsl/matmul.js';
import type { DeviceCaps } from '../compiler/codegen/wgsl/ops/common.js';
import { LoweringError, planGraphMemory } from '../compiler/codegen/wgsl/ops/plan.js';
import { BufferTooLargeError, type MemoryReport } from '../compiler/codegen/plan-memory.js';
import { renderDiagnostics } from '../compiler/diagnostics/render.js';
import type { FrontendHost } from '../compiler/frontend.js';
import type { Equation, Graph } from '../compiler/ir/graph.js';
import { printGraph } from '../compiler/ir/print.js';
import type { OpName } from '../compiler/ops/op.js';
import { compileModel, compileProgram } from '../compiler/pipeline.js';
import type { ElaboratedExperiment, ElaboratedModel } from '../compiler/semantic/elaborated.js';
import type { SourceFile, Span } from '../compiler/source/source.js';
import { evalShape, type SymbolValues } from '../compiler/types/shape.js';
import { kernelSpecFor } from '../runtime/webgpu/matmul.js';
import { CANDIDATE_CONFIGS } from '../runtime/webgpu/tuning.js';
import { nodeHost, STDLIB_DIR } from './check.js';
import { formatBytes, formatCount } from './format.js';

/** The stages `--emit` can name. */
export const EMIT_STAGES = ['ir', 'grad', 'wgsl'] as const;
export type EmitStage = (typeof EMIT_STAGES)[number];

export interface CompileCliOptions {
  readonly model?: string;
  /** The output folder; default `runs/compile/<model>`. */
  readonly out?: string;
  /** The stages to write; default all. */
  readonly emit?: readonly EmitStage[];
  /** The size of every dimension symbol (the batch) the kernels are planned for; default 1. */
  readonly batch?: number;
  /**
   * Plan for a device whose subgroups all have this many lanes (llvmpipe: 8), as `vitm train` plans on such a device
   * (fused attention); default none, WebGPU's baseline.
   */
  readonly subgroupSize?: number;
  readonly host?: FrontendHost;
}

export class CompileUsageError extends Error {}

/**
 * WebGPU's default limits (the ones every adapter supports without asking), as the lowering sees them:
 * `maxComputeWorkgroupsPerDimension` 65535 and no `shader-f16`.
 */
export const WEBGPU_DEFAULT_CAPS: DeviceCaps = { maxWorkgroupsPerDimension: 65535, shaderF16: false };

/** WebGPU's default compute limits a matmul tile must fit. */
const DEFAULT_LIMITS = { workgroupSizeX: 256, workgroupSizeY: 256, invocations: 256, workgroupStorage: 16384 };

/** The matmul tile the executor takes by default on a device with WebGPU's default limits. */
export function defaultMatmulTile(): MatmulConfig {
  const fits = (c: MatmulConfig): boolean =>
    c.wgX <= DEFAULT_LIMITS.workgroupSizeX &&
    c.wgY <= DEFAULT_LIMITS.workgroupSizeY &&
    c.wgX * c.wgY <= DEFAULT_LIMITS.invocations &&
    workgroupStorageBytes(c) <= DEFAULT_LIMITS.workgroupStorage;
  const config = CANDIDATE_CONFIGS.find(fits);
  if (config === undefined) throw new Error('no matmul candidate tile fits the WebGPU default limits');
  return config;
}

/** Parses `--emit a,b,c`; throws a usage error naming an unknown stage. */
export function parseEmit(text: string): EmitStage[] {
  const names = text
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  if (names.length === 0) throw new CompileUsageError(`--emit takes a list of ${EMIT_STAGES.join(', ')}`);
  const stages: EmitStage[] = [];
  for (const name of names) {
    const stage = EMIT_STAGES.find((s) => s === name);
    if (stage === undefined) {
      throw new CompileUsageError(`--emit: unknown stage '${name}'; the stages are ${EMIT_STAGES.join(', ')}`);
    }
    if (!stages.includes(stage)) stages.push(stage);
  }
  return stages;
}

function pickModel(models: readonly ElaboratedModel[], name: string | undefined): ElaboratedModel {
  if (name === undefined) {
    const first = models[0];
    if (first === undefined) throw new CompileUsageError('the file declares no model');
    return first;
  }
  const found = models.find((m) => m.name === name);
  if (found === undefined) {
    const names = models.map((m) => m.name).join(', ') || '(none)';
    throw new CompileUsageError(`no model '${name}' in the file; its models: ${names}`);
  }
  return found;
}

/**
 * How an op counts in the FLOP estimate: a matmul `[.., M, K] x [.., K, N]` counts `2 M N K` per batch entry;
 * elementwise ops count 1 per output element; reductions and normalisations (sum, mean, max, logsumexp, softmax,
 * layer_norm, cross_entropy) count 1 per input element; layout, indexing, sources and random ops count 0.
 */
const FLOP_CLASS: Readonly<Record<OpName, 'matmul' | 'elementwise' | 'reduction' | 'none'>> = {
  full: 'none',
  constant: 'none',
  dim_size: 'none',
  neg: 'elementwise',
  exp: 'elementwise',
  log: 'elementwise',
  sqrt: 'elementwise',
  rsqrt: 'elementwise',
  tanh: 'elementwise',
  erf: 'elementwise',
  acos: 'elementwise',
  gelu: 'elementwise',
  gelu_grad: 'elementwise',
  relu: 'elementwise',
  sigmoid: 'elementwise',
  abs: 'elementwise',
  cast: 'none',
  stop_gradient: 'none',
  add: 'elementwise',
  sub: 'elementwise',
  mul: 'elementwise',
  div: 'elementwise',
  pow: 'elementwise',
  maximum: 'elementwise',
  minimum: 'elementwise',
  less: 'elementwise',
  less_equal: 'elementwise',
  greater: 'elementwise',
  greater_equal: 'elementwise',
  equal: 'elementwise',
  not_equal: 'elementwise',
  where: 'elementwise',
  add_n: 'elementwise',
  reduce_sum: 'reduction',
  reduce_mean: 'reduction',
  reduce_max: 'reduction',
  logsumexp: 'reduction',
  softmax: 'reduction',
  softmax_grad: 'reduction',
  layer_norm: 'reduction',
  layer_norm_grad: 'reduction',
  cross_entropy: 'reduction',
  matmul: 'matmul',
  reshape: 'none',
  transpose: 'none',
  broadcast_to: 'none',
  concat: 'none',
  slice: 'none',
  pad: 'none',
  take: 'none',
  scatter_add: 'none',
  take_along_axis: 'none',
  scatter_add_along_axis: 'none',
  one_hot: 'none',
  argmax: 'none',
  top_k: 'none',
  random_uniform: 'none',
  random_normal: 'none',
  random_permutation: 'none',
};

const product = (xs: readonly number[]): number => xs.reduce((a, b) => a * b, 1);

/** The FLOPs of one equation at `symbols`, counted as `FLOP_CLASS` says. */
export function equationFlops(eq: Equation, symbols: SymbolValues): number {
  const out = evalShape(eq.out.type.shape, symbols);
  const cls = FLOP_CLASS[eq.op];
  switch (cls) {
    case 'none':
      return 0;
    case 'elementwise':
      return product(out);
    case 'reduction':
      return Math.max(0, ...eq.args.map((a) => product(evalShape(a.type.shape, symbols))));
    case 'matmul': {
      const a = eq.args[0];
      if (eq.op !== 'matmul' || a === undefined) return 0;
      const shapeA = evalShape(a.type.shape, symbols);
      const k = shapeA[shapeA.length - (eq.attrs.transposeA ? 2 : 1)] ?? 1;
      return 2 * product(out) * k;
    }
  }
}

/** FLOPs of a whole graph at `symbols`. */
export function graphFlops(graph: Graph, symbols: SymbolValues): number {
  return graph.equations.reduce((sum, eq) => sum + equationFlops(eq, symbols), 0);
}

/** A span as `file:line:col`, with standard-library files as `std/<path>` and others relative to the working folder. */
function spanText(span: Span | undefined, files: ReadonlyMap<string, SourceFile>): string {
  if (span === undefined) return '-';
  const file = files.get(span.file);
  const fromStd = relative(STDLIB_DIR, span.file);
  const fromCwd = relative(process.cwd(), span.file);
  const shown =
    !fromStd.startsWith('..') && !isAbsolute(fromStd)
      ? `std/${fromStd}`
      : !fromCwd.startsWith('..') && !isAbsolute(fromCwd)
        ? fromCwd
        : span.file;
  if (file === undefined) return `${shown}@${span.start}`;
  const { line, column } = file.position(span.start);
  return `${shown}:${line}:${column}`;
}

/** A kernel name as a file name: runs of anything but letters and digits become one underscore. */
function fileStem(name: string): string {
  const stem = name.replace(/[^A-Za-z0-9]+/g, '_').replace(/^_+|_+$/g, '');
  return stem.length > 80 ? stem.slice(0, 80) : stem;
}

/** The kernel name a step's file is named by: the plan's name, or for a matmul the tile-specific kernel's name. */
function kernelName(step: PlannedStep, tile: MatmulConfig): string {
  return step.kind === 'matmul'
    ? matmulKernelName(kernelSpecFor(step.problem, tile, matmulEpilogueOf(step.epilogue), step.rowSums !== undefined))
    : step.name;
}

/** The WGSL text of a step (none for constant uploads). */
function stepWgsl(step: PlannedStep, tile: MatmulConfig): string | undefined {
  switch (step.kind) {
    case 'wgsl':
      return step.wgsl;
    case 'matmul':
      return generateMatmulWgsl(
        kernelSpecFor(step.problem, tile, matmulEpilogueOf(step.epilogue), step.rowSums !== undefined),
      );
    case 'upload':
      return undefined;
  }
}

/** How a step is launched, for the index. */
function dispatchText(step: PlannedStep, tile: MatmulConfig): string {
  switch (step.kind) {
    case 'wgsl':
      return `grid ${step.grid.join('x')}`;
    case 'matmul': {
      const p = step.problem;
      const layout = `${p.transposeA ? 't' : 'n'}${p.transposeB ? 't' : 'n'}`;
      return `matmul ${p.batch}x[${p.m}x${p.k}]x[${p.k}x${p.n}] ${layout}, tile ${tile.family} ${tile.wgY}x${tile.wgX}/${tile.tm}x${tile.tn}`;
    }
    case 'upload':
      return `upload ${step.bytes.length} bytes`;
  }
}

/** Writes one plan's kernels under `dir/<stage>/`; returns the index lines and the files written. */
function writePlan(
  dir: string,
  stage: 'forward' | 'training',
  plan: KernelPlan,
  files: ReadonlyMap<string, SourceFile>,
  tile: MatmulConfig,
): { index: string[]; written: string[] } {
  mkdirSync(join(dir, stage), { recursive: true });
  const index: string[] = [];
  const written: string[] = [];
  const width = Math.max(3, String(plan.steps.length - 1).length);
  plan.steps.forEach((step, i) => {
    const number = String(i).padStart(width, '0');
    const wgsl = stepWgsl(step, tile);
    let shown = '-';
    if (wgsl !== undefined) {
      shown = `${stage}/${number}_${fileStem(kernelName(step, tile))}.wgsl`;
      writeFileSync(join(dir, shown), wgsl.endsWith('\n') ? wgsl : `${wgsl}\n`);
      written.push(shown);
    }
    const eqs = step.origin.values.map((v, k) => `${step.origin.ops[k] ?? '?'} %${v}`).join(', ');
    index.push(
      `${stage} ${number}  ${kernelName(step, tile)}\n` +
        `  file      ${shown}\n` +
        `  equations ${eqs === '' ? '-' : eqs}\n` +
        `  source    ${spanText(step.origin.span, files)}\n` +
        `  dispatch  ${dispatchText(step, tile)}`,
    );
  });
  return { index, written };
}

/** WebGPU's default `maxStorageBufferBindingSize` (128 MiB): the plan must fit a device that only has the defaults. */
const WEBGPU_DEFAULT_MAX_BINDING_BYTES = 134_217_728;

/**
 * Optimizer state per trainable parameter element, from the first experiment that trains `model`: AdamW/Adam keep two
 * f32 moments (8 bytes), SGD with momentum one (4 bytes), plain SGD none.
 */
function optimizerState(
  experiments: readonly ElaboratedExperiment[],
  model: string,
): { readonly bytesPerElement: number; readonly source: string } {
  const experiment = experiments.find((x) => x.model === model);
  if (experiment === undefined) return { bytesPerElement: 0, source: ' (no experiment trains this model)' };
  const { name, args } = experiment.optimizer;
  const momentum = args.get('momentum');
  const bytes =
    name === 'adamw' || name === 'adam'
      ? 8
      : name === 'sgd' && momentum !== undefined && 'value' in momentum && Number(momentum.value) > 0
        ? 4
        : 0;
  return { bytesPerElement: bytes, source: ` (${name} of experiment ${experiment.name})` };
}

/** Runs the compile and prints the summary; returns the exit code. */
export function compileCommand(file: string, options: CompileCliOptions = {}): number {
  const result = compileProgram(file, options.host ?? nodeHost());
  if (result.program === undefined) {
    process.stderr.write(renderDiagnostics(result.diagnostics, result.files) + '\n');
    return 1;
  }
  const model = pickModel(result.program.models, options.model);
  const emit = options.emit ?? EMIT_STAGES;
  const batch = options.batch ?? 1;
  const dir = options.out ?? join('runs', 'compile', model.name);
  const compiled = compileModel(model, { verify: Boolean(process.env.VITM_DEBUG) });
  const caps: DeviceCaps =
    options.subgroupSize === undefined
      ? WEBGPU_DEFAULT_CAPS
      : { ...WEBGPU_DEFAULT_CAPS, subgroupSize: options.subgroupSize };
  const symbols: Record<string, number> = {};
  for (const graph of [compiled.forward, compiled.training]) {
    for (const input of graph.inputs)
      for (const d of input.value.type.shape) for (const s of d.syms) symbols[s] = batch;
  }
  const optimizer = optimizerState(result.program.experiments, model.name);
  let plans: { readonly forward: KernelPlan; readonly training: KernelPlan };
  let memory: { readonly forward: MemoryReport; readonly training: MemoryReport };
  try {
    const memoryOptions = { maxBindingBytes: WEBGPU_DEFAULT_MAX_BINDING_BYTES };
    const forward = planGraphMemory(compiled.forward, { symbols, caps, ...memoryOptions });
    const training = planGraphMemory(compiled.training, {
      symbols,
      caps,
      ...memoryOptions,
      stateBytesPerParameterElement: optimizer.bytesPerElement,
    });
    plans = { forward: forward.plan, training: training.plan };
    memory = { forward: forward.memory.report, training: training.memory.report };
  } catch (error) {
    if (error instanceof BufferTooLargeError) {
      process.stderr.write(`error VT6005: model ${model.name} at batch ${batch}: ${error.message}\n`);
      return 1;
    }
    // An equation the WGSL lowering cannot express at WebGPU's default limits (f16 without shader-f16, say).
    if (!(error instanceof LoweringError)) throw error;
    const span = spanText(error.equation.span, result.files);
    process.stderr.write(`error: cannot lower model ${model.name} to WGSL: ${error.message} (at ${span})\n`);
    return 1;
  }
  mkdirSync(dir, { recursive: true });
  const written: string[] = [];
  if (emit.includes('ir')) {
    writeFileSync(join(dir, 'forward.ir'), printGraph(compiled.forward) + '\n');
    written.push('forward.ir');
  }
  if (emit.includes('grad')) {
    writeFileSync(join(dir, 'training.ir'), printGraph(compiled.training) + '\n');
    written.push('training.ir');
  }
  if (emit.includes('wgsl')) {
    const tile = defaultMatmulTile();
    // Stale kernels of an earlier compile would mix with these: the stage folders are rewritten whole.
    for (const stage of ['forward', 'training'] as const) rmSync(join(dir, stage), { recursive: true, force: true });
    const forward = writePlan(dir, 'forward', plans.forward, result.files, tile);
    const training = writePlan(dir, 'training', plans.training, result.files, tile);
    const header =
      `# kernels of model ${model.name}, planned at batch ${batch} for WebGPU's default limits ` +
      `(maxComputeWorkgroupsPerDimension ${WEBGPU_DEFAULT_CAPS.maxWorkgroupsPerDimension}, no shader-f16` +
      `${caps.subgroupSize === undefined ? '' : `, subgroups of ${caps.subgroupSize}`});\n` +
      `# matmuls with the default tile ${tile.family} ${tile.wgY}x${tile.wgX}/${tile.tm}x${tile.tn} ` +
      `(a tuned device may choose another). Sources are file:line:col; std/ is the standard library.\n`;
    writeFileSync(join(dir, 'kernels.txt'), `${header}\n${[...forward.index, ...training.index].join('\n\n')}\n`);
    written.push('kernels.txt', ...forward.written, ...training.written);
  }
  const params = compiled.forward.inputs.filter((i) => i.kind === 'param');
  const size = (shape: readonly number[]): number => product(shape);
  const total = params.reduce((s, p) => s + size(evalShape(p.value.type.shape, symbols)), 0);
  const trainable = params
    .filter((p) => p.trainable)
    .reduce((s, p) => s + size(evalShape(p.value.type.shape, symbols)), 0);
  const kernels = (plan: KernelPlan): number => plan.steps.filter((s) => s.kind !== 'upload').length;
  const flops = (graph: Graph): string => formatCount(Math.round(graphFlops(graph, symbols) / batch));
  const shownFiles =
    written.length <= 8
      ? written.map((f) => `  ${f}`).join('\n')
      : [...written.slice(0, 4).map((f) => `  ${f}`), `  ... ${written.length - 4} more`].join('\n');
  process.stdout.write(
    `compile ${model.name} (batch ${batch}) -> ${dir}\n` +
      `  parameters  ${formatCount(total)} total, ${formatCount(trainable)} trainable\n` +
      `  equations   ${compiled.forward.equations.length} forward, ${compiled.training.equations.length} training\n` +
      `  kernels     ${kernels(plans.forward)} forward, ${kernels(plans.training)} training\n` +
      `  FLOPs       ${flops(compiled.forward)} forward, ${flops(compiled.training)} training per example ` +
      `(matmul 2MNK, elementwise 1 per output, reductions 1 per input)\n` +
      `  memory      forward peak ${formatBytes(memory.forward.peakBytes)}; training peak ` +
      `${formatBytes(memory.training.peakBytes)} (${formatBytes(memory.training.noReuseBytes)} without buffer reuse), ` +
      `lower bound ${formatBytes(memory.training.lowerBoundBytes)} = parameters ` +
      `${formatBytes(memory.training.parameterBytes)} + gradients ${formatBytes(memory.training.gradientBytes)} + ` +
      `optimizer state ${formatBytes(memory.training.stateBytes)}${optimizer.source} + largest live set ` +
      `${formatBytes(memory.training.largestLiveBytes)}\n` +
      `wrote ${written.length} file${written.length === 1 ? '' : 's'}:\n${shownFiles}\n`,
  );
  return 0;
}
