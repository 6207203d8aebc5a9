/**
 * Cross-checks the .safetensors bytes with Python, using only its standard library (`json`, `struct`): Python reads a
 * file vitm wrote, and vitm reads a file Python wrote, both following the format description alone. Without python3
 * the test is skipped outside CI and fails on CI.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, type TestContext } from 'vitest';
import { writeSafetensorsFile } from '../../runtime/checkpoint/run.js';
import { decodeSafetensors } from '../../runtime/checkpoint/safetensors.js';
import { f32, floatTensor, intTensor, toFloat32, toInt32 } from '../../runtime/checkpoint/tensor.js';
import { requireOrSkip } from '../support/gpu.js';

const READER = String.raw`
import json, struct, sys
data = open(sys.argv[1], 'rb').read()
(n,) = struct.unpack('<Q', data[:8])
assert (8 + n) % 8 == 0, 'header not padded to 8 bytes'
header = json.loads(data[8:8 + n].decode('utf-8'))
buf = data[8 + n:]
fmt = {'F32': 'f', 'F16': 'e', 'F64': 'd', 'I32': 'i', 'I64': 'q', 'U8': 'B', 'BF16': 'H'}
out = {'__metadata__': header.pop('__metadata__', {}), 'tensors': {}}
end = 0
for name, t in header.items():
    b, e = t['data_offsets']
    count = 1
    for d in t['shape']:
        count *= d
    size = struct.calcsize('<' + fmt[t['dtype']])
    assert e - b == count * size, name
    end = max(end, e)
    out['tensors'][name] = {'dtype': t['dtype'], 'shape': t['shape'],
                            'values': list(struct.unpack('<%d%s' % (count, fmt[t['dtype']]), buf[b:e]))}
assert end == len(buf), 'byte buffer not fully covered'
print(json.dumps(out))
`;

const WRITER = String.raw`
import json, struct, sys
w = struct.pack('<6f', *[0.5 * i - 1 for i in range(6)])
h = struct.pack('<3e', 1.0, -2.5, 65504.0)
ids = struct.pack('<2q', -3, 1 << 40)
header = {'__metadata__': {'format': 'pt', 'who': 'python'},
          'blocks.0.attn.qkv.weight': {'dtype': 'F32', 'shape': [2, 3], 'data_offsets': [0, 24]},
          'ids': {'dtype': 'I64', 'shape': [2], 'data_offsets': [24, 40]},
          'half': {'dtype': 'F16', 'shape': [3], 'data_offsets': [40, 46]}}
text = json.dumps(header).encode('utf-8')
text += b' ' * (-(8 + len(text)) % 8)
open(sys.argv[1], 'wb').write(struct.pack('<Q', len(text)) + text + w + ids + h)
`;

function python(ctx: TestContext, script: string, args: string[]): string {
  const result = spawnSync('python3', ['-c', script, ...args], { encoding: 'utf8' });
  if (result.error && (result.error as NodeJS.ErrnoException).code === 'ENOENT') {
    requireOrSkip(ctx, 'python3 is not installed: the standard-library cross-check of .safetensors needs it');
  }
  expect(result.stderr).toBe('');
  expect(result.status).toBe(0);
  return result.stdout;
}

describe('safetensors, cross-checked with Python', () => {
  it('Python (json + struct) reads what vitm writes', (ctx) => {
    const dir = mkdtempSync(join(tmpdir(), 'vitm-py-'));
    const path = join(dir, 'model.safetensors');
    const weight = Float32Array.from({ length: 24 }, (_, i) => Math.fround(Math.sin(i) * 3));
    writeSafetensorsFile(
      path,
      new Map([
        ['blocks.0.mlp.fc1.weight', f32([4, 6], weight)],
        ['blocks.0.mlp.fc1.bias', floatTensor([4], [0.5, -1, 2, 65504], 'F16')],
        ['cls_token', floatTensor([1, 1, 2], [0.25, -0.75], 'BF16')],
        ['steps', intTensor([2], [-7, 2 ** 40], 'I64')],
        ['mask', intTensor([3], [1, 0, 255], 'U8')],
      ]),
      { experiment: 'fashion "tiny" ✓' },
    );
    const parsed = JSON.parse(python(ctx, READER, [path])) as {
      __metadata__: Record<string, string>;
      tensors: Record<string, { dtype: string; shape: number[]; values: number[] }>;
    };
    expect(parsed.__metadata__).toEqual({ format: 'pt', experiment: 'fashion "tiny" ✓' });
    expect(parsed.tensors['blocks.0.mlp.fc1.weight']).toEqual({ dtype: 'F32', shape: [4, 6], values: [...weight] });
    expect(parsed.tensors['blocks.0.mlp.fc1.bias']?.values).toEqual([0.5, -1, 2, 65504]);
    expect(parsed.tensors.cls_token?.values).toEqual([0x3e80, 0xbf40]); // bfloat16 bits of 0.25 and -0.75
    expect(parsed.tensors.steps?.values).toEqual([-7, 2 ** 40]);
    expect(parsed.tensors.mask?.values).toEqual([1, 0, 255]);
  });

  it('vitm reads what Python writes from the format description', (ctx) => {
    const dir = mkdtempSync(join(tmpdir(), 'vitm-py-'));
    const path = join(dir, 'from-python.safetensors');
    python(ctx, WRITER, [path]);
    const contents = decodeSafetensors(readFileSync(path), path);
    expect(contents.metadata).toEqual({ format: 'pt', who: 'python' });
    const qkv = contents.tensors.get('blocks.0.attn.qkv.weight');
    expect(qkv?.shape).toEqual([2, 3]);
    expect([...toFloat32(qkv ?? f32([0], new Float32Array(0)))]).toEqual([-1, -0.5, 0, 0.5, 1, 1.5]);
    const half = contents.tensors.get('half');
    expect(half && [...toFloat32(half)]).toEqual([1, -2.5, 65504]);
    const ids = contents.tensors.get('ids');
    expect(ids?.dtype).toBe('I64');
    expect(ids && toInt32({ ...ids, shape: [1], data: ids.data.subarray(0, 8) })[0]).toBe(-3);
  });
});
