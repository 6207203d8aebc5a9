/**
 * The canonical text form of a graph, stable enough for golden files:
 *
 *     graph {
 *       param %0: f32[64, 1, 4, 4] "patch_embed.proj.weight"
 *       param %1: f32[64] "norm.weight" frozen
 *       data %2: f32[B, 1, 28, 28] "images"
 *       %3: f32[B, 64] = matmul(%2, %0) {transposeA=false, transposeB=true}
 *       output "loss" = %9
 *     }
 *
 * Attributes are printed sorted by name; numbers in JavaScript's shortest round-trip form; dimensions and shapes in
 * the `Dim` notation (`4*B`, `[B, 197, 768]`). With `spans: true` each equation that has a span ends in
 * `@file:start-end` (character offsets).
 */

import { dimToString, typeToString, type Dim } from '../types/shape.js';
import type { Equation, Graph, GraphInput } from './graph.js';

export interface PrintOptions {
  readonly spans?: boolean;
}

function isDim(x: unknown): x is Dim {
  return typeof x === 'object' && x !== null && 'coeff' in x && 'syms' in x;
}

/** One attribute value in canonical form. */
export function formatAttr(x: unknown): string {
  if (typeof x === 'number') return Object.is(x, -0) ? '-0' : String(x);
  if (typeof x === 'string') return x;
  if (typeof x === 'boolean') return String(x);
  if (isDim(x)) return dimToString(x);
  if (Array.isArray(x)) return `[${x.map(formatAttr).join(', ')}]`;
  return JSON.stringify(x);
}

function formatAttrs(attrs: object): string {
  const entries = Object.entries(attrs).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  if (entries.length === 0) return '';
  return ` {${entries.map(([k, v]) => `${k}=${formatAttr(v)}`).join(', ')}}`;
}

export function printInput(input: GraphInput): string {
  const v = input.value;
  const frozen = input.kind === 'param' && !input.trainable ? ' frozen' : '';
  return `${input.kind} %${v.id}: ${typeToString(v.type)} ${JSON.stringify(input.name)}${frozen}`;
}

export function printEquation(eq: Equation, options: PrintOptions = {}): string {
  const args = eq.args.map((a) => `%${a.id}`).join(', ');
  const span =
    options.spans === true && eq.span !== undefined ? ` @${eq.span.file}:${eq.span.start}-${eq.span.end}` : '';
  return `%${eq.out.id}: ${typeToString(eq.out.type)} = ${eq.op}(${args})${formatAttrs(eq.attrs)}${span}`;
}

/** The printed lines of a graph (without indentation) and the line of each equation. */
export function printLines(graph: Graph, options: PrintOptions = {}): { lines: string[]; equationLine: number[] } {
  const lines = ['graph {'];
  for (const input of graph.inputs) lines.push(`  ${printInput(input)}`);
  const equationLine: number[] = [];
  for (const eq of graph.equations) {
    equationLine.push(lines.length);
    lines.push(`  ${printEquation(eq, options)}`);
  }
  for (const out of graph.outputs) lines.push(`  output ${JSON.stringify(out.name)} = %${out.value.id}`);
  lines.push('}');
  return { lines, equationLine };
}

/** The canonical text of a graph, ending in a newline. */
export function printGraph(graph: Graph, options: PrintOptions = {}): string {
  return printLines(graph, options).lines.join('\n') + '\n';
}
