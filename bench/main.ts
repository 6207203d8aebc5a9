/**
 * `npm run bench`: vitm against TensorFlow.js's WebGPU backend, side by side in one process on the same adapter.
 *
 *   npm run bench                  table, then the JSON object
 *   npm run bench -- --json        only the JSON object on stdout (everything else goes to stderr)
 *   npm run bench -- --rounds 7    timed rounds per engine and case (default 5)
 *   npm run bench -- --only vit    only the cases whose JSON key starts with `vit` (or `matmul`, ...)
 *   npm run bench -- --sweep       GFLOP/s of every candidate matmul tile at 256/512/1024 instead
 *   npm run bench -- --peer-poll throttled   the peer's waits poll Dawn as vitm's do (default `dawn`, as it ships)
 *
 * Method: per case, both engines are warmed up (pipelines compiled, tuner run), then timed in interleaved rounds
 * (vitm, tfjs, vitm, tfjs, ...) so that load from other processes falls on both alike. One round is a batch of
 * iterations sized to run about `--target` seconds, submitted back to back and closed by one readback; its time
 * divided by the batch size is one sample. The table shows the median sample and the spread (max/min) of the
 * samples; the JSON holds the medians. One process rather than two run back to back: the two engines then see the
 * same machine state round by round, which matters more than isolation on a shared 2-core machine.
 *
 * Waiting on the device: Dawn's Node binding polls with a busy loop on the JavaScript thread while any WebGPU promise
 * is pending, which takes one of the two cores from lavapipe. vitm's runtime spaces those polls out while it waits
 * (`runtime/webgpu/node-poll.ts`); TensorFlow.js, as it ships, does not. `--peer-poll throttled` gives the peer's
 * waits vitm's polling too, so that the ratio compares the kernels alone; the table says which polling each used.
 *
 * A case is one entry of `CASES`. The ViT cases (`vit.ts`) time the tiny ViT of `vit_tiny_bench.vitm` at batch 64:
 * forward, and a training step (forward, backward, SGD); their unit is images/s.
 */
import { loadavg } from 'node:os';
import { openNodeDevice } from '../runtime/webgpu/node.js';
import type { GpuDevice } from '../runtime/webgpu/device.js';
import { CANDIDATE_CONFIGS } from '../runtime/webgpu/tuning.js';
import { dawnPollingThrottled } from '../runtime/webgpu/node-poll.js';
import {
  getPeerPoll,
  openTf,
  setPeerPoll,
  tfMatmul,
  vitmMatmul,
  type Engine,
  type PeerPoll,
  type TfSession,
} from './engines.js';
import { sweep } from './sweep.js';
import {
  checkVitAgreement,
  loadTinyVit,
  tfVitForward,
  tfVitTrain,
  VIT_BATCH,
  vitmVitForward,
  vitmVitTrain,
  type TinyVit,
} from './vit.js';

interface Options {
  readonly json: boolean;
  readonly sweep: boolean;
  readonly rounds: number;
  readonly target: number;
  /** Run only the cases whose group starts with this. */
  readonly only: string | undefined;
  readonly peerPoll: PeerPoll;
}

function pollMode(value: string | undefined): PeerPoll {
  if (value === 'dawn' || value === 'throttled') return value;
  throw new Error(`--peer-poll takes 'dawn' or 'throttled', not '${String(value)}'`);
}

function parseArgs(argv: readonly string[]): Options {
  const value = (name: string, fallback: number): number => {
    const i = argv.indexOf(name);
    const v = i >= 0 ? Number(argv[i + 1]) : fallback;
    if (!Number.isFinite(v) || v <= 0) throw new Error(`${name} needs a positive number`);
    return v;
  };
  return {
    json: argv.includes('--json'),
    sweep: argv.includes('--sweep'),
    rounds: Math.round(value('--rounds', 5)),
    target: value('--target', 0.5),
    only: argv.includes('--only') ? argv[argv.indexOf('--only') + 1] : undefined,
    peerPoll: pollMode(argv.includes('--peer-poll') ? argv[argv.indexOf('--peer-poll') + 1] : 'dawn'),
  };
}

interface Context {
  readonly gpu: GpuDevice;
  readonly tf: TfSession;
}

/** One row of the comparison: how to build each engine, and how much work one iteration is. */
interface BenchCase {
  /** The JSON path: `matmul.<key>` for matmul sizes, a top-level key otherwise. */
  readonly group: 'matmul' | 'vit_forward' | 'vit_train';
  readonly key: string;
  readonly label: string;
  readonly unit: 'GFLOP/s' | 'images/s';
  /** Units of work per iteration (flops / 1e9, or images). */
  readonly work: number;
  /** Why the case cannot run yet; the engines are not built then. */
  readonly unavailable?: string;
  vitm(ctx: Context): Promise<Engine>;
  tfjs(ctx: Context): Promise<Engine>;
}

const matmulCase = (size: number): BenchCase => ({
  group: 'matmul',
  key: String(size),
  label: `matmul ${size}x${size}x${size} f32`,
  unit: 'GFLOP/s',
  work: (2 * size ** 3) / 1e9,
  vitm: (ctx) => vitmMatmul(ctx.gpu, size),
  tfjs: (ctx) => Promise.resolve(tfMatmul(ctx.tf, size)),
});

/** The tiny ViT, compiled once and shared by its cases (both engines of both cases start from its weights). */
let tinyVit: TinyVit | undefined;
const vit = (): TinyVit => (tinyVit ??= loadTinyVit());

const vitCase = (group: 'vit_forward' | 'vit_train', label: string): BenchCase => ({
  group,
  key: group,
  label,
  unit: 'images/s',
  work: VIT_BATCH,
  vitm: (ctx) =>
    Promise.resolve(group === 'vit_forward' ? vitmVitForward(ctx.gpu, vit()) : vitmVitTrain(ctx.gpu, vit())),
  tfjs: (ctx) => Promise.resolve(group === 'vit_forward' ? tfVitForward(ctx.tf, vit()) : tfVitTrain(ctx.tf, vit())),
});

const CASES: readonly BenchCase[] = [
  matmulCase(256),
  matmulCase(512),
  matmulCase(1024),
  vitCase('vit_forward', 'tiny ViT forward, batch 64'),
  vitCase('vit_train', 'tiny ViT training step, batch 64'),
];

interface Result {
  readonly vitm: number;
  readonly tfjs: number;
  readonly spread: { readonly vitm: number; readonly tfjs: number };
  readonly detail: string;
}

const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] ?? NaN) : ((s[mid - 1] ?? NaN) + (s[mid] ?? NaN)) / 2;
};

async function measure(c: BenchCase, ctx: Context, options: Options, log: (line: string) => void): Promise<Result> {
  const engines = { vitm: await c.vitm(ctx), tfjs: await c.tfjs(ctx) };
  try {
    const sizes = { vitm: 1, tfjs: 1 };
    for (const name of ['vitm', 'tfjs'] as const) {
      await engines[name].once();
      const one = await engines[name].once();
      sizes[name] = Math.max(1, Math.min(100, Math.round(options.target / Math.max(one, 1e-4))));
    }
    const rates = { vitm: [] as number[], tfjs: [] as number[] };
    for (let r = 0; r < options.rounds; r++) {
      for (const name of ['vitm', 'tfjs'] as const) {
        const seconds = await engines[name].batch(sizes[name]);
        rates[name].push((c.work * sizes[name]) / seconds);
      }
    }
    const spread = (xs: number[]): number => Math.max(...xs) / Math.min(...xs);
    log(
      `  ${c.label}: vitm ${rates.vitm.map((x) => x.toFixed(2)).join(' ')} | tfjs ${rates.tfjs.map((x) => x.toFixed(2)).join(' ')}`,
    );
    return {
      vitm: median(rates.vitm),
      tfjs: median(rates.tfjs),
      spread: { vitm: spread(rates.vitm), tfjs: spread(rates.tfjs) },
      detail: engines.vitm.detail,
    };
  } finally {
    engines.vitm.dispose();
    engines.tfjs.dispose();
  }
}

function table(adapter: string, rows: readonly { c: BenchCase; r: Result | undefined }[], load: string): string {
  const lines = [
    `adapter: ${adapter}`,
    '',
    `${'case'.padEnd(34)} ${'unit'.padEnd(9)} ${'vitm'.padStart(9)} ${'tfjs'.padStart(9)} ${'vitm/tfjs'.padStart(9)}  spread vitm/tfjs  vitm kernel`,
  ];
  for (const { c, r } of rows) {
    if (!r) {
      lines.push(
        `${c.label.padEnd(34)} ${c.unit.padEnd(9)} ${'-'.padStart(9)} ${'-'.padStart(9)} ${'-'.padStart(9)}  (${c.unavailable ?? 'not run'})`,
      );
      continue;
    }
    const spread = `${r.spread.vitm.toFixed(2)}x/${r.spread.tfjs.toFixed(2)}x`;
    lines.push(
      `${c.label.padEnd(34)} ${c.unit.padEnd(9)} ${r.vitm.toFixed(2).padStart(9)} ${r.tfjs.toFixed(2).padStart(9)} ${(r.vitm / r.tfjs).toFixed(2).padStart(8)}x  ${spread.padEnd(16)}  ${r.detail}`,
    );
  }
  lines.push(
    '',
    'medians of the timed rounds after warm-up; spread = slowest/fastest round (machine noise)',
    `waits on the device: vitm ${dawnPollingThrottled() ? 'throttled polling' : "Dawn's own polling (VITM_DAWN_POLL=spin)"}, tfjs ${getPeerPoll() === 'throttled' ? 'throttled polling (--peer-poll throttled)' : "Dawn's own polling (as it ships)"}`,
    `load average (1, 5, 15 min) before / after: ${load}`,
  );
  return lines.join('\n');
}

async function main(): Promise<void> {
  const options = parseArgs(process.argv.slice(2));
  setPeerPoll(options.peerPoll);
  // With --json, stdout carries only the JSON object: route every other message (ours, Dawn's, tfjs's) to stderr.
  const out = process.stdout.write.bind(process.stdout);
  if (options.json) {
    const toStderr: typeof process.stdout.write = process.stderr.write.bind(process.stderr);
    process.stdout.write = toStderr;
    console.log = console.error;
  }
  const log = (line: string): void => {
    console.error(line);
  };
  const loadAverage = (): string =>
    loadavg()
      .map((x) => x.toFixed(2))
      .join(' ');
  const loadBefore = loadAverage();
  const gpu = await openNodeDevice();
  try {
    const adapter = `${gpu.adapter.vendor}/${gpu.adapter.architecture} (${gpu.adapter.description})`;
    if (options.sweep) {
      await sweep(gpu, CANDIDATE_CONFIGS, [256, 512, 1024], options.rounds);
      return;
    }
    const tf = await openTf();
    const ctx: Context = { gpu, tf };
    const rows: { c: BenchCase; r: Result | undefined }[] = [];
    try {
      let agreement: string | undefined;
      for (const c of CASES) {
        if (options.only !== undefined && !c.group.startsWith(options.only)) continue;
        if (c.group !== 'matmul' && agreement === undefined) {
          agreement = await checkVitAgreement(gpu, tf, vit());
          log(`tiny ViT: ${agreement}`);
        }
        log(`${c.label}...`);
        rows.push({ c, r: c.unavailable ? undefined : await measure(c, ctx, options, log) });
      }
    } finally {
      tf.dispose();
    }
    const json: Record<string, unknown> = { adapter, matmul: {} };
    for (const { c, r } of rows) {
      const value = r ? { vitm: r.vitm, tfjs: r.tfjs } : null;
      if (c.group === 'matmul') (json.matmul as Record<string, unknown>)[c.key] = value;
      else json[c.group] = value;
    }
    if (!options.json) {
      out(`${table(adapter, rows, `${loadBefore} / ${loadAverage()}`)}\n\n`);
    }
    out(`${JSON.stringify(json)}\n`);
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
