import { stringify } from 'yaml';
import type { SandboxInfo } from './cluster.js';

const DEMO_RETENTION = {
  policies: {
    'audit-logs': { table: 'audit_log', ageColumn: 'created_at', olderThan: '7y' },
    messages: {
      table: 'messages',
      ageColumn: 'created_at',
      olderThan: '2y',
      action: 'archive-table',
      archiveTable: 'messages_archive',
    },
    'user-sessions': { table: 'user_sessions', where: 'expires_at < now()' },
  },
};

/**
 * A ready `dbops.config.yaml` for a sandbox: target `sandbox` and local repository `default`.
 * It holds the sandbox password, so the CLI writes it with mode 0600.
 */
export function sandboxConfigYaml(
  info: SandboxInfo,
  opts: { repositoryPath: string; demo?: boolean },
): string {
  const config = {
    targets: { sandbox: { engine: 'postgres', url: info.url } },
    defaultTarget: 'sandbox',
    repositories: { default: { type: 'local', path: opts.repositoryPath } },
    defaultRepository: 'default',
    // The demo schema's policies (README): `dbops retention plan` has something to show at once.
    ...(opts.demo ? { retention: DEMO_RETENTION } : {}),
  };
  const header =
    `# dbops configuration for the sandbox cluster in ${info.dir}\n` +
    `# (PostgreSQL ${info.version}, 127.0.0.1:${info.port}). It contains the sandbox password: keep it 0600.\n`;
  return header + stringify(config);
}
