import { loadConfig } from '../../config/load.js';
import { redactTree } from '../../connections/redact.js';

export interface ConfigCheckResult {
  /** The file read, or null when none exists and defaults apply. */
  path: string | null;
  ok: true;
  targets: { name: string; engine: string }[];
  repositories: { name: string; type: string }[];
  sections: string[];
}

/** Validates the config file; a problem throws ConfigError listing every problem with its path. */
export function configCheck(options: { path?: string }): ConfigCheckResult {
  const { config, path } = loadConfig(options);
  return {
    path: path ?? null,
    ok: true,
    targets: Object.entries(config.targets).map(([name, t]) => ({ name, engine: t.engine })),
    repositories: Object.entries(config.repositories).map(([name, r]) => ({ name, type: r.type })),
    sections: ['analyze', 'retention', 'anonymize', 'schedule', 'wal'].filter(
      (s) => (config as Record<string, unknown>)[s] !== undefined,
    ),
  };
}

export interface ConfigShowResult {
  path: string | null;
  config: unknown;
}

/** The resolved config (env interpolated, defaults applied) with every secret redacted. */
export function configShow(options: { path?: string }): ConfigShowResult {
  const { config, path } = loadConfig(options);
  return { path: path ?? null, config: redactTree(config) };
}
