import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { requireOrSkip } from '../support/gpu.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

function setup(args: readonly string[], env: NodeJS.ProcessEnv = {}, asUser?: number) {
  const command = ['bash', 'scripts/setup.sh', ...args];
  const argv =
    asUser === undefined
      ? command
      : ['setpriv', `--reuid=${asUser}`, `--regid=${asUser}`, '--clear-groups', ...command];
  const started = performance.now();
  const result = spawnSync(argv[0] as string, argv.slice(1), {
    cwd: ROOT,
    encoding: 'utf8',
    env: { ...process.env, ...env },
    timeout: 60_000,
  });
  return { ...result, millis: performance.now() - started };
}

describe('scripts/setup.sh', () => {
  it('is quiet and quick when nothing is missing (npm test ran it moments ago)', () => {
    const result = setup(['--quiet']);
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    expect(result.stdout).toBe('');
    expect(result.millis).toBeLessThan(10_000);
  });

  it('says what it found when not quiet', () => {
    const result = setup([]);
    expect(result.status).toBe(0);
    expect(result.stdout).toMatch(/npm packages: up to date/);
    expect(result.stdout).toMatch(/WebGPU adapter: /);
    expect(result.stdout).toMatch(/Fashion-MNIST: /);
    expect(result.stdout).toMatch(/Chromium: /);
  });

  it('without root and without an adapter, stops and names exactly what to install', (ctx) => {
    const root = process.getuid?.() === 0;
    if (!root && spawnSync('sudo', ['-n', 'true']).status === 0) {
      requireOrSkip(
        ctx,
        'this user has password-less sudo, so set-up could install; the refusal path needs root (to drop to nobody) or no sudo',
      );
    }
    // No Vulkan driver for the loader (as on a machine without one), and an unprivileged user (nobody when root).
    const result = setup(
      ['--runtime'],
      { VK_DRIVER_FILES: '/nonexistent/vitm.json', VK_ICD_FILENAMES: '/nonexistent/vitm.json' },
      root ? 65534 : undefined,
    );
    expect(result.status).toBe(2);
    expect(result.stderr).toContain('cannot install packages here');
    expect(result.stderr).toContain('apt-get install -t bookworm-backports mesa-vulkan-drivers libvulkan1');
    expect(result.stdout).not.toContain('installing Mesa');
  });

  it('rejects unknown options and documents itself', () => {
    const bad = setup(['--frob']);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain("unknown option '--frob'");
    const help = setup(['--help']);
    expect(help.status).toBe(0);
    expect(help.stdout).toContain('--runtime');
  });
});
