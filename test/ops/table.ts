/** The op table: every row of every family. */
import type { Row } from './row.js';
import { elementwiseRows } from './rows-elementwise.js';
import { compositeRows, indexingRows } from './rows-indexing.js';
import { randomRows } from './rows-random.js';
import { structureRows } from './rows-structure.js';

export const OP_ROWS: readonly Row[] = [
  ...elementwiseRows,
  ...structureRows,
  ...indexingRows(),
  ...compositeRows(),
  ...randomRows,
];
