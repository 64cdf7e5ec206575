import type { Config, MongodbTargetConfig, PostgresTargetConfig } from '../config/schema.js';
import { ConfigError } from '../errors.js';
import { redactUrl, registerSecret } from './redact.js';

export type ResolvedPostgresTarget = Omit<PostgresTargetConfig, 'url'> & {
  name: string;
  /** Undefined when the connection comes from the standard PG* environment and ~/.pgpass alone. */
  url: string | undefined;
};
export type ResolvedMongodbTarget = MongodbTargetConfig & { name: string };
export type ResolvedTarget = ResolvedPostgresTarget | ResolvedMongodbTarget;

export interface TargetSelection {
  /** `--target NAME` */
  target?: string;
  /** `--url URL`: an ad-hoc target without a config file. */
  url?: string;
}

const postgresDefaults = { replicas: [], connectTimeout: 10, production: false, maxReplicaLag: 30 } as const;

export function engineOfUrl(url: string): 'postgres' | 'mongodb' {
  if (/^postgres(ql)?:\/\//i.test(url)) return 'postgres';
  if (/^mongodb(\+srv)?:\/\//i.test(url)) return 'mongodb';
  throw new ConfigError(`cannot tell the engine of URL ${redactUrl(url)}`, {
    hint: 'use postgresql://user@host:5432/db or mongodb://host:27017/db',
  });
}

function fromUrl(name: string, url: string): ResolvedTarget {
  registerSecret(safePassword(url));
  return engineOfUrl(url) === 'postgres'
    ? { name, engine: 'postgres', url, ...postgresDefaults, replicas: [] }
    : { name, engine: 'mongodb', url, connectTimeout: 10, production: false };
}

function safePassword(url: string): string | undefined {
  try {
    return decodeURIComponent(new URL(url).password) || undefined;
  } catch {
    return undefined;
  }
}

/**
 * Picks the target a command works on: `--url`, else `--target`, else the config's
 * `defaultTarget` or its only target, else `DATABASE_URL`, else the standard PG* environment.
 */
export function resolveTarget(
  config: Config,
  selection: TargetSelection,
  env: NodeJS.ProcessEnv = process.env,
): ResolvedTarget {
  if (selection.url) return fromUrl('url', selection.url);
  const names = Object.keys(config.targets);
  const wanted = selection.target ?? config.defaultTarget ?? (names.length === 1 ? names[0] : undefined);
  if (wanted) {
    const target = config.targets[wanted];
    if (!target) {
      throw new ConfigError(`no target named "${wanted}"`, {
        hint: names.length
          ? `configured targets: ${names.join(', ')}`
          : 'no targets are configured; pass --url',
      });
    }
    registerSecret(safePassword(target.url));
    if (target.engine === 'postgres') for (const r of target.replicas) registerSecret(safePassword(r));
    return { ...target, name: wanted };
  }
  if (names.length > 1) {
    throw new ConfigError('several targets are configured; choose one with --target', {
      hint: `configured targets: ${names.join(', ')}`,
    });
  }
  if (env.DATABASE_URL) return fromUrl('env', env.DATABASE_URL);
  if (env.PGHOST || env.PGDATABASE || env.PGSERVICE) {
    registerSecret(env.PGPASSWORD);
    return { name: 'env', engine: 'postgres', url: undefined, ...postgresDefaults, replicas: [] };
  }
  throw new ConfigError('no database target given', {
    hint: 'pass --url postgresql://…, set DATABASE_URL or PGHOST, or add targets to dbops.config.yaml',
  });
}

/** Every target of the config, or the one selected; used by commands that loop (doctor). */
export function resolveTargets(
  config: Config,
  selection: TargetSelection,
  env = process.env,
): ResolvedTarget[] {
  if (selection.url || selection.target) return [resolveTarget(config, selection, env)];
  const names = Object.keys(config.targets);
  if (names.length === 0) return [resolveTarget(config, selection, env)];
  return names.map((name) => resolveTarget(config, { target: name }, env));
}

/** Printable description, never with a password. */
export function describeTarget(target: ResolvedTarget): string {
  if (target.url) return redactUrl(target.url);
  return 'PG* environment';
}
