/**
 * How often Dawn polls in Node while vitm waits on the device.
 *
 * Dawn's Node binding resolves WebGPU promises (buffer maps, error scopes, submitted work) by polling its instance
 * from a native callback that it hands to the global `setImmediate` and that schedules itself again on every tick
 * while any promise is pending. A wait of 300 ms is a busy loop of 300 ms on the JavaScript thread, and on a machine
 * without a GPU that loop takes a core from the software adapter's own threads: lavapipe on 2 cores ran the tiny
 * ViT's training step about 1.6x slower while it spun.
 *
 * `throttleDawnPolling` wraps the global `setImmediate` once. While one of vitm's device waits (`deviceWait`) has
 * been in flight for more than `SPIN_MS`, an anonymous native callback (Dawn's tick) runs after a 1 ms timer instead
 * of immediately. Short waits keep their latency, long ones poll a thousand times a second instead of spinning, and
 * every other use of `setImmediate` (anything written in JavaScript, or any native callback outside vitm's waits) is
 * left as it was. `VITM_DAWN_POLL=spin` keeps Dawn's own polling.
 */
import { promisify } from 'node:util';
import { deviceWaits } from './waits.js';

/** How long a device wait polls at full speed before its polls are spaced out (milliseconds). */
export const SPIN_MS = 1;
/** The spacing of Dawn's polls after that (milliseconds; Node's timers do not go below 1). */
export const POLL_MS = 1;

const INSTALLED = Symbol.for('vitm.dawnPollThrottle');

type Callback = (...args: unknown[]) => void;
type Immediate = (callback: Callback, ...args: unknown[]) => unknown;
type Clear = (handle: unknown) => void;

/** Dawn's tick: a native function with no name (bound functions are named `bound ...`). */
const isNativeTick = (callback: unknown): boolean =>
  typeof callback === 'function' &&
  callback.name === '' &&
  Function.prototype.toString.call(callback).includes('[native code]');

/** True where the wrapper is installed (by this module, in this process). */
export function dawnPollingThrottled(): boolean {
  return INSTALLED in globalThis.setImmediate;
}

/**
 * Installs the wrapper around the global `setImmediate` and `clearImmediate` (once per process; later calls do
 * nothing), unless `VITM_DAWN_POLL=spin`.
 */
export function throttleDawnPolling(): void {
  if (process.env.VITM_DAWN_POLL === 'spin' || dawnPollingThrottled()) return;
  const g = globalThis as unknown as { setImmediate: Immediate; clearImmediate: Clear };
  const immediate = g.setImmediate;
  const clear = g.clearImmediate;
  const timers = new WeakSet<object>();
  const wrapped: Immediate = (callback, ...args) => {
    const waits = deviceWaits();
    if (waits.inFlight > 0 && performance.now() - waits.since > SPIN_MS && isNativeTick(callback)) {
      const timer = setTimeout(callback, POLL_MS, ...args);
      timers.add(timer);
      return timer;
    }
    return immediate(callback, ...args);
  };
  // Keep what `util.promisify(setImmediate)` and feature checks read from the original.
  Object.defineProperty(wrapped, promisify.custom, {
    value: (immediate as unknown as Record<symbol, unknown>)[promisify.custom],
  });
  Object.defineProperty(wrapped, INSTALLED, { value: true });
  g.setImmediate = wrapped;
  g.clearImmediate = (handle) => {
    if (typeof handle === 'object' && handle !== null && timers.has(handle)) clearTimeout(handle as NodeJS.Timeout);
    else clear(handle);
  };
}
