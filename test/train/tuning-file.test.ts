/** The tuning cache on disk: where it lives, a round trip, and a damaged or missing file read as an empty cache. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { TuningCache } from '../../runtime/webgpu/tuning.js';
import { loadTuningCache, saveTuningCache, tuningCachePath } from '../../runtime/webgpu/tuning-file.js';

describe('tuning cache file', () => {
  it('lives under VITM_CACHE_DIR, else XDG_CACHE_HOME/vitm', () => {
    expect(tuningCachePath({ VITM_CACHE_DIR: '/c' })).toBe('/c/tuning.json');
    expect(tuningCachePath({ XDG_CACHE_HOME: '/x' })).toBe('/x/vitm/tuning.json');
  });

  it('round-trips entries and reads a damaged or missing file as empty', () => {
    const dir = mkdtempSync(join(tmpdir(), 'vitm-tuning-'));
    try {
      const path = join(dir, 'sub', 'tuning.json');
      const entry = {
        config: { family: 'register', wgX: 8, wgY: 8, tm: 4, tn: 4, bk: 0 },
        measured: [{ config: { family: 'register', wgX: 8, wgY: 8, tm: 4, tn: 4, bk: 0 }, gflops: 3.5 }],
      };
      const cache = TuningCache.fromJSON({ 'a/b/c/d nnvv:small': entry });
      expect(cache.size).toBe(1);
      expect(saveTuningCache(cache, path)).toBe(true);
      expect(loadTuningCache(path).toJSON()).toEqual(cache.toJSON());
      writeFileSync(path, '{"torn');
      expect(loadTuningCache(path).size).toBe(0);
      expect(loadTuningCache(join(dir, 'missing.json')).size).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
