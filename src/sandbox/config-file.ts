import { stringify } from 'yaml';
import type { SandboxInfo } from './cluster.js';

/**
 * A ready `dbops.config.yaml` for a sandbox: target `sandbox` and local repository `default`.
 * It holds the sandbox password, so the CLI writes it with mode 0600.
 */
export function sandboxConfigYaml(info: SandboxInfo, opts: { repositoryPath: string }): string {
  const config = {
    targets: { sandbox: { engine: 'postgres', url: info.url } },
    defaultTarget: 'sandbox',
    repositories: { default: { type: 'local', path: opts.repositoryPath } },
    defaultRepository: 'default',
  };
  const header =
    `# dbops configuration for the sandbox cluster in ${info.dir}\n` +
    `# (PostgreSQL ${info.version}, 127.0.0.1:${info.port}). It contains the sandbox password: keep it 0600.\n`;
  return header + stringify(config);
}
