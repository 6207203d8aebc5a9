/** Op-table rows of reductions, normalisations, the loss, matmul, layout and indexing ops, and composites. */

import fc from 'fast-check';
import type { Value } from '../../compiler/ir/graph.js';
import { generate, get, map, reduce, sizeOf, sum, unravel, type Nd } from './numpy.js';
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
function arbX(
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
function withAxis(idx: readonly number[], axis: number, v: number): number[] {
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
  ...indexingRows(),
  ...compositeRows(),
];

function indexingRows(): Row[] {
  return [
    {
      name: 'take',
      gradient: true,
      cases: arbX(1, 3)
        .chain((x) =>
          fc.integer({ min: 0, max: x.shape.length - 1 }).chain((axis) =>
            arbShape(0, 2).chain((is) =>
              arbIndices(sizeOf(is), x.shape[axis] as number).map((d) => ({
                x,
                axis,
                idx: dataInput('i', is, d, 'i32'),
              })),
            ),
          ),
        )
        .map(({ x, axis, idx }): Instance => ({
          inputs: [x, idx],
          build: (b, vs) => b.take(at(vs, 0), at(vs, 1), axis),
          expected: () => {
            const r = idx.shape.length;
            const shape = [...x.shape.slice(0, axis), ...idx.shape, ...x.shape.slice(axis + 1)];
            return generate(shape, (o) => {
              const j = get(nd(idx), o.slice(axis, axis + r));
              return get(nd(x), [...o.slice(0, axis), j, ...o.slice(axis + r)]);
            });
          },
        })),
    },
    {
      name: 'scatter_add',
      gradient: true,
      cases: fc
        .tuple(arbShape(0, 1), arbShape(0, 2), arbShape(0, 1), fc.integer({ min: 1, max: 4 }))
        .chain(([pre, is, post, size]) =>
          fc.tuple(arbIndices(sizeOf(is), size), arbTensorOf([...pre, ...is, ...post])).map(([i, u]) => ({
            idx: dataInput('i', is, i, 'i32'),
            upd: param('u', [...pre, ...is, ...post], u),
            axis: pre.length,
            size,
            out: [...pre, size, ...post],
          })),
        )
        .map(({ idx, upd, axis, size, out }): Instance => ({
          inputs: [idx, upd],
          build: (b, vs) => b.scatterAdd(at(vs, 0), at(vs, 1), axis, size),
          expected: () => {
            const r = idx.shape.length;
            const acc = new Array<number>(sizeOf(out)).fill(0);
            upd.data.forEach((v, i) => {
              const u = unravel(i, upd.shape);
              const j = get(nd(idx), u.slice(axis, axis + r));
              const o = [...u.slice(0, axis), j, ...u.slice(axis + r)];
              let flat = 0;
              out.forEach((d, a) => (flat = flat * d + (o[a] as number)));
              acc[flat] = (acc[flat] as number) + v;
            });
            return { shape: out, data: acc };
          },
        })),
    },
    {
      name: 'take_along_axis',
      gradient: true,
      cases: arbX(1, 3)
        .chain((x) =>
          fc.integer({ min: 0, max: x.shape.length - 1 }).chain((axis) =>
            fc.integer({ min: 1, max: 4 }).chain((m) => {
              const is = withAxis(x.shape, axis, m);
              return arbIndices(sizeOf(is), x.shape[axis] as number).map((d) => ({
                x,
                axis,
                idx: dataInput('i', is, d, 'i32'),
              }));
            }),
          ),
        )
        .map(({ x, axis, idx }): Instance => ({
          inputs: [x, idx],
          build: (b, vs) => b.takeAlongAxis(at(vs, 0), at(vs, 1), axis),
          expected: () => generate(idx.shape, (o) => get(nd(x), withAxis(o, axis, get(nd(idx), o)))),
        })),
    },
    {
      name: 'scatter_add_along_axis',
      gradient: true,
      cases: arbX(1, 3)
        .chain((u) =>
          fc.integer({ min: 0, max: u.shape.length - 1 }).chain((axis) =>
            fc.integer({ min: 1, max: 4 }).chain((size) =>
              arbIndices(sizeOf(u.shape), size).map((d) => ({
                u,
                axis,
                size,
                idx: dataInput('i', u.shape, d, 'i32'),
              })),
            ),
          ),
        )
        .map(({ u, axis, size, idx }): Instance => ({
          inputs: [idx, u],
          build: (b, vs) => b.scatterAddAlongAxis(at(vs, 0), at(vs, 1), axis, size),
          expected: () =>
            generate(withAxis(u.shape, axis, size), (o) => {
              let s = 0;
              for (let j = 0; j < (u.shape[axis] as number); j++) {
                const src = withAxis(o, axis, j);
                if (get(nd(idx), src) === o[axis]) s += get(nd(u), src);
              }
              return s;
            }),
        })),
    },
    {
      name: 'one_hot',
      gradient: false,
      cases: fc
        .tuple(arbShape(0, 2), fc.integer({ min: 1, max: 5 }))
        .chain(([s, depth]) => arbIndices(sizeOf(s), depth).map((d) => ({ idx: dataInput('i', s, d, 'i32'), depth })))
        .map(({ idx, depth }): Instance => ({
          inputs: [idx],
          build: (b, vs) => b.oneHot(at(vs, 0), depth),
          expected: () =>
            generate([...idx.shape, depth], (o) => Number(get(nd(idx), o.slice(0, -1)) === o[o.length - 1])),
        })),
    },
    {
      name: 'argmax',
      gradient: false,
      cases: arbX(1, 3, arbDistinct)
        .chain((x) => fc.integer({ min: 0, max: x.shape.length - 1 }).map((axis) => ({ x, axis })))
        .map(({ x, axis }): Instance => ({
          inputs: [x],
          build: (b, vs) => b.argmax(at(vs, 0), axis),
          expected: () =>
            generate(
              x.shape.filter((_, a) => a !== axis),
              (o) => {
                const row = Array.from({ length: x.shape[axis] as number }, (_, j) =>
                  get(nd(x), [...o.slice(0, axis), j, ...o.slice(axis)]),
                );
                return row.indexOf(Math.max(...row));
              },
            ),
        })),
    },
    {
      name: 'top_k',
      gradient: false,
      cases: arbX(1, 3, arbDistinct)
        .chain((x) => fc.integer({ min: 1, max: x.shape[x.shape.length - 1] as number }).map((k) => ({ x, k })))
        .map(({ x, k }): Instance => ({
          inputs: [x],
          build: (b, vs) => b.topK(at(vs, 0), k),
          expected: () => topKNd(nd(x), k),
        })),
    },
  ];
}

function topKNd(x: Nd, k: number): Nd {
  const n = x.shape[x.shape.length - 1] as number;
  return generate([...x.shape.slice(0, -1), k], (o) => {
    const row = Array.from({ length: n }, (_, j) => get(x, [...o.slice(0, -1), j]));
    const sorted = [...row].sort((p, q) => q - p);
    return row.indexOf(sorted[o[o.length - 1] as number] as number);
  });
}

function compositeRows(): Row[] {
  const norm = (v: number[]): number => Math.sqrt(sum(v.map((a) => a * a)));
  return [
    {
      name: 'composite:topKValues',
      gradient: true,
      cases: arbX(1, 3, arbDistinct)
        .chain((x) => fc.integer({ min: 1, max: x.shape[x.shape.length - 1] as number }).map((k) => ({ x, k })))
        .map(({ x, k }): Instance => ({
          inputs: [x],
          build: (b, vs) => b.takeAlongAxis(at(vs, 0), b.topK(at(vs, 0), k), -1),
          expected: () => {
            const idx = topKNd(nd(x), k);
            return generate(idx.shape, (o) => get(nd(x), [...o.slice(0, -1), get(idx, o)]));
          },
        })),
    },
    {
      name: 'composite:l2Normalize',
      gradient: true,
      // Vectors of norm below eps (1e-12) are linear in x: a kink finite differences cannot cross. Norms are drawn
      // above 0.5 so the 1e-3 step stays small against the curvature scale (the zero vector has its own test).
      cases: arbX(1, 3)
        .filter((x) => reduce(nd(x), [x.shape.length - 1], false, norm).data.every((n) => n > 0.5))
        .map((x): Instance => ({
          inputs: [x],
          build: (b, vs) => b.l2Normalize(at(vs, 0)),
          expected: () => map((a, n) => a / Math.max(n, 1e-12), nd(x), reduce(nd(x), [x.shape.length - 1], true, norm)),
        })),
    },
    {
      name: 'composite:cosineSimilarity',
      gradient: true,
      cases: arbShape(1, 3)
        .chain((s) =>
          fc.tuple(arbTensorOf(s), arbTensorOf(s)).map(([p, q]) => [param('a', s, p), param('b', s, q)] as const),
        )
        .filter(([a, c]) =>
          [a, c].every((t) => reduce(nd(t), [t.shape.length - 1], false, norm).data.every((n) => n > 0.5)),
        )
        .map(([a, c]): Instance => ({
          inputs: [a, c],
          build: (b, vs) => b.cosineSimilarity(at(vs, 0), at(vs, 1)),
          expected: () => {
            const last = a.shape.length - 1;
            const dot = reduce(
              map((p, q) => p * q, nd(a), nd(c)),
              [last],
              false,
              sum,
            );
            const na = reduce(nd(a), [last], false, norm);
            const nc = reduce(nd(c), [last], false, norm);
            return map((d, p, q) => d / (Math.max(p, 1e-12) * Math.max(q, 1e-12)), dot, na, nc);
          },
        })),
    },
    {
      name: 'composite:linear',
      gradient: true,
      cases: fc
        .tuple(arbShape(0, 2), fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 4 }))
        .chain(([s, i, o]) =>
          fc
            .tuple(arbTensorOf([...s, i]), arbTensorOf([o, i]), arbTensorOf([o]))
            .map(
              ([x, w, bias]) => [param('x', [...s, i], x), param('w', [o, i], w), param('bias', [o], bias)] as const,
            ),
        )
        .map(([x, w, bias]): Instance => ({
          inputs: [x, w, bias],
          build: (b, vs) => b.linear(at(vs, 0), at(vs, 1), at(vs, 2)),
          expected: () => {
            const o = w.shape[0] as number;
            const i = w.shape[1] as number;
            return generate([...x.shape.slice(0, -1), o], (idx) => {
              let s = get(nd(bias), [idx[idx.length - 1] as number]);
              for (let p = 0; p < i; p++)
                s += get(nd(x), [...idx.slice(0, -1), p]) * get(nd(w), [idx[idx.length - 1] as number, p]);
              return s;
            });
          },
        })),
    },
  ];
}
