/** Shared helpers for the front-end tests: a file-system host rooted at the repository, golden files. */
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { expect } from 'vitest';
import { renderDiagnostics } from '../../compiler/diagnostics/render.js';
import { checkProgram, type FrontendHost, type FrontendResult } from '../../compiler/frontend.js';

export const CORPUS = 'test/frontend/corpus';
export const GOLDEN = 'test/frontend/golden';

/** Reads files relative to the repository root; the standard library is `stdlib/`. */
export const host: FrontendHost = {
  read(path) {
    try {
      return readFileSync(path, 'utf8');
    } catch {
      return undefined;
    }
  },
  stdlibDir: 'stdlib',
};

/** A host over in-memory files, falling back to the repository for the standard library. */
export function withFiles(files: Record<string, string>): FrontendHost {
  return {
    read: (path) => files[path] ?? (path.startsWith('stdlib/') ? host.read(path) : undefined),
    stdlibDir: 'stdlib',
  };
}

export function check(path: string, h: FrontendHost = host): FrontendResult {
  return checkProgram(path, h);
}

export function rendered(r: FrontendResult): string {
  return renderDiagnostics(r.diagnostics, r.files);
}

export function vitmFiles(dir: string): string[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.vitm'))
    .sort();
}

/** Compares `actual` with the golden file, or rewrites it when UPDATE_GOLDEN=1. */
export function golden(path: string, actual: string): void {
  const text = actual.endsWith('\n') ? actual : `${actual}\n`;
  if (process.env.UPDATE_GOLDEN === '1') {
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, text);
    return;
  }
  expect(existsSync(path), `missing golden ${path}: run with UPDATE_GOLDEN=1`).toBe(true);
  expect(text).toBe(readFileSync(path, 'utf8'));
}

export { join };
