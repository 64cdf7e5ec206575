import { createHash } from 'node:crypto';

import type { AnalyzeCheckId } from '../../../config/sections/analyze.js';
import { dbopsVersion } from '../../../version.js';
import { catalogue, helpUri } from '../catalogue.js';
import type { Finding, Severity } from '../types.js';
import type { FindingsReport } from './report-shape.js';

const level: Record<Severity, 'error' | 'warning' | 'note'> = {
  error: 'error',
  warning: 'warning',
  info: 'note',
};

export function fingerprint(f: Pick<Finding, 'check' | 'object'>): string {
  return createHash('sha256').update(`${f.check}\u0000${f.object}`).digest('hex');
}

/**
 * SARIF 2.1.0 as GitHub code scanning reads it: rules with help, results with ruleId, level,
 * message, a physical location (a database has no source file, so findings are anchored on the
 * config or corpus file), partialFingerprints (check id + object identity, never a line) and
 * baselineState.
 */
export function renderSarif(report: FindingsReport, options: { anchor?: string } = {}): string {
  const ruleIds = [
    ...new Set<AnalyzeCheckId>([
      ...report.checks.map((c) => c.check),
      ...report.findings.map((f) => f.check),
    ]),
  ];
  const rules = ruleIds.map((id) => {
    const c = catalogue[id];
    return {
      id,
      name: c.title
        .replace(/[^A-Za-z0-9]+/g, ' ')
        .trim()
        .replace(/ (\w)/g, (_m, ch: string) => ch.toUpperCase())
        .replace(/^\w/, (ch) => ch.toUpperCase()),
      shortDescription: { text: c.title },
      fullDescription: { text: c.rationale },
      helpUri: helpUri(id),
      help: {
        text: `${c.rationale}\nDefault threshold: ${c.threshold}.\nFix: ${c.fix}`,
        markdown: `${c.rationale}\n\n**Default threshold:** ${c.threshold}\n\n**Fix:** ${c.fix}`,
      },
      defaultConfiguration: { level: level[c.severity] },
      properties: {
        tags: ['dbops', c.group, ...c.engines],
        precision: c.kind === 'D' ? 'very-high' : 'high',
      },
    };
  });
  const index = new Map(ruleIds.map((id, i) => [id, i]));
  const anchor = options.anchor ?? 'dbops.config.yaml';
  const results = report.findings.map((f) => ({
    ruleId: f.check,
    ruleIndex: index.get(f.check),
    level: level[f.severity],
    message: { text: `${f.object}: ${f.message}${f.fix ? `\nFix: ${f.fix}` : ''}` },
    locations: [
      {
        physicalLocation: {
          artifactLocation: { uri: (f.evidence?.values?.file as string | undefined) ?? anchor },
          region: { startLine: Number(f.evidence?.values?.line ?? 1) },
        },
        logicalLocations: [{ fullyQualifiedName: f.object, kind: 'resource' }],
      },
    ],
    partialFingerprints: { 'dbopsFinding/v1': fingerprint(f) },
    ...(f.baseline
      ? { baselineState: f.baseline === 'known' ? 'unchanged' : f.baseline === 'worse' ? 'updated' : 'new' }
      : {}),
    properties: {
      object: f.object,
      ...(f.value !== undefined ? { value: f.value } : {}),
      ...(f.threshold !== undefined ? { threshold: f.threshold } : {}),
      ...(f.unit ? { unit: f.unit } : {}),
      ...(f.fix ? { fix: f.fix } : {}),
      ...(f.evidence?.source ? { source: f.evidence.source } : {}),
    },
  }));
  const sarif = {
    $schema: 'https://json.schemastore.org/sarif-2.1.0.json',
    version: '2.1.0',
    runs: [
      {
        tool: {
          driver: {
            name: 'dbops',
            version: dbopsVersion(),
            semanticVersion: dbopsVersion(),
            informationUri: 'https://github.com/dbops/dbops',
            rules,
          },
        },
        automationDetails: { id: `dbops-analyze/${report.kind}/${report.target}/` },
        invocations: [
          {
            executionSuccessful: !report.checks.some((c) => c.status === 'error'),
            startTimeUtc: report.startedAt,
            endTimeUtc: new Date(Date.parse(report.startedAt) + report.durationMs).toISOString(),
            toolExecutionNotifications: report.checks
              .filter((c) => c.status === 'skipped' || c.status === 'error')
              .map((c) => ({
                level: c.status === 'error' ? 'error' : 'note',
                message: { text: `${c.check}: ${c.note ?? c.status}` },
                descriptor: { id: c.check },
              })),
          },
        ],
        results,
      },
    ],
  };
  return JSON.stringify(sarif, null, 2);
}
