import type { CheckProblem, CheckResult } from './check-types.js';

/** Report formats of `anonymize check` for CI systems (pure text builders, no terminal code). */

function where(p: CheckProblem): string {
  return p.column ? `${p.table}.${p.column}` : p.table;
}

function line(p: CheckProblem): string {
  const pii = p.pii ? ` [likely PII: ${p.pii}]` : '';
  const suggest = p.suggestion ? ` — suggested rule: ${p.suggestion}` : '';
  return `${where(p)}${p.type ? ` (${p.type})` : ''}: ${p.message}${pii}${suggest}`;
}

function xml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

export function checkJunit(r: CheckResult): string {
  const cases = r.problems
    .map(
      (p) =>
        `    <testcase classname="anonymize.${xml(p.table)}" name="${xml(p.column ?? p.table)}">\n` +
        `      <failure message="${xml(p.message)}" type="${p.kind}">${xml(line(p))}</failure>\n    </testcase>`,
    )
    .join('\n');
  const ok = r.ok ? '    <testcase classname="anonymize" name="every column classified"/>\n' : '';
  return (
    `<?xml version="1.0" encoding="UTF-8"?>\n<testsuites>\n  <testsuite name="dbops anonymize check" tests="${Math.max(1, r.problems.length)}" failures="${r.problems.length}">\n` +
    ok +
    cases +
    (cases ? '\n' : '') +
    '  </testsuite>\n</testsuites>'
  );
}

export function checkSarif(r: CheckResult): string {
  const rules = ['unclassified', 'missing-table', 'missing-column', 'bad-rule'].map((id) => ({
    id: `anonymize/${id}`,
    shortDescription: { text: id.replace('-', ' ') },
  }));
  return JSON.stringify(
    {
      $schema: 'https://json.schemastore.org/sarif-2.1.0.json',
      version: '2.1.0',
      runs: [
        {
          tool: { driver: { name: 'dbops anonymize check', rules } },
          results: r.problems.map((p) => ({
            ruleId: `anonymize/${p.kind}`,
            level: p.pii || p.kind !== 'unclassified' ? 'error' : 'warning',
            message: { text: line(p) },
            locations: [
              { logicalLocations: [{ fullyQualifiedName: where(p), kind: p.column ? 'member' : 'type' }] },
            ],
          })),
        },
      ],
    },
    null,
    2,
  );
}

export function checkMarkdown(r: CheckResult): string {
  const head = `### dbops anonymize check: ${r.ok ? 'passed' : `${r.problems.length} problem(s)`}\n\n${r.classified}/${r.columns} columns classified in ${r.tables} tables.\n`;
  if (r.ok) return head;
  const rows = r.problems.map(
    (p) =>
      `| \`${where(p)}\` | ${p.type ?? ''} | ${p.kind} | ${p.pii ?? ''} | ${p.suggestion ? `\`${p.suggestion}\`` : p.message} |`,
  );
  return `${head}\n| column | type | problem | likely PII | suggested rule |\n|---|---|---|---|---|\n${rows.join('\n')}\n`;
}

/** GitHub Actions workflow commands: one annotation per problem. */
export function checkGithub(r: CheckResult): string {
  const esc = (s: string) => s.replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A');
  const lines = r.problems.map(
    (p) =>
      `::${p.pii || p.kind !== 'unclassified' ? 'error' : 'warning'} title=anonymize ${p.kind}::${esc(line(p))}`,
  );
  lines.push(
    r.ok
      ? `::notice::anonymize check passed (${r.columns} columns)`
      : `::error::anonymize check failed: ${r.problems.length} problem(s)`,
  );
  return lines.join('\n');
}

export function checkText(r: CheckResult): string[] {
  return r.problems.map(line);
}
