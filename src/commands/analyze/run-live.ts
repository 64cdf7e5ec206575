import type { AnalyzeConfig } from '../../config/sections/analyze.js';
import { withPostgres, type ResolvedTarget } from '../../connections/index.js';
import { silentLogger, type Logger } from '../../logger.js';
import {
  blockingChains,
  readActivity,
  type BlockingChain,
  type SessionRow,
} from './postgres/checks/activity.js';
import { countingRunner } from './postgres/session.js';
import { analyzeRun } from './run-analyze.js';
import type { AnalyzeReport, Severity } from './types.js';

export interface LiveOptions {
  target: ResolvedTarget;
  view: 'activity' | 'locks';
  config?: AnalyzeConfig | undefined;
  failOn?: Severity;
}

export type LiveReport = Omit<AnalyzeReport, 'kind'> & {
  kind: 'activity' | 'locks';
  /** activity: every client session of the database; locks: the blocked ones and their blockers. */
  sessions: SessionRow[];
  chains: BlockingChain[];
};

/**
 * The live views: the sessions of the target database right now, plus the findings of the
 * activity or locks checks (long-running, idle in transaction, connections, blocked).
 */
export async function liveRun(
  options: LiveOptions,
  deps: { logger?: Logger; signal?: AbortSignal } = {},
): Promise<LiveReport> {
  const report = await analyzeRun(
    {
      target: options.target,
      checks: [options.view],
      config: options.config,
      ...(options.failOn ? { failOn: options.failOn } : {}),
    },
    deps,
  );
  let sessions: SessionRow[] = [];
  if (options.target.engine === 'postgres') {
    const counter = { sent: 0 };
    sessions = await withPostgres(
      options.target,
      (pg) =>
        pg.withClient((client) => readActivity(countingRunner(client, pg.where, 'primary', counter)), {
          statementTimeout: 10_000,
        }),
      { logger: deps.logger ?? silentLogger, check: false, maxConnections: 1 },
    );
    report.queriesSent += counter.sent + 2;
  }
  const chains = blockingChains(sessions);
  if (options.view === 'locks') {
    const involved = new Set(chains.flatMap((c) => [c.pid, ...c.blockedBy.map((b) => b.pid)]));
    sessions = sessions.filter((s) => involved.has(s.pid));
  }
  return { ...report, kind: options.view, sessions, chains };
}
