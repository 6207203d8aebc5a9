/**
 * Law results as text: one line per law that holds; for a law that fails, a coded error (VT6019) at the law's
 * `file:line:col` with its source line and caret, the worst element, and the shrunk counterexample (every dimension
 * symbol and every input, with its shape and values).
 */
import type { SourceFile } from '../../compiler/source/source.js';
import { typeToString } from '../../compiler/types/shape.js';
import type { RefTensor } from '../reference/tensor.js';
import type { LawCounterexample, LawResult } from './check.js';

/** Elements printed per tensor before `...`. */
const SHOWN = 32;

function number(x: number): string {
  if (Number.isInteger(x) || !Number.isFinite(x)) return String(x);
  const short = String(Number(x.toPrecision(7)));
  return short.length < String(x).length ? short : String(x);
}

function unravel(i: number, shape: readonly number[]): number[] {
  const index: number[] = [];
  let rest = i;
  for (let a = shape.length - 1; a >= 0; a--) {
    const d = shape[a] ?? 1;
    index.unshift(rest % d);
    rest = Math.floor(rest / d);
  }
  return index;
}

/** The elements: all of a small tensor; for a large one the first few, or its non-zeros when there are few. */
function values(t: RefTensor): string {
  if (t.data.length <= SHOWN) return `[${Array.from(t.data, number).join(', ')}]`;
  const nonzero = Array.from(t.data.keys()).filter((i) => t.data[i] !== 0);
  if (nonzero.length <= SHOWN / 4) {
    if (nonzero.length === 0) return `all ${t.data.length} zero`;
    const at = nonzero.map((i) => `[${unravel(i, t.shape).join(', ')}] = ${number(t.data[i] ?? NaN)}`);
    return `zero except ${at.join(', ')}`;
  }
  return `[${Array.from(t.data.slice(0, SHOWN), number).join(', ')}, ... (${t.data.length} values)]`;
}

function where(result: LawResult, files: ReadonlyMap<string, SourceFile>): { location: string; excerpt: string[] } {
  const span = result.law.span;
  const file = files.get(span.file);
  if (file === undefined) return { location: span.file, excerpt: [] };
  const { line, column } = file.position(span.start);
  const text = file.lineText(line).replace(/\t/g, ' ');
  const end = file.position(span.end);
  const width = end.line === line ? Math.max(1, end.column - column) : Math.max(1, text.length - column + 1);
  const gutter = ' '.repeat(String(line).length);
  return {
    location: file.location(span),
    excerpt: [`${gutter} |`, `${line} | ${text}`, `${gutter} | ${' '.repeat(column - 1)}^${'~'.repeat(width - 1)}`],
  };
}

function describeCounterexample(result: LawResult, c: LawCounterexample): string[] {
  const lines = [
    `  counterexample (after ${c.shrinks} shrinking steps; ${result.backend}, fast-check seed ${result.seed}):`,
  ];
  for (const [name, value] of Object.entries(c.case.symbols)) lines.push(`    ${name} = ${value}`);
  for (const [name, t] of Object.entries(c.case.inputs)) {
    const type = typeToString({ dtype: t.dtype, shape: t.shape.map((d) => ({ coeff: d, syms: [] })) });
    lines.push(
      t.shape.length === 0
        ? `    ${name}: ${type} = ${number(t.data[0] ?? NaN)}`
        : `    ${name}: ${type} = ${values(t)}`,
    );
  }
  return lines;
}

/** The verdict of one law on one backend, as printed by `vitm test`. */
export function renderLawResult(result: LawResult, files: ReadonlyMap<string, SourceFile>): string {
  const { location, excerpt } = where(result, files);
  const cases = `${result.runs} case${result.runs === 1 ? '' : 's'}${result.skipped > 0 ? `, ${result.skipped} skipped by when` : ''}`;
  if (result.ok) return `ok    law ${result.law.name} on ${result.backend} (${cases})`;
  if (result.untested !== undefined) {
    return [
      `${location}: error VT6019: the law '${result.law.name}' could not be tested on ${result.backend}: ${result.untested}`,
      ...excerpt,
    ].join('\n');
  }
  const c = result.counterexample;
  const m = c?.mismatch;
  const what =
    m !== undefined
      ? `${m.output}[${m.index.join(', ')}] = ${number(m.lhs)} but rhs = ${number(m.rhs)} ` +
        `(difference ${number(Math.abs(m.lhs - m.rhs))}, allowed ${m.allowed.toExponential(2)})`
      : (c?.error ?? 'the two sides differ');
  return [
    `${location}: error VT6019: the law '${result.law.name}' does not hold on ${result.backend}: ${what}`,
    ...excerpt,
    ...(c === undefined ? [] : describeCounterexample(result, c)),
  ].join('\n');
}
