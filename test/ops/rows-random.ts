/**
 * Op-table rows of the random ops. The expected bits come from a second Philox4x32-10 written with BigInt
 * arithmetic (independent of the reference's u32 split multiplication), and the documented conversions.
 */

import fc from 'fast-check';
import type { Value } from '../../compiler/ir/graph.js';
import { sizeOf } from './numpy.js';
import { arbShape, dataInput, type Instance, type Row } from './row.js';

const MASK = 0xffffffffn;

function philoxBig(counter: readonly bigint[], key: readonly bigint[]): bigint[] {
  let [c0, c1, c2, c3] = counter as [bigint, bigint, bigint, bigint];
  let [k0, k1] = key as [bigint, bigint];
  for (let r = 0; r < 10; r++) {
    const p0 = 0xd2511f53n * c0;
    const p1 = 0xcd9e8d57n * c2;
    [c0, c1, c2, c3] = [((p1 >> 32n) ^ c1 ^ k0) & MASK, p1 & MASK, ((p0 >> 32n) ^ c3 ^ k1) & MASK, p0 & MASK];
    k0 = (k0 + 0x9e3779b9n) & MASK;
    k1 = (k1 + 0xbb67ae85n) & MASK;
  }
  return [c0, c1, c2, c3];
}

const words = (seed: number, salt: number, i: number): number[] =>
  philoxBig([BigInt(i), 0n, 0n, 0n], [BigInt(seed), BigInt(salt)]).map(Number);

const arbSeed = fc.nat({ max: 0xffffffff });
const arbSalt = fc.nat({ max: 1000 });
const at = (vs: readonly Value[], i: number): Value => vs[i] as Value;

export const randomRows: readonly Row[] = [
  {
    name: 'random_uniform',
    gradient: false,
    cases: fc.tuple(arbShape(0, 3), arbSeed, arbSalt).map(([s, seed, salt]): Instance => ({
      inputs: [dataInput('seed', [], [seed], 'u32')],
      build: (b, vs) => b.randomUniform(at(vs, 0), s, salt),
      expected: () => ({
        shape: s,
        data: Array.from(
          { length: sizeOf(s) },
          (_, i) => Math.floor((words(seed, salt, i)[0] as number) / 256) / 2 ** 24,
        ),
      }),
    })),
  },
  {
    name: 'random_normal',
    gradient: false,
    cases: fc.tuple(arbShape(0, 3), arbSeed, arbSalt).map(([s, seed, salt]): Instance => ({
      inputs: [dataInput('seed', [], [seed], 'u32')],
      build: (b, vs) => b.randomNormal(at(vs, 0), s, salt),
      expected: () => ({
        shape: s,
        data: Array.from({ length: sizeOf(s) }, (_, i) => {
          const [w0, w1] = words(seed, salt, i) as [number, number];
          const u1 = (Math.floor(w0 / 256) + 1) / 2 ** 24;
          const u2 = Math.floor(w1 / 256) / 2 ** 24;
          return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
        }),
      }),
    })),
  },
  {
    name: 'random_permutation',
    gradient: false,
    cases: fc.tuple(fc.integer({ min: 1, max: 40 }), arbSeed, arbSalt).map(([n, seed, salt]): Instance => ({
      inputs: [dataInput('seed', [], [seed], 'u32')],
      build: (b, vs) => b.randomPermutation(at(vs, 0), n, salt),
      expected: () => {
        const keyed = Array.from({ length: n }, (_, i) => ({ i, key: words(seed, salt, i)[0] as number }));
        // A stable sort by key: equal keys keep index order.
        keyed.sort((p, q) => (p.key === q.key ? p.i - q.i : p.key < q.key ? -1 : 1));
        return { shape: [n], data: keyed.map((k) => k.i) };
      },
    })),
  },
];
