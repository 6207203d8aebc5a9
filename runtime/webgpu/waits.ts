/**
 * Every wait vitm makes on a WebGPU promise (buffer maps, error scopes, submitted work, asynchronous pipelines,
 * adapter and device requests) goes through `deviceWait`, which counts the waits in flight. Nothing here depends on
 * Node or the DOM: in a browser the count is only kept; in Node, `./node-poll.ts` reads it to decide how often Dawn
 * may poll for the promises' completion while vitm waits.
 */

let inFlight = 0;
let since = 0;

/**
 * Starts `start` (the call that returns the WebGPU promise) and waits for it, counted as one of vitm's device waits.
 * The count rises before `start` runs, since Dawn schedules its first poll inside that call.
 */
export async function deviceWait<T>(start: () => Promise<T>): Promise<T> {
  if (inFlight++ === 0) since = performance.now();
  try {
    return await start();
  } finally {
    inFlight--;
  }
}

/** How many device waits are in flight, and since when (milliseconds, `performance.now()`) there has been one. */
export function deviceWaits(): { readonly inFlight: number; readonly since: number } {
  return { inFlight, since };
}
