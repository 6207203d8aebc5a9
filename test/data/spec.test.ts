import { describe, expect, it } from 'vitest';
import { labelHistogram } from '../../runtime/data/dataset.js';
import {
  DOMAIN_NAMES,
  dataLoader,
  domainTransforms,
  evalData,
  resolveDataset,
  type DataSpec,
} from '../../runtime/data/spec.js';
import { rot90 } from '../../runtime/data/transforms.js';

const synthetic: DataSpec['source'] = { kind: 'synthetic', count: 300, classes: 6, seed: 3 };

describe('data specs', () => {
  it('select classes, then N per class with the seed', () => {
    const ds = resolveDataset({ source: synthetic, classes: [3, 4, 5], perClass: 20, seed: 9 });
    expect(ds.classes).toBe(3);
    expect(labelHistogram(ds)).toEqual([20, 20, 20]);
    const again = resolveDataset({ source: synthetic, classes: [3, 4, 5], perClass: 20, seed: 9 });
    expect(Buffer.from(again.pixels).equals(Buffer.from(ds.pixels))).toBe(true);
  });

  it('named domains are the experiments’ transforms', () => {
    expect(DOMAIN_NAMES.map((d) => domainTransforms(d).length)).toEqual([0, 1, 1, 1, 1, 1]);
    expect(domainTransforms('rot270')).toEqual([{ kind: 'rot90', k: 3 }]);
  });

  it('a domain applies to training and evaluation batches alike; augmentation only to training', () => {
    const spec: DataSpec = { source: synthetic, domain: 'rot90', normalize: { mean: 0, std: 1 } };
    const plain = [...evalData({ ...spec, domain: 'original' }, 50)];
    const rotated = [...evalData(spec, 50)];
    expect(rotated).toHaveLength(6);
    const shape = { channels: 1, height: 28, width: 28 };
    const first = (plain[0]?.images ?? new Float32Array()).subarray(0, 784);
    expect((rotated[0]?.images ?? new Float32Array()).subarray(0, 784)).toEqual(rot90(first, shape, 1));
    const train = dataLoader({ ...spec, augment: [{ kind: 'flip', p: 1 }] }, { batchSize: 50, shuffle: false });
    expect(train.next().images.subarray(0, 784)).not.toEqual(rot90(first, shape, 1));
  });

  it('normalises Fashion-MNIST by its statistics and synthetic data not at all, by default', () => {
    const loader = dataLoader({ source: synthetic }, { batchSize: 10 });
    expect(loader.normalize).toEqual({ mean: 0, std: 1 });
    expect(loader.shuffle).toBe(true);
  });
});
