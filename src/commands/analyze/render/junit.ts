import { catalogue } from '../catalogue.js';
import { isFailing, type FindingsReport } from './report-shape.js';

// eslint-disable-next-line no-control-regex -- exactly the characters XML 1.0 cannot carry
const CONTROL = /[\u0000-\u0008\u000B\u000C\u000E-\u001F]/g;

export function xmlEscape(s: string): string {
  return (
    s
      .replace(/&/g, '&amp;')
      .replace(/</g, '&lt;')
      .replace(/>/g, '&gt;')
      .replace(/"/g, '&quot;')
      .replace(/'/g, '&apos;')
      // XML 1.0 forbids most control characters even when escaped.
      .replace(CONTROL, '')
  );
}

/**
 * JUnit XML: one testcase per check with no findings (passed), one per check × object otherwise,
 * named `check:object`. A finding that fails the gate is a <failure>; one below --fail-on or in
 * the baseline is <skipped> with the reason; a check that could not run is <error> or <skipped>.
 */
export function renderJunit(report: FindingsReport): string {
  const seconds = (report.durationMs / 1000).toFixed(3);
  const cases: string[] = [];
  let failures = 0;
  let errors = 0;
  let skipped = 0;
  for (const run of report.checks) {
    const classname = `dbops.analyze.${catalogue[run.check].group}`;
    const mine = report.findings.filter((f) => f.check === run.check);
    if (run.status === 'error') {
      errors++;
      cases.push(
        `    <testcase classname="${classname}" name="${xmlEscape(run.check)}" time="0"><error message="${xmlEscape(run.note ?? 'check failed')}" type="error">${xmlEscape(run.hint ?? '')}</error></testcase>`,
      );
      continue;
    }
    if (run.status === 'skipped') {
      skipped++;
      cases.push(
        `    <testcase classname="${classname}" name="${xmlEscape(run.check)}" time="0"><skipped message="${xmlEscape(run.note ?? 'skipped')}"/></testcase>`,
      );
      continue;
    }
    if (mine.length === 0) {
      cases.push(`    <testcase classname="${classname}" name="${xmlEscape(run.check)}" time="0"/>`);
      continue;
    }
    for (const f of mine) {
      const name = xmlEscape(`${f.check}:${f.object}`);
      const detail = xmlEscape(
        [
          f.message,
          f.value !== undefined ? `value: ${f.value}${f.unit ? ` ${f.unit}` : ''}` : '',
          f.threshold !== undefined ? `threshold: ${f.threshold}` : '',
          f.fix ? `fix: ${f.fix}` : '',
        ]
          .filter(Boolean)
          .join('\n'),
      );
      if (isFailing(f, report.verdict)) {
        failures++;
        cases.push(
          `    <testcase classname="${classname}" name="${name}" time="0"><failure message="${xmlEscape(f.message)}" type="${f.severity}">${detail}</failure></testcase>`,
        );
      } else {
        skipped++;
        const why =
          f.baseline === 'known'
            ? 'in the baseline'
            : `${f.severity} below --fail-on ${report.verdict.failOn}`;
        cases.push(
          `    <testcase classname="${classname}" name="${name}" time="0"><skipped message="${xmlEscape(`${why}: ${f.message}`)}"/></testcase>`,
        );
      }
    }
  }
  const tests = cases.length;
  const suite = xmlEscape(`dbops analyze ${report.kind} ${report.target}`);
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites name="dbops analyze" tests="${tests}" failures="${failures}" errors="${errors}" skipped="${skipped}" time="${seconds}">`,
    `  <testsuite name="${suite}" tests="${tests}" failures="${failures}" errors="${errors}" skipped="${skipped}" time="${seconds}" timestamp="${report.startedAt.replace(/Z$/, '')}">`,
    ...cases,
    '  </testsuite>',
    '</testsuites>',
  ].join('\n');
}
