import type { RepositoryConfig } from '../../config/schema.js';
import type { ResolvedTarget } from '../../connections/target.js';
import { ExitCode } from '../../errors.js';
import type { Logger } from '../../logger.js';
import { silentLogger } from '../../logger.js';
import { dbopsVersion } from '../../version.js';
import { checkMongoTarget } from './mongodb-checks.js';
import { checkPostgresTarget, failureCheck } from './postgres-checks.js';
import type { DoctorCheck, DoctorReport, DoctorRepositoryReport } from './types.js';

export interface DoctorOptions {
  targets: ResolvedTarget[];
  repositories: { name: string; config: RepositoryConfig }[];
  /** `wal.maxBacklog` from the config. */
  maxWalBacklog?: number;
}

export interface DoctorDeps {
  logger?: Logger;
}

// Which failure wins the exit code when several kinds fail: connect, then tools, then storage.
const exitPriority = [ExitCode.connection, ExitCode.tool, ExitCode.storage, ExitCode.usage];

/** Checks every target, client tool and repository, and says what to fix. */
export async function doctorRun(options: DoctorOptions, deps: DoctorDeps = {}): Promise<DoctorReport> {
  const logger = deps.logger ?? silentLogger;
  const [targets, repositories, environment] = await Promise.all([
    Promise.all(
      options.targets.map((t) =>
        t.engine === 'postgres' ? checkPostgresTarget(t, logger) : checkMongoTarget(t),
      ),
    ),
    Promise.all(options.repositories.map((r) => checkRepository(r.name, r.config))),
    environmentChecks(),
  ]);
  const failures = [
    ...targets.flatMap((t) => t.checks),
    ...repositories.flatMap((r) => r.checks),
    ...environment,
  ]
    .filter((c) => c.status === 'fail')
    .map((c) => c.exitCode ?? ExitCode.usage);
  const exitCode =
    exitPriority.find((code) => failures.includes(code)) ?? (failures.length ? ExitCode.usage : 0);
  return { ok: failures.length === 0, exitCode, targets, repositories, environment };
}

async function checkRepository(name: string, config: RepositoryConfig): Promise<DoctorRepositoryReport> {
  const report: DoctorRepositoryReport = {
    name,
    type: config.type,
    location: config.type === 'local' ? config.path : `s3://${config.bucket}/${config.prefix}`,
    checks: [],
  };
  try {
    const { withRepository } = await import('../../storage/open.js');
    const { probeRepository } = await import('../../storage/probe.js');
    await withRepository(name, config, async (repo) => {
      report.location = repo.location;
      const probe = await probeRepository(repo);
      report.checks.push(
        probe.ok
          ? { id: 'repository.probe', status: 'ok', message: `write, read and delete work (${probe.ms} ms)` }
          : {
              id: 'repository.probe',
              status: 'fail',
              message: `probe failed (write ${probe.write ? 'ok' : 'failed'}, read ${probe.read ? 'ok' : 'failed'}, delete ${probe.delete ? 'ok' : 'failed'}): ${probe.error ?? ''}`,
              hint: 'check the path/bucket, permissions and credentials',
              exitCode: ExitCode.storage,
            },
      );
    });
  } catch (err) {
    report.checks.push(failureCheck('repository.probe', err, ExitCode.storage));
  }
  return report;
}

async function environmentChecks(): Promise<DoctorCheck[]> {
  const checks: DoctorCheck[] = [
    {
      id: 'dbops.version',
      status: 'info',
      message: `dbops ${dbopsVersion()} on Node.js ${process.versions.node}`,
    },
  ];
  try {
    const { compressionInfo } = await import('../../streams/compress.js');
    const info = await compressionInfo();
    checks.push({
      id: 'compression.zstd',
      status: info.zstd.available ? 'ok' : 'warn',
      message: info.zstd.available
        ? `zstd via ${info.zstd.implementation}`
        : 'zstd not available (neither node:zlib zstd nor the zstd binary); backups fall back to gzip',
      ...(info.zstd.available ? {} : { hint: 'apt-get install zstd' }),
    });
  } catch (err) {
    checks.push({ id: 'compression.zstd', status: 'warn', message: (err as Error).message });
  }
  return checks;
}
