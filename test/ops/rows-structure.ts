/** Op-table rows of reductions, normalisations, the loss, matmul and the layout ops. */

import fc from 'fast-check';
import type { Value } from '../../compiler/ir/graph.js';
import { generate, get, map, reduce, sizeOf, sum, type Nd } from './numpy.js';
import {
  arbAxes,
  arbBroadcastShapes,
  arbDistinct,
  arbIndices,
  arbShape,
  arbTensorOf,
  arbValues,
  dataInput,
  nd,
  param,
  type Input,
  type Instance,
  type Row,
} from './row.js';

const at = (vs: readonly Value[], i: number): Value => vs[i] as Value;

/** A float parameter `x` of a drawn shape (rank in [minRank, maxRank]) with values from `values`. */
export function arbX(
  minRank: number,
  maxRank: number,
  values: (n: number) => fc.Arbitrary<number[]> = (n) => arbValues(n),
  maxDim = 4,
): fc.Arbitrary<Input> {
  return arbShape(minRank, maxRank, maxDim).chain((s) => values(sizeOf(s)).map((d) => param('x', s, d)));
}

function reduceRow(
  name: string,
  build: (b: Parameters<Instance['build']>[0], x: Value, axes: number[], keep: boolean) => Value,
  f: (vals: number[]) => number,
  values?: (n: number) => fc.Arbitrary<number[]>,
): Row {
  return {
    name,
    gradient: true,
    cases: arbX(1, 3, values)
      .chain((x) => fc.tuple(fc.constant(x), arbAxes(x.shape.length), fc.boolean()))
      .map(([x, axes, keep]): Instance => ({
        inputs: [x],
        build: (b, vs) => build(b, at(vs, 0), axes, keep),
        expected: () => reduce(nd(x), axes, keep, f),
      })),
  };
}

const lse = (v: number[]): number => {
  const m = Math.max(...v);
  return m + Math.log(sum(v.map((x) => Math.exp(x - m))));
};

/** softmax of `x` along `axis` by the definition exp(x_i) / sum_j exp(x_j). */
function softmaxNd(x: Nd, axis: number): Nd {
  const z = reduce(x, [axis], true, (v) => sum(v.map(Math.exp)));
  return map((a, s) => Math.exp(a) / s, x, z);
}

/** Moves `axis` to the front: [outer..., n, inner...] -> index helpers. */
function matmulNd(a: Nd, b: Nd, ta: boolean, tb: boolean): Nd {
  const ar = a.shape.length;
  const br = b.shape.length;
  const m = (ta ? a.shape[ar - 1] : a.shape[ar - 2]) as number;
  const k = (ta ? a.shape[ar - 2] : a.shape[ar - 1]) as number;
  const n = (tb ? b.shape[br - 2] : b.shape[br - 1]) as number;
  const batchA = a.shape.slice(0, -2);
  const batchB = b.shape.slice(0, -2);
  const rank = Math.max(batchA.length, batchB.length);
  const batch = Array.from({ length: rank }, (_, i) =>
    Math.max(batchA[batchA.length - rank + i] ?? 1, batchB[batchB.length - rank + i] ?? 1),
  );
  const pick = (bs: readonly number[], idx: number[]): number[] =>
    bs.map((d, j) => (d === 1 ? 0 : (idx[rank - bs.length + j] as number)));
  return generate([...batch, m, n], (idx) => {
    const bi = idx.slice(0, rank);
    const i = idx[rank] as number;
    const j = idx[rank + 1] as number;
    let s = 0;
    for (let p = 0; p < k; p++) {
      const av = get(a, [...pick(batchA, bi), ...(ta ? [p, i] : [i, p])]);
      const bv = get(b, [...pick(batchB, bi), ...(tb ? [j, p] : [p, j])]);
      s += av * bv;
    }
    return s;
  });
}

const matmulRow: Row = {
  name: 'matmul',
  gradient: true,
  cases: fc
    .tuple(
      arbBroadcastShapes(2),
      fc.integer({ min: 1, max: 4 }),
      fc.integer({ min: 1, max: 4 }),
      fc.integer({ min: 1, max: 4 }),
      fc.boolean(),
      fc.boolean(),
    )
    .chain(([[ba, bb], m, k, n, ta, tb]) => {
      const sa = [...(ba as number[]), ...(ta ? [k, m] : [m, k])];
      const sb = [...(bb as number[]), ...(tb ? [n, k] : [k, n])];
      return fc
        .tuple(arbTensorOf(sa), arbTensorOf(sb))
        .map(([da, db]) => ({ a: param('a', sa, da), b: param('b', sb, db), ta, tb }));
    })
    .map(({ a, b: bb, ta, tb }): Instance => ({
      inputs: [a, bb],
      build: (b, vs) => b.matmul(at(vs, 0), at(vs, 1), { transposeA: ta, transposeB: tb }),
      expected: () => matmulNd(nd(a), nd(bb), ta, tb),
    })),
};

/** Index helpers around an axis, written with multi-indices. */
export function withAxis(idx: readonly number[], axis: number, v: number): number[] {
  const out = [...idx];
  out[axis] = v;
  return out;
}

export const structureRows: readonly Row[] = [
  reduceRow('reduce_sum', (b, x, a, k) => b.sum(x, a, k), sum),
  reduceRow(
    'reduce_mean',
    (b, x, a, k) => b.mean(x, a, k),
    (v) => sum(v) / v.length,
  ),
  reduceRow(
    'reduce_max',
    (b, x, a, k) => b.max(x, a, k),
    (v) => Math.max(...v),
    arbDistinct,
  ),
  reduceRow(
    'logsumexp',
    (b, x, a, k) => b.logsumexp(x, a, k),
    lse,
    (n) => arbValues(n, -5, 5),
  ),
  {
    name: 'softmax',
    gradient: true,
    cases: arbX(1, 3, (n) => arbValues(n, -4, 4))
      .chain((x) => fc.tuple(fc.constant(x), fc.integer({ min: 0, max: x.shape.length - 1 })))
      .map(([x, axis]): Instance => ({
        inputs: [x],
        build: (b, vs) => b.softmax(at(vs, 0), axis),
        expected: () => softmaxNd(nd(x), axis),
      })),
  },
  {
    name: 'softmax_grad',
    gradient: true,
    cases: arbShape(1, 3)
      .chain((s) =>
        fc.tuple(
          fc.constant(s),
          arbValues(sizeOf(s), -2, 2),
          arbValues(sizeOf(s), -2, 2),
          fc.integer({ min: 0, max: s.length - 1 }),
        ),
      )
      .map(([s, y, g, axis]): Instance => {
        const [py, pg] = [param('y', s, y), param('g', s, g)];
        return {
          inputs: [py, pg],
          build: (b, vs) => b.softmaxGrad(at(vs, 0), at(vs, 1), axis),
          expected: () => {
            const dot = reduce(
              map((a, c) => a * c, nd(py), nd(pg)),
              [axis],
              true,
              sum,
            );
            return map((a, c, d) => a * (c - d), nd(py), nd(pg), dot);
          },
        };
      }),
  },
  {
    name: 'layer_norm',
    gradient: true,
    cases: arbShape(0, 2)
      .chain((s) => fc.integer({ min: 2, max: 6 }).map((d) => [...s, d]))
      .chain((s) => arbTensorOf(s).map((d) => param('x', s, d)))
      // Rows of nearly equal values have a tiny variance, where 1/std is steep and finite differences need a much
      // smaller step than the 1e-3 used throughout; such rows are drawn away.
      .filter((x) =>
        reduce(nd(x), [x.shape.length - 1], false, (v) => Math.max(...v) - Math.min(...v)).data.every((r) => r > 0.5),
      )
      .map((x): Instance => ({
        inputs: [x],
        build: (b, vs) => b.layerNorm(at(vs, 0), 1e-5),
        expected: () => {
          const last = x.shape.length - 1;
          const mu = reduce(nd(x), [last], true, (v) => sum(v) / v.length);
          const centred = map((a, m) => a - m, nd(x), mu);
          const variance = reduce(centred, [last], true, (v) => sum(v.map((c) => c * c)) / v.length);
          return map((c, v) => c / Math.sqrt(v + 1e-5), centred, variance);
        },
      })),
  },
  {
    name: 'layer_norm_grad',
    gradient: true,
    cases: arbShape(0, 2)
      .chain((s) => fc.integer({ min: 2, max: 6 }).map((d) => [...s, d]))
      .chain((s) =>
        fc.tuple(arbTensorOf(s), arbTensorOf(s)).map(([x, g]) => [param('x', s, x), param('g', s, g)] as const),
      )
      // As for layer_norm: rows of nearly equal values, where 1/std is steep, are drawn away.
      .filter(([x]) =>
        reduce(nd(x), [x.shape.length - 1], false, (v) => Math.max(...v) - Math.min(...v)).data.every((r) => r > 0.5),
      )
      .map(([x, g]): Instance => ({
        inputs: [x, g],
        build: (b, vs) => b.layerNormGrad(at(vs, 0), at(vs, 1), 1e-5),
        expected: () => {
          const last = x.shape.length - 1;
          const mean = (t: Nd): Nd => reduce(t, [last], true, (v) => sum(v) / v.length);
          const centred = map((a, m) => a - m, nd(x), mean(nd(x)));
          const rstd = map((v) => 1 / Math.sqrt(v + 1e-5), mean(map((c) => c * c, centred)));
          const xh = map((c, r) => c * r, centred, rstd);
          const m = mean(map((a, b) => a * b, nd(g), xh));
          const gc = map((a, b) => a - b, nd(g), mean(nd(g)));
          return map((r, a, h, mm) => r * (a - h * mm), rstd, gc, xh, m);
        },
      })),
  },
  {
    name: 'cross_entropy',
    gradient: true,
    cases: fc
      .tuple(arbShape(0, 2), fc.integer({ min: 1, max: 5 }), fc.constantFrom(0, 0.1, 0.3))
      .chain(([s, k, eps]) =>
        fc
          .tuple(arbTensorOf([...s, k], -4, 4), arbIndices(sizeOf(s), k))
          .map(([z, l]) => ({ z: param('z', [...s, k], z), l: dataInput('labels', s, l, 'i32'), eps, k })),
      )
      .map(({ z, l, eps, k }): Instance => ({
        inputs: [z, l],
        build: (b, vs) => b.crossEntropy(at(vs, 0), at(vs, 1), eps),
        expected: () =>
          generate(l.shape, (idx) => {
            const logits = Array.from({ length: k }, (_, c) => get(nd(z), [...idx, c]));
            const logp = logits.map((v) => v - lse(logits));
            const label = get(nd(l), idx);
            return -sum(logp.map((p, c) => ((c === label ? 1 - eps : 0) + eps / k) * p));
          }),
      })),
  },
  matmulRow,
  {
    name: 'reshape',
    gradient: true,
    cases: arbX(0, 3)
      .chain((x) =>
        fc.constantFrom([sizeOf(x.shape)], [...x.shape].reverse(), [1, ...x.shape, 1]).map((s) => [x, s] as const),
      )
      .map(([x, s]): Instance => ({
        inputs: [x],
        build: (b, vs) => b.reshape(at(vs, 0), s),
        expected: () => ({ shape: s, data: x.data }),
      })),
  },
  {
    name: 'transpose',
    gradient: true,
    cases: arbX(0, 4, undefined, 3)
      .chain((x) => fc.shuffledSubarray([...x.shape.keys()], { minLength: x.shape.length }).map((p) => [x, p] as const))
      .map(([x, perm]): Instance => ({
        inputs: [x],
        build: (b, vs) => b.transpose(at(vs, 0), perm),
        expected: () =>
          generate(
            perm.map((p) => x.shape[p] as number),
            (idx) =>
              get(
                nd(x),
                perm.map((_, a) => idx[perm.indexOf(a)] as number),
              ),
          ),
      })),
  },
  {
    name: 'broadcast_to',
    gradient: true,
    cases: arbBroadcastShapes(1)
      .chain(([s]) => {
        const from = s as number[];
        return fc
          .tuple(arbTensorOf(from), arbShape(0, 1))
          .map(([d, lead]) => ({ x: param('x', from, d), to: [...lead, ...from.map((v) => (v === 1 ? 3 : v))] }));
      })
      .map(({ x, to }): Instance => ({
        inputs: [x],
        build: (b, vs) => b.broadcastTo(at(vs, 0), to),
        expected: () =>
          map(
            (v) => v,
            nd(x),
            generate(to, () => 0),
          ),
      })),
  },
  {
    name: 'concat',
    gradient: true,
    cases: arbShape(1, 3)
      .chain((s) =>
        fc.tuple(
          fc.constant(s),
          fc.integer({ min: 0, max: s.length - 1 }),
          fc.array(fc.integer({ min: 1, max: 3 }), { minLength: 1, maxLength: 3 }),
        ),
      )
      .chain(([s, axis, sizes]) => {
        const shapes = sizes.map((n) => withAxis(s, axis, n));
        return fc
          .tuple(...shapes.map((sh) => arbTensorOf(sh)))
          .map((ds) => ({ xs: ds.map((d, i) => param(`x${i}`, shapes[i] as number[], d)), axis }));
      })
      .map(({ xs, axis }): Instance => ({
        inputs: xs,
        build: (b, vs) => b.concat(vs, axis),
        expected: () => {
          const total = sum(xs.map((x) => x.shape[axis] as number));
          return generate(withAxis(xs[0]?.shape ?? [], axis, total), (idx) => {
            let j = idx[axis] as number;
            for (const x of xs) {
              const n = x.shape[axis] as number;
              if (j < n) return get(nd(x), withAxis(idx, axis, j));
              j -= n;
            }
            return NaN;
          });
        },
      })),
  },
  {
    name: 'slice',
    gradient: true,
    cases: arbX(1, 3)
      .chain((x) =>
        fc.integer({ min: 0, max: x.shape.length - 1 }).chain((axis) => {
          const n = x.shape[axis] as number;
          return fc
            .tuple(fc.integer({ min: 0, max: n - 1 }), fc.integer({ min: 1, max: n }))
            .map(([a, len]) => ({ x, axis, start: a, end: Math.min(n, a + len) }));
        }),
      )
      .map(({ x, axis, start, end }): Instance => ({
        inputs: [x],
        build: (b, vs) => b.slice(at(vs, 0), axis, start, end),
        expected: () =>
          generate(withAxis(x.shape, axis, end - start), (idx) =>
            get(nd(x), withAxis(idx, axis, (idx[axis] as number) + start)),
          ),
      })),
  },
  {
    name: 'pad',
    gradient: true,
    cases: arbX(1, 3)
      .chain((x) =>
        fc.tuple(
          fc.constant(x),
          fc.integer({ min: 0, max: x.shape.length - 1 }),
          fc.integer({ min: 0, max: 2 }),
          fc.integer({ min: 0, max: 2 }),
        ),
      )
      .map(([x, axis, before, after]): Instance => ({
        inputs: [x],
        build: (b, vs) => b.pad(at(vs, 0), axis, before, after),
        expected: () =>
          generate(withAxis(x.shape, axis, (x.shape[axis] as number) + before + after), (idx) => {
            const j = (idx[axis] as number) - before;
            return j < 0 || j >= (x.shape[axis] as number) ? 0 : get(nd(x), withAxis(idx, axis, j));
          }),
      })),
  },
  {
    name: 'composite:split',
    gradient: true,
    cases: arbX(1, 2)
      .map((x) => ({ x, axis: x.shape.length - 1 }))
      .filter(({ x, axis }) => (x.shape[axis] as number) >= 2)
      .map(({ x, axis }): Instance => {
        const n = x.shape[axis] as number;
        const sizes = [1, n - 1];
        return {
          inputs: [x],
          // The two pieces concatenated in swapped order: checks both slices and their offsets.
          build: (b, vs) => b.concat(b.split(at(vs, 0), axis, sizes).reverse(), axis),
          expected: () => generate(x.shape, (idx) => get(nd(x), withAxis(idx, axis, ((idx[axis] as number) + 1) % n))),
        };
      }),
  },
];
