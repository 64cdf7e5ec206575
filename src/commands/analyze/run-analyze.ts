import type { AnalyzeCheckId, AnalyzeConfig } from '../../config/sections/analyze.js';
import type { ResolvedTarget } from '../../connections/index.js';
import { describeTarget } from '../../connections/index.js';
import type { Logger } from '../../logger.js';
import { silentLogger } from '../../logger.js';
import { readBaseline, writeBaseline, gate, type BaselineFile } from './baseline.js';
import { allowedBy, analyzeConfigOf, parseDuration, selectChecks } from './settings.js';
import type {
  AnalyzeReport,
  CheckRun,
  Finding,
  ObservationWindow,
  Severity,
  SuppressedFinding,
} from './types.js';
import { severityRank } from './types.js';

export interface AnalyzeOptions {
  target: ResolvedTarget;
  /** Check ids or groups; empty = every check of the engine. */
  checks?: string[];
  /** The config's `analyze:` section (defaults when absent). */
  config?: AnalyzeConfig | undefined;
  failOn?: Severity;
  /** `14d`, `0` …; default from the config (14 d). */
  minWindow?: string | number;
  baselinePath?: string;
  writeBaselinePath?: string;
  /** A `wal:` section is configured, so archive_mode=off matters. */
  expectsWalArchiving?: boolean;
}

export interface AnalyzeDeps {
  logger?: Logger;
  signal?: AbortSignal;
}

/** Runs the checks, applies the allow-list, compares with the baseline and decides the verdict. */
export async function analyzeRun(options: AnalyzeOptions, deps: AnalyzeDeps = {}): Promise<AnalyzeReport> {
  const logger = deps.logger ?? silentLogger;
  const config = analyzeConfigOf(options.config);
  const started = Date.now();
  const engine = options.target.engine;
  const checks = selectChecks(options.checks ?? [], engine, config);
  const failOn = options.failOn ?? config.failOn;
  const minWindowSeconds =
    options.minWindow !== undefined
      ? parseDuration(options.minWindow, '--min-window')
      : parseDuration(config.minWindow, 'analyze.minWindow');
  const statementTimeoutMs = parseDuration(config.statementTimeout, 'analyze.statementTimeout') * 1000;
  const baselinePath = options.baselinePath ?? config.baseline;
  // Read the baseline before connecting: a broken file is a usage error, not a half-run.
  const baseline: BaselineFile | undefined = baselinePath ? await readBaseline(baselinePath) : undefined;
  const counter = { sent: 0 };

  let where: string;
  let window: ObservationWindow[];
  let runs: CheckRun[];
  let raw: Finding[];
  if (engine === 'postgres') {
    const { runPostgresChecks } = await import('./postgres/run-checks.js');
    ({
      where,
      window,
      checks: runs,
      findings: raw,
    } = await runPostgresChecks(
      options.target,
      {
        checks,
        config,
        minWindowSeconds,
        statementTimeoutMs,
        expectsWalArchiving: options.expectsWalArchiving ?? false,
      },
      { logger, counter, signal: deps.signal },
    ));
  } else {
    const { runMongoChecks } = await import('./mongodb/run-checks.js');
    ({
      where,
      window,
      checks: runs,
      findings: raw,
    } = await runMongoChecks(
      options.target,
      { checks, config, minWindowSeconds },
      { logger, counter, signal: deps.signal },
    ));
  }

  const { findings, suppressed } = applyAllowList(raw, config);
  findings.sort(
    (a, b) =>
      severityRank[b.severity] - severityRank[a.severity] ||
      a.check.localeCompare(b.check) ||
      a.object.localeCompare(b.object),
  );
  for (const run of runs) run.findings = findings.filter((f) => f.check === run.check).length;
  const verdict = gate(findings, failOn, baseline);
  for (const f of findings)
    if (f.baseline === 'known') suppressed.push({ ...f, by: 'baseline', reason: reasonOf(baseline, f) });

  if (options.writeBaselinePath) {
    await writeBaseline(options.writeBaselinePath, findings, {
      target: options.target.name,
      previous: baseline,
    });
    logger.info(`baseline with ${findings.length} finding(s) written to ${options.writeBaselinePath}`);
  }

  return {
    kind: 'analyze',
    engine,
    target: options.target.name,
    where: where ?? describeTarget(options.target),
    startedAt: new Date(started).toISOString(),
    durationMs: Date.now() - started,
    queriesSent: counter.sent,
    window,
    minWindowDays: minWindowSeconds / 86400,
    checks: runs,
    findings,
    suppressed,
    verdict,
  };
}

function reasonOf(baseline: BaselineFile | undefined, f: Finding): string {
  const e = baseline?.entries.find((x) => x.check === f.check && x.object === f.object);
  return e?.reason ?? 'in the baseline';
}

export function applyAllowList(
  raw: Finding[],
  config: AnalyzeConfig,
): { findings: Finding[]; suppressed: SuppressedFinding[] } {
  const findings: Finding[] = [];
  const suppressed: SuppressedFinding[] = [];
  for (const f of raw) {
    const allow = allowedBy(config.allow, f.check as AnalyzeCheckId, f.object);
    if (allow) suppressed.push({ ...f, by: 'allow-list', reason: allow.reason });
    else findings.push(f);
  }
  return { findings, suppressed };
}
