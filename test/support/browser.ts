/**
 * Runs a TypeScript entry point in headless Chromium: bundles it with esbuild, serves it from 127.0.0.1 (WebGPU needs
 * a secure context, which localhost is), drives Debian's Chromium with playwright-core and returns what the page
 * leaves on `window.vitmResult`. Never a browser downloaded by a test tool.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';
import { chromium } from 'playwright-core';
import { findChromium } from '../../scripts/find-chromium.mjs';

/** Flags from PLATFORM.md: WebGPU on, and nothing that reaches the network. */
export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--enable-unsafe-webgpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
] as const;

export { findChromium };

async function bundle(entry: string): Promise<string> {
  const result = await build({
    entryPoints: [entry],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    write: false,
    logLevel: 'silent',
  });
  const file = result.outputFiles[0];
  if (!file) throw new Error(`esbuild produced nothing for ${entry}`);
  return file.text;
}

function serve(script: string): Promise<Server> {
  const html = '<!doctype html><meta charset="utf-8"><title>vitm</title><script type="module" src="/page.js"></script>';
  const server = createServer((request, response) => {
    if (request.url === '/page.js') {
      response.writeHead(200, { 'content-type': 'text/javascript' }).end(script);
    } else if (request.url === '/' || request.url === '/index.html') {
      response.writeHead(200, { 'content-type': 'text/html' }).end(html);
    } else {
      response.writeHead(404).end();
    }
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => {
      resolve(server);
    }),
  );
}

/** Bundles `entry`, opens it in Chromium and waits (up to `timeoutMs`) for `window.vitmResult`. */
export async function runInChromium<T>(entry: string, executablePath: string, timeoutMs = 60_000): Promise<T> {
  const script = await bundle(entry);
  const server = await serve(script);
  const profile = await mkdtemp(join(tmpdir(), 'vitm-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath,
    headless: true,
    args: [...CHROMIUM_ARGS],
  });
  try {
    const page = await context.newPage();
    const pageErrors: string[] = [];
    page.on('pageerror', (error) => pageErrors.push(error.message));
    const { port } = server.address() as AddressInfo;
    await page.goto(`http://127.0.0.1:${port}/`);
    try {
      await page.waitForFunction(() => (globalThis as { vitmResult?: unknown }).vitmResult !== undefined, undefined, {
        timeout: timeoutMs,
      });
    } catch (error) {
      throw new Error(`the page set no result: ${pageErrors.join('; ') || String(error)}`);
    }
    return (await page.evaluate(() => (globalThis as { vitmResult?: unknown }).vitmResult)) as T;
  } finally {
    await context.close();
    server.close();
    await rm(profile, { recursive: true, force: true });
  }
}
