import { counts, isFailing, type FindingsReport } from './report-shape.js';

const cell = (s: unknown) =>
  String(s ?? '')
    .replace(/\|/g, '\\|')
    .replace(/\r?\n/g, '<br>');
const icon = { error: '🔴', warning: '🟠', info: '🔵' } as const;

/** A Markdown summary (PR comment, $GITHUB_STEP_SUMMARY). */
export function renderMarkdown(report: FindingsReport): string {
  const c = counts(report.findings);
  const v = report.verdict;
  const lines = [
    `## dbops analyze ${report.kind === 'analyze' ? '' : `${report.kind} `}— ${report.target}`,
    '',
    `${v.failed ? '❌ **failed**' : '✅ **passed**'} (fail on ${v.failOn}): ${c.error} error(s), ${c.warning} warning(s), ${c.info} info; ${v.newFindings} new, ${v.worseFindings} worse, ${v.knownFindings} in baseline.`,
    '',
  ];
  if (report.findings.length) {
    lines.push('| | check | object | value | threshold | message | fix |', '|---|---|---|---|---|---|---|');
    for (const f of report.findings) {
      const mark = isFailing(f, v) ? '**' : '';
      lines.push(
        `| ${icon[f.severity]} | ${mark}\`${f.check}\`${mark} | \`${cell(f.object)}\` | ${cell(f.value)}${f.unit ? ` ${cell(f.unit)}` : ''} | ${cell(f.threshold)} | ${cell(f.message)}${f.baseline === 'known' ? ' _(baseline)_' : ''} | ${f.fix ? `\`${cell(f.fix)}\`` : ''} |`,
      );
    }
    lines.push('');
  }
  const notes = report.checks.filter((r) => r.status === 'skipped' || r.status === 'error');
  if (notes.length) {
    lines.push('**Not checked:**', '');
    for (const r of notes)
      lines.push(`- \`${r.check}\` (${r.status}): ${cell(r.note)}${r.hint ? ` — ${cell(r.hint)}` : ''}`);
    lines.push('');
  }
  return lines.join('\n');
}
