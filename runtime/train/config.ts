/**
 * An elaborated `experiment` as the trainer runs it: optimizer, schedule, data, length, seed. The front end has
 * already checked the names and types of every field; this adds the checks that need values (ranges, data sets
 * this machine has) and fills in the defaults. Errors are VT6018 with the `.vitm` location of the setting.
 */
import type {
  ConstValue,
  ElaboratedExperiment,
  ElaboratedModel,
  Invocation,
} from '../../compiler/semantic/elaborated.js';
import type { Span } from '../../compiler/source/source.js';
import type { DataSpec } from '../data/spec.js';
import { DOMAIN_NAMES, type DomainName } from '../data/spec.js';
import type { Transform } from '../data/transforms.js';
import { VitmRuntimeError } from '../errors.js';
import { checkOptimizer, DEFAULT_NO_DECAY, type OptimizerSpec, type ScheduleSpec } from './optimizer.js';

export interface TrainConfig {
  readonly experiment: string;
  readonly model: string;
  readonly optimizer: OptimizerSpec;
  /** Parameter-name patterns without weight decay. */
  readonly noDecay: readonly string[];
  readonly schedule: ScheduleSpec;
  /** Global gradient-norm clipping (0: none). */
  readonly maxGradNorm: number;
  readonly labelSmoothing: number;
  readonly length: { readonly kind: 'epochs' | 'steps'; readonly count: number };
  readonly batch: number;
  readonly seed: number;
  readonly train: DataSpec;
  readonly eval?: DataSpec;
  readonly hooks: readonly EwaHook[];
  readonly export?: ExportSpec;
}

/** A value that may change with the step: a constant, or `linear(start, end, steps)` (then held at `end`). */
export type StepValue =
  | { readonly kind: 'constant'; readonly value: number }
  | { readonly kind: 'linear'; readonly start: number; readonly end: number; readonly steps: number };

/** The value at step `step` (0-based). */
export function valueAt(v: StepValue, step: number): number {
  if (v.kind === 'constant') return v.value;
  return v.start + (v.end - v.start) * Math.min(1, step / Math.max(1, v.steps));
}

/** `ewa(paths..., beta, until)`: experts weights averaging after every optimizer step (before step `until`). */
export interface EwaHook {
  readonly kind: 'ewa';
  /** The mixtures of experts it applies to, as instance paths (`blocks.1.mlp`). */
  readonly paths: readonly string[];
  readonly beta: StepValue;
  /** The first step it no longer runs at ("early EWA"); undefined: every step. */
  readonly until?: number;
  /** Where the hook is written, for messages. */
  readonly where: string;
}

export type ExportSpec = {
  /** The model the exported weights must fit (`as Model`). */
  readonly as?: { readonly model: string; readonly parameters: ReadonlyMap<string, readonly number[]> };
} & (
  | { readonly kind: 'weights'; readonly path: string }
  | { readonly kind: 'to_ffn'; readonly paths: readonly string[]; readonly path: string }
);

/** Formats a span as `file:line:col` for messages. */
export type Locate = (span: Span) => string;

function configError(locate: Locate, span: Span, message: string, hint?: string): VitmRuntimeError {
  return new VitmRuntimeError('VT6018', `${locate(span)}: ${message}`, hint);
}

function num(inv: Invocation, key: string, fallback: number): number {
  const v: ConstValue | undefined = inv.args.get(key);
  if (v === undefined) return fallback;
  if (v.kind === 'int' || v.kind === 'float') return v.value;
  if (v.kind === 'bool') return v.value ? 1 : 0;
  return Number.NaN;
}

function str(inv: Invocation, key: string): string | undefined {
  const v = inv.args.get(key);
  if (v === undefined) return undefined;
  if (v.kind === 'list') return v.items.map((x) => (x.kind === 'list' ? '' : String(x.value))).join(', ');
  return v.kind === 'string' ? v.value : String(v.value);
}

function bool(inv: Invocation, key: string, fallback: boolean): boolean {
  const v = inv.args.get(key);
  if (v === undefined) return fallback;
  if (v.kind === 'list') return v.items.length > 0;
  return v.kind === 'bool' ? v.value : v.value !== 0 && v.value !== '';
}

/** Parses `"flip, shift(2), noise(0.1)"` into transforms. */
export function parseTransforms(text: string, fail: (why: string) => never): Transform[] {
  const out: Transform[] = [];
  for (const raw of text.split(',')) {
    const item = raw.trim();
    if (item === '') continue;
    const m = /^([a-z0-9_]+)\s*(?:\(\s*([-+0-9.e]*)\s*\))?$/i.exec(item);
    const name = m?.[1];
    const arg = m?.[2] === undefined || m[2] === '' ? undefined : Number(m[2]);
    if (name === undefined || (arg !== undefined && !Number.isFinite(arg))) fail(`cannot read the transform '${item}'`);
    switch (name) {
      case 'flip':
        out.push(arg === undefined ? { kind: 'flip' } : { kind: 'flip', p: arg });
        break;
      case 'shift':
        out.push({ kind: 'shift', max: arg ?? 2 });
        break;
      case 'rot90':
        out.push({ kind: 'rot90', k: arg ?? 1 });
        break;
      case 'invert':
        out.push({ kind: 'invert' });
        break;
      case 'noise':
        out.push({ kind: 'noise', std: arg ?? 0.1 });
        break;
      default:
        fail(`unknown transform '${item}' (known: flip(p), shift(max), rot90(k), invert, noise(std))`);
    }
  }
  return out;
}

function dataSpec(inv: Invocation, seed: number, locate: Locate, role: 'train' | 'eval'): DataSpec {
  const fail = (why: string, hint?: string): never => {
    throw configError(locate, inv.span, why, hint);
  };
  if (inv.name === 'synthetic') {
    const classes = num(inv, 'classes', 10);
    const count = num(inv, 'size', 1024);
    if (!Number.isInteger(classes) || classes < 2) fail('synthetic: classes must be an int >= 2');
    if (!Number.isInteger(count) || count < 1) fail('synthetic: size must be a positive int');
    const splitText = str(inv, 'split') ?? (role === 'train' ? 'train' : 'test');
    if (splitText !== 'train' && splitText !== 'test')
      fail(`synthetic: split must be "train" or "test", got "${splitText}"`);
    const noise = inv.args.has('noise') ? num(inv, 'noise', 24) : undefined;
    if (noise !== undefined && !(noise >= 0)) fail('synthetic: noise is a standard deviation in grey levels, >= 0');
    return {
      source: {
        kind: 'synthetic',
        count,
        classes,
        seed: num(inv, 'seed', seed),
        split: splitText === 'train' ? 'train' : 'test',
        ...(noise === undefined ? {} : { noise }),
      },
      seed,
    };
  }
  if (inv.name !== 'fashion_mnist')
    fail(
      `the data set '${inv.name}' is not available to the trainer`,
      'vitm ships loaders for fashion_mnist (the Debian package dataset-fashion-mnist) and synthetic data',
    );
  const splitText = str(inv, 'split') ?? (role === 'train' ? 'train' : 'test');
  if (splitText !== 'train' && splitText !== 'test')
    fail(`fashion_mnist: split must be "train" or "test", got "${splitText}"`);
  const split = splitText === 'train' ? 'train' : 'test';
  let classes: number[] | undefined;
  const cls = inv.args.get('classes');
  if (cls !== undefined) {
    if (cls.kind === 'int') {
      if (cls.value < 2 || cls.value > 10) fail('fashion_mnist: classes must be between 2 and 10');
      classes = Array.from({ length: cls.value }, (_, i) => i);
    } else if (cls.kind === 'string' || cls.kind === 'list') {
      const text = str(inv, 'classes') ?? '';
      classes = text.split(',').map((s) => Number(s.trim()));
      if (classes.some((c) => !Number.isInteger(c))) fail(`fashion_mnist: cannot read the classes "${text}"`);
    } else fail('fashion_mnist: classes is a count (5) or a list ([0, 2, 4])');
  }
  const perClass = inv.args.has('per_class') ? num(inv, 'per_class', 0) : undefined;
  if (perClass !== undefined && (!Number.isInteger(perClass) || perClass < 1))
    fail('fashion_mnist: per_class must be a positive int');
  const limit = inv.args.has('limit') ? num(inv, 'limit', 0) : undefined;
  if (limit !== undefined && (!Number.isInteger(limit) || limit < 1))
    fail('fashion_mnist: limit must be a positive int');
  const domain = str(inv, 'transform');
  if (domain !== undefined && !(DOMAIN_NAMES as readonly string[]).includes(domain))
    fail(`fashion_mnist: unknown transform "${domain}" (domains: ${DOMAIN_NAMES.join(', ')})`);
  const augmentText = str(inv, 'augment');
  const augment = augmentText === undefined ? undefined : parseTransforms(augmentText, (why) => fail(why));
  const dataSeed = num(inv, 'seed', seed);
  return {
    source: { kind: 'fashion-mnist', split },
    seed: dataSeed,
    ...(classes === undefined ? {} : { classes }),
    ...(perClass === undefined ? {} : { perClass }),
    ...(limit === undefined ? {} : { limit }),
    ...(domain === undefined ? {} : { domain: domain as DomainName }),
    ...(augment === undefined || role === 'eval' ? {} : { augment }),
  };
}

function optimizerSpec(inv: Invocation, locate: Locate): OptimizerSpec {
  const lr = num(inv, 'lr', inv.name === 'sgd' ? 0.1 : 1e-3);
  const weightDecay = num(inv, 'weight_decay', inv.name === 'adamw' ? 0.01 : 0);
  let spec: OptimizerSpec;
  if (inv.name === 'sgd') {
    spec = { kind: 'sgd', lr, weightDecay, momentum: num(inv, 'momentum', 0), nesterov: bool(inv, 'nesterov', false) };
  } else if (inv.name === 'adam' || inv.name === 'adamw') {
    spec = {
      kind: inv.name,
      lr,
      weightDecay,
      beta1: num(inv, 'beta1', 0.9),
      beta2: num(inv, 'beta2', 0.999),
      eps: num(inv, 'eps', 1e-8),
    };
  } else throw configError(locate, inv.span, `unknown optimizer '${inv.name}'`);
  try {
    checkOptimizer(spec);
  } catch (error) {
    if (error instanceof VitmRuntimeError) throw configError(locate, inv.span, error.message, error.hint ?? undefined);
    throw error;
  }
  return spec;
}

function scheduleSpec(inv: Invocation | undefined, locate: Locate): ScheduleSpec {
  if (inv === undefined) return { kind: 'constant', warmup: 0 };
  const warmup = num(inv, 'warmup', 0);
  if (!Number.isInteger(warmup) || warmup < 0)
    throw configError(locate, inv.span, `warmup must be a whole number of steps >= 0, got ${warmup}`);
  switch (inv.name) {
    case 'constant':
      return { kind: 'constant', warmup };
    case 'cosine':
      return { kind: 'cosine', warmup, minLr: num(inv, 'min_lr', 0) };
    case 'linear':
      return { kind: 'linear', warmup, start: num(inv, 'start', 1), end: num(inv, 'end', 0) };
    case 'step': {
      const every = num(inv, 'every', 0);
      if (!Number.isInteger(every) || every < 1)
        throw configError(locate, inv.span, 'step: every must be a positive whole number of steps');
      return { kind: 'step', warmup, every, gamma: num(inv, 'gamma', 0.1) };
    }
    default:
      throw configError(locate, inv.span, `unknown schedule '${inv.name}'`);
  }
}

/** The trainer's settings for an elaborated experiment. */
export function trainConfig(
  experiment: ElaboratedExperiment,
  locate: Locate,
  models: readonly ElaboratedModel[] = [],
): TrainConfig {
  const seed = experiment.seed ?? 0;
  const optimizer = optimizerSpec(experiment.optimizer, locate);
  const noDecayText = str(experiment.optimizer, 'no_decay');
  const noDecay =
    noDecayText === undefined
      ? DEFAULT_NO_DECAY
      : noDecayText
          .split(',')
          .map((s) => s.trim())
          .filter((s) => s !== '');
  if (experiment.loss.name !== 'cross_entropy')
    throw configError(
      locate,
      experiment.loss.span,
      `the trainer trains classifiers with cross_entropy; '${experiment.loss.name}' is not supported`,
    );
  const labelSmoothing = num(experiment.loss, 'label_smoothing', 0);
  if (!(labelSmoothing >= 0 && labelSmoothing < 1))
    throw configError(locate, experiment.loss.span, `label_smoothing must be in [0, 1), got ${labelSmoothing}`);
  if (experiment.data === undefined)
    throw configError(locate, experiment.span, `the experiment ${experiment.name} has no 'data' to train on`);
  const hooks: EwaHook[] = experiment.afterStep.map((h) => {
    if (h.name !== 'ewa')
      throw configError(locate, h.span, `'${h.name}' is not an after-step hook (after_step takes ewa(...))`);
    const paths = h.targets.flatMap((t) => t.matches);
    if (paths.length === 0) throw configError(locate, h.span, 'ewa needs the paths of mixtures of experts');
    const schedule = h.schedules.get('beta');
    let beta: StepValue;
    if (schedule !== undefined) {
      if (schedule.name !== 'linear')
        throw configError(locate, schedule.span, `beta takes a number or linear(start, end, steps: N)`);
      beta = {
        kind: 'linear',
        start: num(schedule, 'start', 0),
        end: num(schedule, 'end', 0),
        steps: num(schedule, 'steps', 1),
      };
    } else beta = { kind: 'constant', value: num(h, 'beta', 0.3) };
    const betas = beta.kind === 'constant' ? [beta.value] : [beta.start, beta.end];
    if (betas.some((b) => !(b >= 0 && b <= 1)))
      throw configError(locate, h.span, `ewa: beta must be in [0, 1], got ${betas.join(' to ')}`);
    const until = h.args.has('until') ? num(h, 'until', 0) : undefined;
    if (until !== undefined && !(Number.isInteger(until) && until > 0))
      throw configError(locate, h.span, 'ewa: until is a step count, a positive int');
    return { kind: 'ewa', paths, beta, ...(until === undefined ? {} : { until }), where: locate(h.span) };
  });
  let exported: ExportSpec | undefined;
  const exp = experiment.export;
  if (exp !== undefined) {
    const as = exp.as === undefined ? undefined : models.find((m) => m.name === exp.as);
    const target =
      as === undefined
        ? {}
        : {
            as: {
              model: as.name,
              parameters: new Map(
                as.parameters.map((p) => [p.parameter.path, p.parameter.type.shape.map((d) => d.coeff)]),
              ),
            },
          };
    const t = exp.transform;
    if (t === undefined) exported = { kind: 'weights', path: `${exp.as ?? experiment.model}.safetensors`, ...target };
    else if (t.name === 'safetensors')
      exported = { kind: 'weights', path: str(t, 'path') ?? 'export.safetensors', ...target };
    else
      exported = {
        kind: 'to_ffn',
        paths: t.targets.flatMap((x) => x.matches),
        path: `${exp.as ?? experiment.model}.safetensors`,
        ...target,
      };
  }
  return {
    hooks,
    ...(exported === undefined ? {} : { export: exported }),
    experiment: experiment.name,
    model: experiment.model,
    optimizer,
    noDecay,
    schedule: scheduleSpec(experiment.schedule, locate),
    maxGradNorm: experiment.clipGrad ?? 0,
    labelSmoothing,
    length: experiment.length,
    batch: experiment.batch,
    seed,
    train: dataSpec(experiment.data, seed, locate, 'train'),
    ...(experiment.eval === undefined ? {} : { eval: dataSpec(experiment.eval, seed, locate, 'eval') }),
  };
}
