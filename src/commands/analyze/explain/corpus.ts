import { readdir, readFile, stat } from 'node:fs/promises';
import { basename, join, relative } from 'node:path';

import { ConfigError } from '../../../errors.js';

/** One query of the corpus, with the budgets its comment header sets. */
export interface CorpusEntry {
  name: string;
  file: string;
  /** 1-based line of the statement's first header line (for SARIF / annotations). */
  line: number;
  sql: string;
  params: unknown[];
  maxCost?: number;
  maxBuffers?: number;
  seqScanRows?: number;
  /** Plan rules this query is allowed to break, e.g. plan.nested-loop. */
  allow: string[];
}

const HEADER = /^\s*--\s*([a-z][a-z-]*)\s*:\s*(.*?)\s*$/i;
const KNOWN_KEYS = new Set([
  'name',
  'params',
  'max-cost',
  'max-buffers',
  'seq-scan-rows',
  'allow',
  'description',
]);

/**
 * Top-level statements of a SQL text: splits on `;` outside strings, quoted identifiers,
 * dollar quotes and comments. Returns the non-empty statements.
 */
export function splitStatements(sql: string): string[] {
  const out: string[] = [];
  let start = 0;
  let i = 0;
  const n = sql.length;
  while (i < n) {
    const ch = sql[i]!;
    const next = sql[i + 1];
    if (ch === '-' && next === '-') {
      const end = sql.indexOf('\n', i);
      i = end === -1 ? n : end + 1;
    } else if (ch === '/' && next === '*') {
      let depth = 1;
      i += 2;
      while (i < n && depth > 0) {
        if (sql[i] === '/' && sql[i + 1] === '*') {
          depth++;
          i += 2;
        } else if (sql[i] === '*' && sql[i + 1] === '/') {
          depth--;
          i += 2;
        } else i++;
      }
    } else if (ch === "'" || ch === '"') {
      i++;
      while (i < n) {
        if (sql[i] === ch) {
          if (sql[i + 1] === ch) i += 2;
          else break;
        } else i++;
      }
      i++;
    } else if (ch === '$') {
      const m = /^\$([A-Za-z_][A-Za-z0-9_]*)?\$/.exec(sql.slice(i));
      if (m) {
        const end = sql.indexOf(m[0], i + m[0].length);
        i = end === -1 ? n : end + m[0].length;
      } else i++;
    } else if (ch === ';') {
      out.push(sql.slice(start, i));
      i++;
      start = i;
    } else i++;
  }
  out.push(sql.slice(start));
  return out.filter((s) => stripComments(s).trim().length > 0).map((s) => s.trim());
}

function stripComments(s: string): string {
  return s.replace(/--[^\n]*/g, '').replace(/\/\*[\s\S]*?\*\//g, '');
}

function numberOf(value: string, key: string, where: string, problems: string[]): number | undefined {
  const n = Number(value.replace(/_/g, ''));
  if (!Number.isFinite(n) || n < 0) {
    problems.push(`${where}: ${key} must be a non-negative number, got "${value}"`);
    return undefined;
  }
  return n;
}

/** Parses one corpus file; every problem of the file is collected. */
export function parseCorpusText(text: string, file: string, problems: string[]): CorpusEntry[] {
  const lines = text.split(/\r?\n/);
  const blocks: { line: number; lines: string[] }[] = [];
  let current: { line: number; lines: string[] } | undefined;
  lines.forEach((l, idx) => {
    const h = HEADER.exec(l);
    if (h && h[1]!.toLowerCase() === 'name') {
      current = { line: idx + 1, lines: [] };
      blocks.push(current);
    }
    if (!current) {
      current = { line: 1, lines: [] };
      blocks.push(current);
    }
    current.lines.push(l);
  });
  const entries: CorpusEntry[] = [];
  const named =
    blocks.length > 1 ||
    blocks.some((b) => b.lines.some((l) => HEADER.exec(l)?.[1]?.toLowerCase() === 'name'));
  for (const block of blocks) {
    const headers = new Map<string, string>();
    const body: string[] = [];
    for (const l of block.lines) {
      const h = HEADER.exec(l);
      if (h && KNOWN_KEYS.has(h[1]!.toLowerCase())) headers.set(h[1]!.toLowerCase(), h[2]!);
      else body.push(l);
    }
    const sqlText = body.join('\n');
    if (stripComments(sqlText).trim() === '') {
      if (headers.has('name'))
        problems.push(`${file}:${block.line}: query "${headers.get('name')}" has no SQL`);
      continue;
    }
    const name =
      headers.get('name') ?? (named ? `${basename(file, '.sql')}:${block.line}` : basename(file, '.sql'));
    const where = `${file}:${block.line} (${name})`;
    const statements = splitStatements(sqlText);
    if (statements.length !== 1) {
      problems.push(
        `${where}: ${statements.length} statements; a corpus entry must hold exactly one (give each its own "-- name:" header)`,
      );
      continue;
    }
    let params: unknown[] = [];
    if (headers.has('params')) {
      try {
        const parsed = JSON.parse(headers.get('params')!) as unknown;
        if (!Array.isArray(parsed)) throw new Error('not an array');
        params = parsed;
      } catch {
        problems.push(`${where}: params must be a JSON array, e.g. [42, "abc"]`);
      }
    }
    const entry: CorpusEntry = {
      name,
      file,
      line: block.line,
      sql: statements[0]!.replace(/;\s*$/, ''),
      params,
      allow: (headers.get('allow') ?? '')
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean),
    };
    for (const [key, field] of [
      ['max-cost', 'maxCost'],
      ['max-buffers', 'maxBuffers'],
      ['seq-scan-rows', 'seqScanRows'],
    ] as const) {
      if (headers.has(key)) {
        const v = numberOf(headers.get(key)!, key, where, problems);
        if (v !== undefined) entry[field] = v;
      }
    }
    entries.push(entry);
  }
  return entries;
}

async function sqlFiles(path: string): Promise<string[]> {
  let s;
  try {
    s = await stat(path);
  } catch {
    throw new ConfigError(`corpus path ${path} does not exist`);
  }
  if (!s.isDirectory()) return [path];
  const out: string[] = [];
  for (const e of (await readdir(path, { withFileTypes: true })).sort((a, b) =>
    a.name.localeCompare(b.name),
  )) {
    const p = join(path, e.name);
    if (e.isDirectory()) out.push(...(await sqlFiles(p)));
    else if (e.name.endsWith('.sql')) out.push(p);
  }
  return out;
}

/** Reads every file (directories recursively, *.sql); names must be unique across the corpus. */
export async function loadCorpus(paths: string[], cwd = process.cwd()): Promise<CorpusEntry[]> {
  if (paths.length === 0) {
    throw new ConfigError('no corpus given', {
      hint: 'pass SQL files or set analyze.explain.corpus in the config',
    });
  }
  const problems: string[] = [];
  const entries: CorpusEntry[] = [];
  for (const p of paths) {
    for (const file of await sqlFiles(p)) {
      const rel = relative(cwd, file) || file;
      entries.push(...parseCorpusText(await readFile(file, 'utf8'), rel, problems));
    }
  }
  const seen = new Map<string, string>();
  for (const e of entries) {
    const prev = seen.get(e.name);
    if (prev) problems.push(`${e.file}:${e.line}: query name "${e.name}" is also used at ${prev}`);
    seen.set(e.name, `${e.file}:${e.line}`);
  }
  if (problems.length)
    throw new ConfigError(`invalid query corpus (${problems.length} problem(s))`, { problems });
  if (entries.length === 0) throw new ConfigError('the query corpus is empty');
  return entries;
}
