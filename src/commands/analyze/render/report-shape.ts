import type { CheckRun, Finding, GateVerdict } from '../types.js';

/** What every analyze report (checks, explain, advise, activity) has in common for CI formats. */
export interface FindingsReport {
  kind: string;
  target: string;
  startedAt: string;
  durationMs: number;
  checks: CheckRun[];
  findings: Finding[];
  verdict: GateVerdict;
}

export function counts(findings: Finding[]): Record<'error' | 'warning' | 'info', number> {
  const c = { error: 0, warning: 0, info: 0 };
  for (const f of findings) c[f.severity]++;
  return c;
}

/** Does this finding count against the gate? */
export function isFailing(f: Finding, verdict: GateVerdict): boolean {
  const rank = { info: 1, warning: 2, error: 3 };
  return f.baseline !== 'known' && rank[f.severity] >= rank[verdict.failOn];
}
