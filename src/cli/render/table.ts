import { createRequire } from 'node:module';
import type TableType from 'cli-table3';

// cli-table3 is CommonJS and only needed when a table is printed: load it then, not at start-up.
const require = createRequire(import.meta.url);

/** A plain table for people; values are already strings. */
export function table(head: string[], rows: (string | number | null | undefined)[][]): string {
  const Table = require('cli-table3') as typeof TableType;
  const t = new Table({
    head,
    style: { head: [], border: [] },
    chars: { mid: '', 'left-mid': '', 'mid-mid': '', 'right-mid': '' },
    wordWrap: true,
  });
  for (const row of rows) t.push(row.map((c) => (c === null || c === undefined ? '' : String(c))));
  return t.toString();
}

/** Key/value pairs as aligned lines, for single-object results. */
export function keyValues(pairs: [string, unknown][]): string {
  const width = Math.max(0, ...pairs.map(([k]) => k.length));
  return pairs
    .filter(([, v]) => v !== undefined)
    .map(
      ([k, v]) =>
        `${k.padEnd(width)}  ${v === null ? '' : typeof v === 'object' ? JSON.stringify(v) : String(v)}`,
    )
    .join('\n');
}

export function formatBytes(n: number | undefined | null): string {
  if (n === undefined || n === null) return '';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v >= 100 || i === 0 ? v.toFixed(0) : v.toFixed(1)} ${units[i]}`;
}

export function formatDuration(ms: number | undefined | null): string {
  if (ms === undefined || ms === null) return '';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 120) return `${s.toFixed(1)} s`;
  const m = Math.floor(s / 60);
  if (m < 120) return `${m} min ${Math.round(s % 60)} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}
