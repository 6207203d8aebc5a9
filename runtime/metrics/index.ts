/** Metrics: the append-only JSONL log and loss/accuracy curves as SVG and PNG. */
export * from './chart.js';
export * from './curves.js';
export * from './jsonl.js';
export * from './png.js';
export * from './svg.js';
