/**
 * The matmul tuning cache on disk, so the tiles measured once on an adapter are not measured again by every process
 * (timing every candidate tile for every shape class takes tens of seconds on lavapipe). One JSON file,
 * `tuning.json`, under `$VITM_CACHE_DIR`, else `$XDG_CACHE_HOME/vitm`, else `~/.cache/vitm`; entries are keyed by
 * the adapter and the shape class, so one file serves every adapter of the machine. A missing or damaged file is an
 * empty cache; a cache that cannot be written is skipped (it only saves time).
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { writeFileAtomic } from '../checkpoint/atomic.js';
import { TuningCache } from './tuning.js';

/** Where the tuning cache lives. */
export function tuningCachePath(env: Readonly<Record<string, string | undefined>> = process.env): string {
  const dir = env.VITM_CACHE_DIR ?? join(env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'vitm');
  return join(dir, 'tuning.json');
}

/** The cache stored at `path`, or an empty one. */
export function loadTuningCache(path: string = tuningCachePath()): TuningCache {
  try {
    return TuningCache.fromJSON(JSON.parse(readFileSync(path, 'utf8')));
  } catch {
    return new TuningCache();
  }
}

/** Writes the cache to `path` atomically; returns false when it could not be written. */
export function saveTuningCache(cache: TuningCache, path: string = tuningCachePath()): boolean {
  try {
    mkdirSync(dirname(path), { recursive: true });
    writeFileAtomic(path, JSON.stringify(cache.toJSON()) + '\n');
    return true;
  } catch {
    return false;
  }
}
