import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { isTempName, removeStaleTemps, writeDirAtomic, writeFileAtomic } from '../../runtime/checkpoint/atomic.js';
import { VitmRuntimeError } from '../../runtime/errors.js';

/** The built module (vitest's global setup compiles the package before the tests), for child processes. */
const DIST_ATOMIC = fileURLToPath(new URL('../../dist/runtime/checkpoint/atomic.js', import.meta.url));

const fresh = (): string => mkdtempSync(join(tmpdir(), 'vitm-atomic-'));

class SimulatedCrash extends Error {}

describe('atomic writes', () => {
  it('creates and replaces a file, leaving no temporary behind', () => {
    const dir = fresh();
    const path = join(dir, 'model.safetensors');
    writeFileAtomic(path, new Uint8Array(3).fill(1));
    writeFileAtomic(path, 'second');
    expect(readFileSync(path, 'utf8')).toBe('second');
    expect(readdirSync(dir)).toEqual(['model.safetensors']);
  });

  it('an exception mid-write leaves the previous file intact and removes the partial temporary', () => {
    const dir = fresh();
    const path = join(dir, 'ckpt.bin');
    const old = new Uint8Array(1 << 16).fill(1);
    writeFileAtomic(path, old);
    const crash = (written: number, total: number): void => {
      if (written >= total / 2) throw new SimulatedCrash('power cut');
    };
    expect(() => {
      writeFileAtomic(path, new Uint8Array(1 << 20).fill(2), { chunkBytes: 4096, afterChunk: crash });
    }).toThrow(VitmRuntimeError);
    expect(Buffer.from(readFileSync(path)).equals(Buffer.from(old))).toBe(true);
    expect(readdirSync(dir)).toEqual(['ckpt.bin']);
  });

  it('a process killed (SIGKILL) mid-write leaves the previous file intact; the stray temporary is cleaned later', () => {
    const dir = fresh();
    const path = join(dir, 'model.safetensors');
    const old = new Uint8Array(1 << 20).fill(1);
    writeFileAtomic(path, old);
    const script = `
      const { writeFileAtomic } = await import(${JSON.stringify(pathToFileURL(DIST_ATOMIC).href)});
      writeFileAtomic(${JSON.stringify(path)}, new Uint8Array(8 << 20).fill(2), {
        chunkBytes: 1 << 20,
        afterChunk: (written, total) => { if (written >= total / 2) process.kill(process.pid, 'SIGKILL'); },
      });
      console.log('not reached');`;
    const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
    expect(child.signal).toBe('SIGKILL');
    expect(child.stdout).toBe('');
    expect(Buffer.from(readFileSync(path)).equals(Buffer.from(old))).toBe(true);
    const stray = readdirSync(dir).filter(isTempName);
    expect(stray).toHaveLength(1); // the half-written temporary: never at the final path
    expect(removeStaleTemps(dir)).toEqual(stray);
    expect(readdirSync(dir)).toEqual(['model.safetensors']);
  });

  it('writes a folder atomically and replaces an existing one whole', () => {
    const dir = fresh();
    const target = join(dir, 'step-00000010');
    writeDirAtomic(
      target,
      new Map([
        ['a', 'one'],
        ['b', 'two'],
      ]),
    );
    expect(readdirSync(target).sort()).toEqual(['a', 'b']);
    writeDirAtomic(target, new Map([['c', 'three']]));
    expect(readdirSync(target)).toEqual(['c']);
    expect(readdirSync(dir)).toEqual(['step-00000010']);
  });

  it('a crash while writing a folder leaves no folder at the final name and the old one intact', () => {
    const dir = fresh();
    const target = join(dir, 'step-00000020');
    writeDirAtomic(target, new Map([['model', 'old']]));
    let calls = 0;
    expect(() => {
      writeDirAtomic(
        target,
        new Map([
          ['model', 'new'],
          ['state', 'new'],
        ]),
        {
          afterChunk: () => {
            if (++calls === 2) throw new SimulatedCrash('killed');
          },
        },
      );
    }).toThrow(VitmRuntimeError);
    expect(readFileSync(join(target, 'model'), 'utf8')).toBe('old');
    expect(readdirSync(dir)).toEqual(['step-00000020']);
    const other = join(dir, 'step-00000030');
    expect(() => {
      writeDirAtomic(other, new Map([['model', 'x']]), {
        afterChunk: () => {
          throw new SimulatedCrash('killed');
        },
      });
    }).toThrow(VitmRuntimeError);
    expect(existsSync(other)).toBe(false);
  });

  it('an unwritable destination is VT6013 naming the path', () => {
    const dir = fresh();
    writeFileSync(join(dir, 'file'), 'x');
    let error: unknown;
    try {
      writeFileAtomic(join(dir, 'file', 'inside'), 'data'); // a file is not a folder
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(VitmRuntimeError);
    expect((error as VitmRuntimeError).code).toBe('VT6013');
    expect((error as VitmRuntimeError).message).toContain(join(dir, 'file', 'inside'));
  });
});
