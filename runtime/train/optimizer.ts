/**
 * Optimizers and learning-rate schedules: what they are and what one step does, on the host.
 *
 * The GPU kernels (`gpu-update.ts`) implement exactly these formulas, which follow PyTorch's `torch.optim` (so a
 * checkpoint's optimizer state means what PyTorch would mean by it):
 *
 *   SGD:    g <- g + wd p;  buf <- momentum buf + g (buf starts at 0, which equals PyTorch's first-step copy);
 *           g <- nesterov ? g + momentum buf : buf (with momentum), p <- p - lr g
 *   Adam:   g <- g + wd p (L2, coupled), then as AdamW without the decoupled decay
 *   AdamW:  p <- p (1 - lr wd);  m <- b1 m + (1 - b1) g;  v <- b2 v + (1 - b2) g^2;
 *           p <- p - (lr / (1 - b1^t)) m / (sqrt(v) / sqrt(1 - b2^t) + eps)
 *
 * `g` is the gradient after clipping by the global norm: every gradient is multiplied by
 * `min(1, maxNorm / (norm + 1e-6))` where `norm` is the 2-norm of all gradients together (`clip_grad_norm_`).
 * Weight decay applies to the parameters that match none of the optimizer's `noDecay` patterns (by default the
 * biases, the norms' parameters and the tokens and position embeddings, as timm does).
 */
import { VitmRuntimeError } from '../errors.js';

export type OptimizerSpec =
  | {
      readonly kind: 'sgd';
      readonly lr: number;
      readonly momentum: number;
      readonly nesterov: boolean;
      readonly weightDecay: number;
    }
  | {
      readonly kind: 'adam' | 'adamw';
      readonly lr: number;
      readonly beta1: number;
      readonly beta2: number;
      readonly eps: number;
      readonly weightDecay: number;
    };

/** Parameter-name patterns (`*` any run of characters) that get no weight decay, after timm's convention. */
export const DEFAULT_NO_DECAY: readonly string[] = ['*.bias', '*norm*', 'cls_token', 'pos_embed', '*token*'];

export type ScheduleSpec =
  | { readonly kind: 'constant'; readonly warmup: number }
  | { readonly kind: 'cosine'; readonly warmup: number; readonly minLr: number }
  | { readonly kind: 'linear'; readonly warmup: number; readonly start: number; readonly end: number }
  | { readonly kind: 'step'; readonly warmup: number; readonly every: number; readonly gamma: number };

/** The optimizer state tensors of one parameter, by PyTorch's names. */
export function stateSlots(spec: OptimizerSpec): readonly string[] {
  if (spec.kind === 'sgd') return spec.momentum !== 0 ? ['momentum_buffer'] : [];
  return ['exp_avg', 'exp_avg_sq'];
}

function globToRegExp(pattern: string): RegExp {
  const escaped = pattern.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*');
  return new RegExp(`^${escaped}$`);
}

/** True when weight decay applies to the parameter `name` (it matches none of `noDecay`). */
export function decays(name: string, noDecay: readonly string[]): boolean {
  return !noDecay.some((p) => globToRegExp(p).test(name));
}

/** Checks an optimizer's hyperparameters; a bad one is VT6018 naming it. */
export function checkOptimizer(spec: OptimizerSpec): void {
  const bad = (what: string, value: number, range: string): never => {
    throw new VitmRuntimeError('VT6018', `${spec.kind}: ${what} = ${value} is out of range`, `use ${range}`);
  };
  if (!(spec.lr >= 0) || !Number.isFinite(spec.lr)) bad('lr', spec.lr, 'a learning rate >= 0');
  if (!(spec.weightDecay >= 0)) bad('weight_decay', spec.weightDecay, 'weight_decay >= 0');
  if (spec.kind === 'sgd') {
    if (!(spec.momentum >= 0 && spec.momentum < 1)) bad('momentum', spec.momentum, '0 <= momentum < 1');
    if (spec.nesterov && spec.momentum === 0)
      throw new VitmRuntimeError('VT6018', 'sgd: nesterov needs a momentum > 0', 'set momentum, e.g. 0.9');
  } else {
    if (!(spec.beta1 >= 0 && spec.beta1 < 1)) bad('beta1', spec.beta1, '0 <= beta1 < 1');
    if (!(spec.beta2 >= 0 && spec.beta2 < 1)) bad('beta2', spec.beta2, '0 <= beta2 < 1');
    if (!(spec.eps > 0)) bad('eps', spec.eps, 'eps > 0');
  }
}

/** The learning rate for step `step` (0-based) of `total`, for a base rate `lr`. */
export function learningRate(schedule: ScheduleSpec, lr: number, step: number, total: number): number {
  const warmup = schedule.warmup;
  if (warmup > 0 && step < warmup) return (lr * (step + 1)) / warmup;
  const t = step - warmup;
  const span = Math.max(1, total - warmup);
  switch (schedule.kind) {
    case 'constant':
      return lr;
    case 'cosine': {
      const progress = Math.min(1, t / span);
      return schedule.minLr + 0.5 * (lr - schedule.minLr) * (1 + Math.cos(Math.PI * progress));
    }
    case 'linear': {
      const progress = Math.min(1, t / span);
      return lr * (schedule.start + (schedule.end - schedule.start) * progress);
    }
    case 'step':
      return lr * schedule.gamma ** Math.floor(t / schedule.every);
  }
}

/**
 * The per-step constants of an update, as the kernels read them, for one parameter group. `step` counts from 1
 * (Adam's bias corrections); `decay` says whether the group has weight decay.
 */
export function stepConstants(spec: OptimizerSpec, lr: number, step: number, decay: boolean): Float32Array {
  const wd = decay ? spec.weightDecay : 0;
  const out = new Float32Array(8);
  if (spec.kind === 'sgd') {
    out.set([lr, wd, spec.momentum, spec.nesterov ? 1 : 0]);
  } else {
    const bc1 = 1 - spec.beta1 ** step;
    const bc2 = 1 - spec.beta2 ** step;
    const decoupled = spec.kind === 'adamw' ? 1 - lr * wd : 1;
    const coupled = spec.kind === 'adam' ? wd : 0;
    out.set([lr / bc1, Math.sqrt(bc2), decoupled, coupled, spec.eps, spec.beta1, spec.beta2]);
  }
  return out;
}

/** The clipping factor for gradients of global norm `norm` (1 when `maxNorm` is 0: no clipping). */
export function clipScale(norm: number, maxNorm: number): number {
  return maxNorm > 0 ? Math.min(1, maxNorm / (norm + 1e-6)) : 1;
}

/**
 * One optimizer step on the host in float64, the reference for the GPU kernels: updates `param` and `state` (by slot
 * name, each as long as `param`) in place from `grad` already multiplied by the clipping factor.
 */
export function referenceUpdate(
  spec: OptimizerSpec,
  constants: Float32Array,
  param: Float64Array,
  grad: ArrayLike<number>,
  state: Readonly<Record<string, Float64Array>>,
): void {
  const n = param.length;
  if (spec.kind === 'sgd') {
    const [lr = 0, wd = 0, momentum = 0, nesterov = 0] = constants;
    const buf = state.momentum_buffer;
    for (let i = 0; i < n; i++) {
      const p = param[i] as number;
      let g = (grad[i] as number) + wd * p;
      if (buf) {
        const b = momentum * (buf[i] as number) + g;
        buf[i] = b;
        g = nesterov !== 0 ? g + momentum * b : b;
      }
      param[i] = p - lr * g;
    }
    return;
  }
  const [stepSize = 0, sqrtBc2 = 1, decoupled = 1, coupled = 0, eps = 0, b1 = 0, b2 = 0] = constants;
  const m = state.exp_avg;
  const v = state.exp_avg_sq;
  if (!m || !v) throw new RangeError('adam needs exp_avg and exp_avg_sq');
  for (let i = 0; i < n; i++) {
    let p = param[i] as number;
    const g = (grad[i] as number) + coupled * p;
    p *= decoupled;
    const mi = b1 * (m[i] as number) + (1 - b1) * g;
    const vi = b2 * (v[i] as number) + (1 - b2) * g * g;
    m[i] = mi;
    v[i] = vi;
    param[i] = p - (stepSize * mi) / (Math.sqrt(vi) / sqrtBc2 + eps);
  }
}
