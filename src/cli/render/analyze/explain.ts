import type { ExplainReport } from '../../../commands/analyze/explain/run-explain.js';
import { colours } from '../colour.js';
import { formatDuration, table } from '../table.js';
import { checkNotes, findingsTable, verdictLine } from './table.js';

export function renderExplainTable(r: ExplainReport, color: boolean): string {
  const c = colours(color);
  const lines = [
    c.bold(`dbops analyze explain — ${r.target} ${r.where}${r.analyzed ? ' (ANALYZE, rolled back)' : ''}`),
    c.dim(`${r.queries.length} queries, ${r.queriesSent} statements sent, ${formatDuration(r.durationMs)}`),
    '',
    table(
      ['query', 'cost', r.analyzed ? 'time' : 'baseline cost', 'findings', 'plan'],
      r.queries.map((q) => [
        `${q.name}\n${c.dim(`${q.file}:${q.line}`)}`,
        q.totalCost?.toFixed(2) ?? '',
        r.analyzed ? formatDuration(q.executionMs) : (q.baselineCost?.toFixed(2) ?? ''),
        q.error ? c.red('error') : q.findings,
        q.error ?? (q.shape ?? []).slice(0, 6).join('\n'),
      ]),
    ),
    '',
  ];
  if (r.findings.length) lines.push(findingsTable(r.findings, color), '');
  const notes = checkNotes(r.checks, color).filter((n) => !n.includes('needs --'));
  if (notes.length) lines.push(...notes, '');
  lines.push(verdictLine(r.verdict, r.findings, color));
  return lines.join('\n');
}
