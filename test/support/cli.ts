/** Runs the built `vitm` CLI in a child process, as a user would, and captures what it prints. */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const CLI = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));

export interface CliResult {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly millis: number;
}

export function runCli(args: readonly string[], env: NodeJS.ProcessEnv = {}, timeoutMs = 30_000): CliResult {
  const started = performance.now();
  const result = spawnSync(process.execPath, [CLI, ...args], {
    encoding: 'utf8',
    env: { ...process.env, ...env },
    timeout: timeoutMs,
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr, millis: performance.now() - started };
}

/** A JavaScript stack frame (`    at fn (file.js:1:2)`); Dawn's own C++ log lines are not ours to police. */
export const JS_STACK_FRAME = /^\s+at .*\.(?:js|ts|mjs):\d+/m;
