/** Small text helpers for the CLI's human-readable output. */

export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'] as const;
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${Number.isInteger(value) ? value : value.toFixed(2)} ${units[unit]}`;
}

export function formatCount(n: number): string {
  return n.toLocaleString('en-US');
}

/** Rows of [label, value] aligned in two columns under an optional heading. */
export function table(rows: readonly (readonly [string, string])[], indent = 2): string {
  const width = Math.max(0, ...rows.map(([label]) => label.length));
  return rows.map(([label, value]) => `${' '.repeat(indent)}${label.padEnd(width)}  ${value}`).join('\n');
}
