/**
 * Initial parameter values, from a model's declared initialisers (as in `torch.nn.init`), drawn from the same
 * counter-based Philox stream the IR's random ops use, so a seed gives the same weights on every machine.
 *
 * Each parameter has its own stream: the run's seed as the first key word and a hash of the parameter's path as
 * the second, so adding or reordering parameters never changes the others' values.
 */
import type { Initializer } from '../../compiler/semantic/elaborated.js';
import { normalFromBits, randomWords, uniformFromBits } from '../reference/philox.js';

/** FNV-1a of the path: a stable 32-bit stream number per parameter name. */
export function streamOf(path: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < path.length; i++) {
    h ^= path.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/** PyTorch's fan computation: fan_in = shape[1] * receptive field, fan_out = shape[0] * receptive field. */
export function fans(shape: readonly number[]): { fanIn: number; fanOut: number } {
  if (shape.length < 2) {
    const n = shape[0] ?? 1;
    return { fanIn: n, fanOut: n };
  }
  const receptive = shape.slice(2).reduce((a, b) => a * b, 1);
  return { fanIn: (shape[1] as number) * receptive, fanOut: (shape[0] as number) * receptive };
}

/** The initial values of a parameter of `shape` (row-major), for `seed` and the parameter's `path`. */
export function initialValues(path: string, shape: readonly number[], init: Initializer, seed: number): Float64Array {
  const n = shape.reduce((a, b) => a * b, 1);
  const out = new Float64Array(n);
  const salt = streamOf(path);
  const uniform = (i: number): number => uniformFromBits(randomWords(seed, salt, i)[0]);
  const normal = (i: number): number => {
    const w = randomWords(seed, salt, i);
    return normalFromBits(w[0], w[1]);
  };
  switch (init.kind) {
    case 'zeros':
      return out;
    case 'ones':
      return out.fill(1);
    case 'constant':
      return out.fill(init.value);
    case 'normal':
      for (let i = 0; i < n; i++) out[i] = init.mean + init.std * normal(i);
      return out;
    case 'trunc_normal': {
      // Redraw outside [a, b] from further counters of the same stream (counter n + i, 2n + i, ...).
      for (let i = 0; i < n; i++) {
        let v = init.mean + init.std * normal(i);
        for (let attempt = 1; (v < init.a || v > init.b) && attempt < 64; attempt++) {
          v = init.mean + init.std * normal(attempt * n + i);
        }
        out[i] = Math.min(init.b, Math.max(init.a, v));
      }
      return out;
    }
    case 'kaiming_uniform': {
      const { fanIn, fanOut } = fans(shape);
      const gain = Math.sqrt(2 / (1 + init.a * init.a));
      const bound = gain * Math.sqrt(3 / (init.mode === 'fan_in' ? fanIn : fanOut));
      for (let i = 0; i < n; i++) out[i] = (2 * uniform(i) - 1) * bound;
      return out;
    }
    case 'xavier_uniform': {
      const { fanIn, fanOut } = fans(shape);
      const bound = init.gain * Math.sqrt(6 / (fanIn + fanOut));
      for (let i = 0; i < n; i++) out[i] = (2 * uniform(i) - 1) * bound;
      return out;
    }
  }
}
