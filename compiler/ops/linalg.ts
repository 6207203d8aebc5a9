/**
 * `matmul(a, b) {transposeA, transposeB}`: a batched matrix product over the last two axes, `op(a) @ op(b)` with
 * `op` the transpose when its flag is set, so transposed operands are read in place. The batch axes (all but the
 * last two; either operand may have fewer) broadcast. Both operands need rank 2 or more.
 */

import { dim, dimEquals, dimToString, mulDim, typeToString, type Dim } from '../types/shape.js';
import { two, unbroadcast, wanted } from './grad-util.js';
import {
  arg,
  broadcastOrFail,
  expectArity,
  expectFloat,
  expectSameDtype,
  fail,
  tensor,
  type GradientRule,
  type TypeRule,
} from './rule.js';

export const linalgTypes: { readonly [P in 'matmul']: TypeRule<P> } = {
  matmul: (args, { transposeA, transposeB }) => {
    expectArity('matmul', args, 2);
    const a = arg(args, 0);
    const b = arg(args, 1);
    expectSameDtype('matmul', a, b);
    expectFloat('matmul', a);
    if (a.shape.length < 2 || b.shape.length < 2)
      fail(`matmul needs operands of rank 2 or more, got ${typeToString(a)} and ${typeToString(b)}`);
    const [a0, a1] = a.shape.slice(-2) as [Dim, Dim];
    const [b0, b1] = b.shape.slice(-2) as [Dim, Dim];
    const m = transposeA ? a1 : a0;
    const ka = transposeA ? a0 : a1;
    const kb = transposeB ? b1 : b0;
    const n = transposeB ? b0 : b1;
    if (!dimEquals(ka, kb))
      fail(
        `matmul: contracted dimensions differ: ${dimToString(ka)} and ${dimToString(kb)} (${typeToString(a)} @ ${typeToString(b)})`,
      );
    const batch = broadcastOrFail('matmul', a.shape.slice(0, -2), b.shape.slice(0, -2));
    return tensor(a.dtype, [...batch, m, n]);
  },
};

export const linalgGradients: { readonly [P in 'matmul']: GradientRule<P> } = {
  matmul: (b, eq, g, w) => {
    const [x, y] = two(eq);
    const { transposeA: ta, transposeB: tb } = eq.attrs;
    return wanted(
      w,
      () => {
        const d = ta ? b.matmul(y, g, { transposeA: tb, transposeB: true }) : b.matmul(g, y, { transposeB: !tb });
        return unbroadcast(b, d, x.type.shape);
      },
      () => {
        if (!ta && y.type.shape.length === 2 && x.type.shape.length > 2) {
          // A shared weight under batched rows (a Linear layer): fold the batch axes into the rows, one product
          // [K, rows] x [rows, N] instead of a batched product and a sum over the batch.
          const rows = x.type.shape.slice(0, -1).reduce(mulDim, dim(1));
          const x2 = b.reshape(x, [rows, x.type.shape[x.type.shape.length - 1] as Dim]);
          const g2 = b.reshape(g, [rows, g.type.shape[g.type.shape.length - 1] as Dim]);
          return tb ? b.matmul(g2, x2, { transposeA: true }) : b.matmul(x2, g2, { transposeA: true });
        }
        const d = tb ? b.matmul(g, x, { transposeA: true, transposeB: ta }) : b.matmul(x, g, { transposeA: !ta });
        return unbroadcast(b, d, y.type.shape);
      },
    );
  },
};
