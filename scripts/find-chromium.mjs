// Finds the system's Chromium for the browser tests: $VITM_CHROMIUM, or the distribution's binary.
// Run directly, it prints the path (exit 0) or exits 1. Never a browser downloaded by a test tool.
import { accessSync, constants } from 'node:fs';
import { pathToFileURL } from 'node:url';

const CANDIDATES = [
  '/usr/bin/chromium',
  '/usr/bin/chromium-browser',
  '/usr/bin/google-chrome-stable',
  '/usr/bin/google-chrome',
];

/** @returns {string | undefined} */
export function findChromium() {
  const explicit = process.env.VITM_CHROMIUM;
  const list = explicit ? [explicit] : CANDIDATES;
  for (const path of list) {
    try {
      accessSync(path, constants.X_OK);
      return path;
    } catch {
      // not this one
    }
  }
  return undefined;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const path = findChromium();
  if (!path) process.exit(1);
  console.log(path);
}
