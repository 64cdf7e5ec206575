import type { AnalyzeReport, CheckRun, Finding, GateVerdict } from '../../../commands/analyze/types.js';
import { colours } from '../colour.js';
import { formatDuration, table } from '../table.js';

const measured = (f: Finding) =>
  f.value === undefined
    ? ''
    : `${f.value}${f.unit ? ` ${f.unit}` : ''}${f.threshold !== undefined ? `\n(threshold ${f.threshold})` : ''}`;

export function findingsTable(findings: Finding[], color: boolean): string {
  const c = colours(color);
  const sev = { error: c.red('error'), warning: c.yellow('warning'), info: c.cyan('info') };
  return table(
    ['severity', 'check', 'object', 'measured', 'finding'],
    findings.map((f) => [
      `${sev[f.severity]}${f.baseline === 'known' ? c.dim('\n(baseline)') : f.baseline === 'worse' ? c.red('\n(worse)') : ''}`,
      f.check,
      f.object,
      measured(f),
      `${f.message}${f.fix ? `\n${c.dim(`fix: ${f.fix}`)}` : ''}`,
    ]),
  );
}

export function checkNotes(checks: CheckRun[], color: boolean): string[] {
  const c = colours(color);
  return checks
    .filter((r) => r.status === 'skipped' || r.status === 'error')
    .map(
      (r) =>
        `${r.status === 'error' ? c.red('error  ') : c.yellow('skipped')} ${r.check}: ${r.note ?? ''}${r.hint ? c.dim(`\n        → ${r.hint}`) : ''}`,
    );
}

export function verdictLine(v: GateVerdict, findings: Finding[], color: boolean): string {
  const c = colours(color);
  const n = (s: string) => findings.filter((f) => f.severity === s).length;
  const tally = `${n('error')} error(s), ${n('warning')} warning(s), ${n('info')} info — ${v.newFindings} new, ${v.worseFindings} worse, ${v.knownFindings} in baseline${v.expiredBaselineEntries ? `, ${v.expiredBaselineEntries} expired baseline entries` : ''}`;
  return v.failed
    ? c.red(`FAILED (fail on ${v.failOn}): ${v.failing} finding(s) at or above ${v.failOn}; ${tally}`)
    : c.green(`passed (fail on ${v.failOn}): ${tally}`);
}

export function renderAnalyzeTable(r: AnalyzeReport, color: boolean): string {
  const c = colours(color);
  const lines = [
    c.bold(`dbops analyze — ${r.target} (${r.engine}) ${r.where}`),
    c.dim(
      `${r.checks.length} checks, ${r.queriesSent} queries, ${formatDuration(r.durationMs)}; statistics window: ${
        r.window
          .map(
            (w) =>
              `${w.role} ${w.days === null ? '?' : `${w.days.toFixed(1)} d`}${w.statsReset ? '' : ' (never reset: since server start)'}`,
          )
          .join(', ') || 'n/a'
      }`,
    ),
    '',
  ];
  if (r.findings.length) lines.push(findingsTable(r.findings, color), '');
  else lines.push(c.green('no findings'), '');
  const notes = checkNotes(r.checks, color);
  if (notes.length) lines.push(...notes, '');
  if (r.suppressed.some((s) => s.by === 'allow-list'))
    lines.push(
      c.dim(
        `${r.suppressed.filter((s) => s.by === 'allow-list').length} finding(s) silenced by the allow-list`,
      ),
    );
  lines.push(verdictLine(r.verdict, r.findings, color));
  return lines.join('\n');
}
