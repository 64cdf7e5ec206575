import { counts, isFailing, type FindingsReport } from './report-shape.js';

const data = (s: string) => s.replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A');
const prop = (s: string) => data(s).replace(/:/g, '%3A').replace(/,/g, '%2C');

/**
 * GitHub Actions workflow commands: one annotation per finding (error / warning / notice),
 * titled with the check id. Findings that fail the gate are errors whatever their severity,
 * so the job's annotations match its exit code.
 */
export function renderGithub(report: FindingsReport, options: { file?: string } = {}): string {
  const lines: string[] = [];
  for (const f of report.findings) {
    const kind = isFailing(f, report.verdict)
      ? 'error'
      : f.severity === 'info' || f.baseline === 'known'
        ? 'notice'
        : 'warning';
    const file = (f.evidence?.values?.file as string | undefined) ?? options.file;
    const line = f.evidence?.values?.line as number | undefined;
    const props = [
      file ? `file=${prop(file)}` : '',
      line ? `line=${line}` : '',
      `title=${prop(`${f.check} ${f.object}`)}`,
    ]
      .filter(Boolean)
      .join(',');
    lines.push(`::${kind} ${props}::${data(`${f.message}${f.fix ? `\nFix: ${f.fix}` : ''}`)}`);
  }
  for (const r of report.checks.filter((x) => x.status === 'error')) {
    lines.push(`::warning title=${prop(`${r.check} could not run`)}::${data(r.note ?? '')}`);
  }
  const c = counts(report.findings);
  lines.push(
    `dbops analyze ${report.target}: ${report.verdict.failed ? 'FAILED' : 'passed'} (fail on ${report.verdict.failOn}) — ${c.error} error(s), ${c.warning} warning(s), ${c.info} info, ${report.verdict.newFindings} new`,
  );
  return lines.join('\n');
}
