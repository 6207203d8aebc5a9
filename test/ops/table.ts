/** The op table: every row of every family. */
import type { Row } from './row.js';
import { elementwiseRows } from './rows-elementwise.js';
import { randomRows } from './rows-random.js';
import { structureRows } from './rows-structure.js';

export const OP_ROWS: readonly Row[] = [...elementwiseRows, ...structureRows, ...randomRows];
