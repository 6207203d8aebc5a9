/** Op-table rows of the indexing ops and of the builder's composites. */

import fc from 'fast-check';
import type { Value } from '../../compiler/ir/graph.js';
import { generate, get, map, reduce, sizeOf, sum, unravel, type Nd } from './numpy.js';
import {
  arbDistinct,
  arbIndices,
  arbShape,
  arbTensorOf,
  dataInput,
  nd,
  param,
  type Instance,
  type Row,
} from './row.js';
import { arbX, withAxis } from './rows-structure.js';

const at = (vs: readonly Value[], i: number): Value => vs[i] as Value;

export function indexingRows(): Row[] {
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

export function compositeRows(): Row[] {
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
