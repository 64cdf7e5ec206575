import type { Config, RepositoryConfig } from '../../config/schema.js';
import { withPostgres } from '../../connections/postgres/handle.js';
import type { ResolvedTarget } from '../../connections/target.js';
import { ExitCode } from '../../errors.js';
import { noProgress, type Logger, type Progress } from '../../logger.js';
import { withRepository } from '../../storage/open.js';
import type { Repository } from '../../storage/repository.js';
import { selectPolicies, type RetentionPolicy } from './policy.js';
import type {
  PolicyPlan,
  PolicyRunResult,
  PolicyStatus,
  RetentionPlanResult,
  RetentionRunResult,
  RetentionStatusResult,
} from './types.js';

export interface RetentionDeps {
  config: Config;
  /** Resolves a target by name; undefined = the command's target (--target, --url, default). */
  target: (name?: string) => Promise<ResolvedTarget>;
  /** Resolves a repository by name; undefined = the command's repository (--repo, default). */
  repository: (name?: string) => Promise<{ name: string; config: RepositoryConfig }>;
  logger: Logger;
  progress?: Progress;
  signal?: AbortSignal;
}

export interface RetentionRunOptions {
  /** Policy names; empty = every policy. */
  policies: string[];
  /** Keep every batch's size and duration in the result. */
  batchLog?: boolean;
}

async function withEngine<T>(
  policy: RetentionPolicy,
  deps: RetentionDeps,
  fn: (target: ResolvedTarget) => Promise<T>,
): Promise<T> {
  const target = await deps.target(policy.target);
  if (target.engine !== policy.engine) {
    const { ConfigError } = await import('../../errors.js');
    throw new ConfigError(
      `retention policy ${policy.name}: ${policy.engine === 'postgres' ? 'table' : 'collection'} on a ${target.engine} target (${target.name})`,
      { hint: 'use table: for PostgreSQL targets and collection: for MongoDB targets' },
    );
  }
  return fn(target);
}

async function withPolicyRepository<T>(
  policy: RetentionPolicy,
  deps: RetentionDeps,
  fn: (repo: Repository | undefined) => Promise<T>,
): Promise<T> {
  if (policy.action !== 'archive-storage') return fn(undefined);
  const { name, config } = await deps.repository(policy.repository);
  return withRepository(name, config, fn, deps.logger);
}

/** `dbops retention run`: each policy in turn; one policy's failure does not stop the others. */
export async function retentionRun(
  options: RetentionRunOptions,
  deps: RetentionDeps,
): Promise<RetentionRunResult> {
  const started = Date.now();
  const policies = selectPolicies(deps.config, options.policies);
  const results: PolicyRunResult[] = [];
  for (const policy of policies) {
    if (deps.signal?.aborted) break;
    results.push(
      await withEngine(policy, deps, (target) =>
        withPolicyRepository(policy, deps, async (repository) => {
          const common = {
            targetName: target.name,
            logger: deps.logger,
            progress: deps.progress ?? noProgress,
            ...(repository ? { repository } : {}),
            ...(deps.signal ? { signal: deps.signal } : {}),
            ...(options.batchLog ? { batchLog: true } : {}),
          };
          if (target.engine === 'postgres') {
            const { runPostgresPolicy } = await import('./postgres/run.js');
            return withPostgres(target, (pg) => runPostgresPolicy(policy, { ...common, pg }), {
              logger: deps.logger,
            });
          }
          const { runMongoPolicy } = await import('./mongodb/run.js');
          const { withMongo } = await import('../../connections/mongodb/client.js');
          return withMongo(target, (mongo) => runMongoPolicy(policy, { ...common, mongo }));
        }),
      ),
    );
  }
  const interrupted = results.some((r) => r.stoppedBy === 'signal') || deps.signal?.aborted;
  const failed = results.some((r) => r.outcome === 'failed' || r.outcome === 'retry-later');
  return {
    dryRun: false,
    policies: results,
    rows: results.reduce((s, r) => s + r.rows, 0),
    durationMs: Date.now() - started,
    exitCode: interrupted ? ExitCode.interrupted : failed ? ExitCode.checksFailed : ExitCode.ok,
  };
}

/** `dbops retention plan` / `run --dry-run`: counts, cutoffs, statements; changes nothing. */
export async function retentionPlan(
  options: { policies: string[] },
  deps: RetentionDeps,
): Promise<RetentionPlanResult> {
  const plans: PolicyPlan[] = [];
  for (const policy of selectPolicies(deps.config, options.policies)) {
    plans.push(
      await withEngine(policy, deps, async (target) => {
        if (target.engine === 'postgres') {
          const { planPostgresPolicy } = await import('./postgres/plan.js');
          return withPostgres(target, (pg) => planPostgresPolicy(policy, pg, target.name), {
            logger: deps.logger,
          });
        }
        const { planMongoPolicy } = await import('./mongodb/run.js');
        const { withMongo } = await import('../../connections/mongodb/client.js');
        return withMongo(target, (mongo) => planMongoPolicy(policy, mongo, target.name));
      }),
    );
  }
  return { dryRun: true, policies: plans };
}

/** `dbops retention status`: compliance evidence; exit 1 when a policy is violated. */
export async function retentionStatus(
  options: { policies: string[]; graceMs?: number },
  deps: RetentionDeps,
): Promise<RetentionStatusResult> {
  const statuses: PolicyStatus[] = [];
  for (const policy of selectPolicies(deps.config, options.policies)) {
    statuses.push(
      await withEngine(policy, deps, async (target) => {
        if (target.engine === 'postgres') {
          const { statusPostgresPolicy } = await import('./postgres/plan.js');
          return withPostgres(
            target,
            (pg) => statusPostgresPolicy(policy, pg, target.name, options.graceMs ?? 0),
            {
              logger: deps.logger,
            },
          );
        }
        const { statusMongoPolicy } = await import('./mongodb/run.js');
        const { withMongo } = await import('../../connections/mongodb/client.js');
        return withMongo(target, (mongo) =>
          statusMongoPolicy(policy, mongo, target.name, options.graceMs ?? 0),
        );
      }),
    );
  }
  const violated = statuses.filter((s) => s.violated).length;
  return { policies: statuses, violated, exitCode: violated > 0 ? ExitCode.checksFailed : ExitCode.ok };
}
