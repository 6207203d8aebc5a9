#!/usr/bin/env node
/**
 * The `vitm` command line. Each command is a function returning an exit code; user-facing failures are coded
 * errors printed without a stack trace (set VITM_DEBUG=1 to see one), anything else is reported as a vitm bug.
 */
import { parseArgs } from 'node:util';
import { VitmRuntimeError } from '../runtime/errors.js';
import { doctor } from './doctor.js';

const USAGE = `usage: vitm <command> [options]

commands:
  check FILE         check a .vitm file: coded errors, or per model its parameter counts and a module table
                     (--depth N: how deep the table goes, default 1)
  gradcheck FILE     check every trainable parameter's gradient against finite differences (float64 reference)
                     (--model NAME, --batch N (default 1), --directions N (default 1), --seed N, --rtol X (1e-6),
                     --backend reference|webgpu: webgpu compares the GPU's gradients with the float64 reference)
  compile FILE       compile a model and write its stages: forward.ir, training.ir (gradients), WGSL kernels
                     (--model NAME, -o DIR (default runs/compile/MODEL), --emit ir,grad,wgsl (default all),
                     --batch N (default 1): the batch the kernels are planned for, --subgroup-size N: plan for
                     a device whose subgroups have N lanes, as llvmpipe's 8: fused attention)
  train FILE         train an experiment on the GPU into a run folder: checkpoints, metrics.jsonl, curves,
                     model.safetensors (--experiment NAME, --out DIR (default runs/EXPERIMENT-DATE-TIME),
                     --resume: continue the run in --out (default the newest run of the experiment),
                     --steps N: stop after N steps in all, resumable, --init FILE.safetensors: initial weights,
                     --log-every N (50), --checkpoint-every N (200), --eval-every N (default each epoch),
                     --fixed-tiles: the first matmul tile that fits instead of timing candidates (starts sooner))
  eval FILE          accuracy and loss of an experiment's model on its eval data
                     (--checkpoint CKPT: a .safetensors file, checkpoint or run folder (required),
                     --experiment NAME, --split train|test, --batch N (default the experiment's batch, whose
                     kernels training compiled and cached), --tta flip: average each image's prediction with
                     its mirror image's, --json: {"accuracy", "loss", "n"})
  test FILE          property-test the file's laws: random shapes, inputs and weights, both sides compared, a
                     shrunk counterexample for a law that fails (--runs N (default 50), --seed N (default 0),
                     --backend reference|webgpu|both (default reference), --max-dim N (default 4): the largest
                     value of a dimension symbol, --law NAME (repeatable): only these laws)
  study FILE         train experiments over several seeds and write a table of test accuracies: mean, std and the
                     paired difference to the first experiment (--seeds 0,1,2 (required), --experiments a,b,c
                     (default all), --out DIR (default runs/study), --table FILE.md (default DIR/results.md),
                     --fixed-tiles as for train)
  doctor [--json]    the WebGPU adapter, its limits and features, and a kernel run and checked on it
  help               this text
  version            the vitm version

environment:
  VITM_DEBUG=1       print stack traces of internal errors
`;

class UsageError extends Error {}

/** `{ [key]: value }`, or `{}` when the value is undefined (for exactOptionalPropertyTypes). */
function optional<K extends string, V>(key: K, value: V | undefined): Partial<Record<K, V>> {
  return value === undefined ? {} : ({ [key]: value } as Record<K, V>);
}

async function version(): Promise<string> {
  const { readFile } = await import('node:fs/promises');
  const pkg = JSON.parse(await readFile(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

async function main(argv: readonly string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'check': {
      const { values, positionals } = parseArgs({
        args: rest,
        allowPositionals: true,
        options: { depth: { type: 'string' } },
      });
      const [file, ...extra] = positionals;
      if (file === undefined || extra.length > 0) throw new UsageError('check takes exactly one FILE');
      const depth = values.depth === undefined ? 1 : Number(values.depth);
      if (!Number.isInteger(depth) || depth < 0) throw new UsageError('--depth takes a non-negative integer');
      const { check } = await import('./check.js');
      return check(file, { depth });
    }
    case 'gradcheck': {
      const { values, positionals } = parseArgs({
        args: rest,
        allowPositionals: true,
        options: {
          model: { type: 'string' },
          batch: { type: 'string' },
          directions: { type: 'string' },
          seed: { type: 'string' },
          rtol: { type: 'string' },
          backend: { type: 'string' },
        },
      });
      const [file, ...extra] = positionals;
      if (file === undefined || extra.length > 0) throw new UsageError('gradcheck takes exactly one FILE');
      const positive = (name: string, text: string | undefined, integer: boolean): number | undefined => {
        if (text === undefined) return undefined;
        const n = Number(text);
        if (!(n > 0) || (integer && !Number.isInteger(n))) {
          throw new UsageError(`--${name} takes a positive ${integer ? 'integer' : 'number'}, got '${text}'`);
        }
        return n;
      };
      const seed = values.seed === undefined ? 0 : Number(values.seed);
      if (!Number.isInteger(seed) || seed < 0) throw new UsageError('--seed takes a non-negative integer');
      const { gradcheckCommand, GradcheckUsageError, GRADCHECK_BACKENDS } = await import('./gradcheck.js');
      const backend = GRADCHECK_BACKENDS.find((b) => b === (values.backend ?? 'reference'));
      if (backend === undefined) {
        throw new UsageError(`--backend takes ${GRADCHECK_BACKENDS.join(' or ')}, got '${values.backend ?? ''}'`);
      }
      try {
        return await gradcheckCommand(file, {
          backend,
          ...(values.model === undefined ? {} : { model: values.model }),
          ...optional('batch', positive('batch', values.batch, true)),
          ...optional('directions', positive('directions', values.directions, true)),
          ...optional('rtol', positive('rtol', values.rtol, false)),
          seed,
        });
      } catch (error) {
        if (error instanceof GradcheckUsageError) throw new UsageError(error.message);
        throw error;
      }
    }
    case 'compile': {
      const { values, positionals } = parseArgs({
        args: rest,
        allowPositionals: true,
        options: {
          model: { type: 'string' },
          out: { type: 'string', short: 'o' },
          emit: { type: 'string' },
          batch: { type: 'string' },
          'subgroup-size': { type: 'string' },
        },
      });
      const [file, ...extra] = positionals;
      if (file === undefined || extra.length > 0) throw new UsageError('compile takes exactly one FILE');
      const batch = values.batch === undefined ? undefined : Number(values.batch);
      if (batch !== undefined && !(Number.isInteger(batch) && batch > 0)) {
        throw new UsageError(`--batch takes a positive integer, got '${values.batch ?? ''}'`);
      }
      const lanes = values['subgroup-size'];
      const subgroupSize = lanes === undefined ? undefined : Number(lanes);
      if (subgroupSize !== undefined && !(Number.isInteger(subgroupSize) && subgroupSize >= 1 && subgroupSize <= 128)) {
        throw new UsageError(`--subgroup-size takes an integer from 1 to 128, got '${lanes ?? ''}'`);
      }
      const { compileCommand, CompileUsageError, parseEmit } = await import('./compile.js');
      try {
        return compileCommand(file, {
          ...optional('model', values.model),
          ...optional('out', values.out),
          ...optional('emit', values.emit === undefined ? undefined : parseEmit(values.emit)),
          ...optional('batch', batch),
          ...optional('subgroupSize', subgroupSize),
        });
      } catch (error) {
        if (error instanceof CompileUsageError) throw new UsageError(error.message);
        throw error;
      }
    }
    case 'train': {
      const { values, positionals } = parseArgs({
        args: rest,
        allowPositionals: true,
        options: {
          experiment: { type: 'string' },
          out: { type: 'string', short: 'o' },
          resume: { type: 'boolean', default: false },
          steps: { type: 'string' },
          init: { type: 'string' },
          'log-every': { type: 'string' },
          'checkpoint-every': { type: 'string' },
          'eval-every': { type: 'string' },
          'fixed-tiles': { type: 'boolean', default: false },
        },
      });
      const [file, ...extra] = positionals;
      if (file === undefined || extra.length > 0) throw new UsageError('train takes exactly one FILE');
      const count = (name: string, text: string | undefined): number | undefined => {
        if (text === undefined) return undefined;
        const n = Number(text);
        if (!(Number.isInteger(n) && n > 0)) throw new UsageError(`--${name} takes a positive integer, got '${text}'`);
        return n;
      };
      const { trainCommand, TrainUsageError } = await import('./train.js');
      try {
        return await trainCommand(file, {
          ...optional('experiment', values.experiment),
          ...optional('out', values.out),
          resume: values.resume,
          ...optional('stopAfter', count('steps', values.steps)),
          ...optional('init', values.init),
          ...optional('logEvery', count('log-every', values['log-every'])),
          ...optional('checkpointEvery', count('checkpoint-every', values['checkpoint-every'])),
          ...optional('evalEvery', count('eval-every', values['eval-every'])),
          tune: !values['fixed-tiles'],
        });
      } catch (error) {
        if (error instanceof TrainUsageError) throw new UsageError(error.message);
        throw error;
      }
    }
    case 'eval': {
      const { values, positionals } = parseArgs({
        args: rest,
        allowPositionals: true,
        options: {
          checkpoint: { type: 'string' },
          experiment: { type: 'string' },
          split: { type: 'string' },
          batch: { type: 'string' },
          tta: { type: 'string' },
          json: { type: 'boolean', default: false },
        },
      });
      const [file, ...extra] = positionals;
      if (file === undefined || extra.length > 0) throw new UsageError('eval takes exactly one FILE');
      const tta = values.tta === undefined ? undefined : (['none', 'flip'] as const).find((x) => x === values.tta);
      if (values.tta !== undefined && tta === undefined)
        throw new UsageError(`--tta takes none or flip, got '${values.tta}'`);
      if (values.checkpoint === undefined) throw new UsageError('eval needs --checkpoint CKPT');
      const split =
        values.split === undefined ? undefined : (['train', 'test'] as const).find((x) => x === values.split);
      if (values.split !== undefined && split === undefined)
        throw new UsageError(`--split takes train or test, got '${values.split}'`);
      const batch = values.batch === undefined ? undefined : Number(values.batch);
      if (batch !== undefined && !(Number.isInteger(batch) && batch > 0))
        throw new UsageError(`--batch takes a positive integer, got '${values.batch ?? ''}'`);
      const { evalCommand } = await import('./eval.js');
      const { TrainUsageError } = await import('./train.js');
      try {
        return await evalCommand(file, {
          checkpoint: values.checkpoint,
          json: values.json,
          ...optional('experiment', values.experiment),
          ...optional('split', split),
          ...optional('batch', batch),
          ...optional('tta', tta),
        });
      } catch (error) {
        if (error instanceof TrainUsageError) throw new UsageError(error.message);
        throw error;
      }
    }
    case 'test': {
      const { values, positionals } = parseArgs({
        args: rest,
        allowPositionals: true,
        options: {
          runs: { type: 'string' },
          seed: { type: 'string' },
          backend: { type: 'string' },
          'max-dim': { type: 'string' },
          law: { type: 'string', multiple: true },
        },
      });
      const [file, ...extra] = positionals;
      if (file === undefined || extra.length > 0) throw new UsageError('test takes exactly one FILE');
      const integer = (name: string, text: string | undefined, min: number): number | undefined => {
        if (text === undefined) return undefined;
        const n = Number(text);
        if (!Number.isInteger(n) || n < min)
          throw new UsageError(`--${name} takes an integer >= ${min}, got '${text}'`);
        return n;
      };
      const { testCommand, TestUsageError, TEST_BACKENDS } = await import('./test.js');
      const backend = TEST_BACKENDS.find((b) => b === (values.backend ?? 'reference'));
      if (backend === undefined) {
        throw new UsageError(`--backend takes ${TEST_BACKENDS.join(', ')}, got '${values.backend ?? ''}'`);
      }
      try {
        return await testCommand(file, {
          backend,
          ...optional('runs', integer('runs', values.runs, 1)),
          ...optional('seed', integer('seed', values.seed, 0)),
          ...optional('maxDim', integer('max-dim', values['max-dim'], 1)),
          ...optional('laws', values.law),
        });
      } catch (error) {
        if (error instanceof TestUsageError) throw new UsageError(error.message);
        throw error;
      }
    }
    case 'study': {
      const { values, positionals } = parseArgs({
        args: rest,
        allowPositionals: true,
        options: {
          seeds: { type: 'string' },
          experiments: { type: 'string' },
          out: { type: 'string', short: 'o' },
          table: { type: 'string' },
          'fixed-tiles': { type: 'boolean', default: false },
        },
      });
      const [file, ...extra] = positionals;
      if (file === undefined || extra.length > 0) throw new UsageError('study takes exactly one FILE');
      if (values.seeds === undefined) throw new UsageError('study needs --seeds, e.g. --seeds 0,1,2');
      const seeds = values.seeds.split(',').map((x) => Number(x.trim()));
      if (seeds.some((x) => !Number.isInteger(x) || x < 0))
        throw new UsageError(`--seeds takes non-negative integers separated by commas, got '${values.seeds}'`);
      const { studyCommand, StudyUsageError } = await import('./study.js');
      try {
        return await studyCommand(file, {
          seeds,
          ...optional(
            'experiments',
            values.experiments?.split(',').map((x) => x.trim()),
          ),
          ...optional('out', values.out),
          ...optional('table', values.table),
          tune: !values['fixed-tiles'],
        });
      } catch (error) {
        if (error instanceof StudyUsageError) throw new UsageError(error.message);
        throw error;
      }
    }
    case 'doctor': {
      const { values } = parseArgs({ args: rest, options: { json: { type: 'boolean', default: false } } });
      return doctor({ json: values.json });
    }
    case 'version':
    case '--version':
      process.stdout.write(`${await version()}\n`);
      return 0;
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(USAGE);
      return 0;
    default:
      throw new UsageError(`unknown command '${command}'`);
  }
}

function report(error: unknown): number {
  if (error instanceof VitmRuntimeError) {
    process.stderr.write(error.render() + '\n');
    return 1;
  }
  if (
    error instanceof UsageError ||
    (error instanceof TypeError && 'code' in error && String(error.code).startsWith('ERR_PARSE_ARGS'))
  ) {
    process.stderr.write(`error: ${error.message}\n\n${USAGE}`);
    return 2;
  }
  const detail = process.env.VITM_DEBUG && error instanceof Error ? `\n${error.stack ?? ''}` : '';
  process.stderr.write(
    `internal error (a bug in vitm, please report it): ${error instanceof Error ? error.message : String(error)}${detail}\n`,
  );
  return 70;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.exitCode = report(error);
  },
);
