import { createHash } from 'node:crypto';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { userCacheDir } from '../../cache-dir.js';
import type { Config, EncryptionConfig, RepositoryConfig } from '../../config/schema.js';
import type { WalSection } from '../../config/sections/wal.js';
import { ConfigError } from '../../errors.js';
import type { EncryptOptions } from '../../streams/encrypt.js';
import { dbopsVersion } from '../../version.js';
import { configFile } from './quick-ok.js';

/** Everything a `wal` command needs from the config, resolved once. */
export interface WalContext {
  repository: { name: string; config: RepositoryConfig };
  /** The target name WAL is filed under (`<target>/wal/…`). */
  target: string;
  compression: { algorithm: 'zstd' | 'gzip' | 'none'; level?: number | undefined };
  /** How new WAL is encrypted: public recipients, or the name of the passphrase variable. */
  encrypt: { recipients: string[] } | { passphraseEnv: string } | null;
  /** What opens encrypted WAL (fetch). */
  identityFile: string | undefined;
  passphraseEnv: string | undefined;
  settings: WalSettings;
}

export interface WalSettings {
  parallel: number;
  prefetch: number;
  spoolDir: string | undefined;
  maxBacklog: number | undefined;
  maxAge: string | undefined;
  dropReadyAbove: number | undefined;
  systemIdentifier: string | undefined;
  archiveTimeoutSeconds: number;
}

export const DEFAULT_WAL_SETTINGS = { parallel: 4, prefetch: 0, archiveTimeoutSeconds: 120 };

export interface WalSelection {
  repo?: string | undefined;
  target?: string | undefined;
}

function pickRepository(
  config: Config,
  wanted: string | undefined,
): { name: string; config: RepositoryConfig } {
  const names = Object.keys(config.repositories);
  const name =
    wanted ??
    config.wal?.repository ??
    config.defaultRepository ??
    (names.length === 1 ? names[0] : undefined);
  if (name) {
    const repo = config.repositories[name];
    if (!repo)
      throw new ConfigError(`no repository named "${name}"`, {
        hint: names.length ? `configured: ${names.join(', ')}` : 'no repositories are configured',
      });
    return { name, config: repo };
  }
  if (names.length > 1)
    throw new ConfigError('several repositories are configured; set wal.repository or pass --repo');
  return { name: 'default', config: { type: 'local', path: './backups' } };
}

function pickTarget(config: Config, wanted: string | undefined): string {
  const names = Object.keys(config.targets);
  return wanted ?? config.wal?.target ?? config.defaultTarget ?? (names.length === 1 ? names[0]! : 'default');
}

function encryptionOf(e: EncryptionConfig | undefined, wal: WalSection): WalContext['encrypt'] {
  if (wal?.encrypt === false || !e) return null;
  const configured = e.recipients.length > 0 || e.passphraseEnv !== undefined;
  if (!configured) {
    if (wal?.encrypt === true)
      throw new ConfigError('wal.encrypt is true but encryption has no recipients or passphraseEnv');
    return null;
  }
  if (wal?.encrypt === undefined && e.enabled === false) return null;
  return e.recipients.length > 0 ? { recipients: [...e.recipients] } : { passphraseEnv: e.passphraseEnv! };
}

export function walContextFromConfig(config: Config, selection: WalSelection = {}): WalContext {
  const wal = config.wal;
  return {
    repository: pickRepository(config, selection.repo),
    target: pickTarget(config, selection.target),
    compression: wal?.compression ?? config.compression ?? { algorithm: 'zstd' },
    encrypt: encryptionOf(config.encryption, wal),
    identityFile: config.encryption?.identityFile,
    passphraseEnv: config.encryption?.passphraseEnv,
    settings: {
      parallel: wal?.parallel ?? DEFAULT_WAL_SETTINGS.parallel,
      prefetch: wal?.prefetch ?? DEFAULT_WAL_SETTINGS.prefetch,
      spoolDir: wal?.spoolDir,
      maxBacklog: wal?.maxBacklog,
      maxAge: wal?.maxAge,
      dropReadyAbove: wal?.dropReadyAbove,
      systemIdentifier: wal?.systemIdentifier,
      archiveTimeoutSeconds: wal?.archiveTimeout ?? DEFAULT_WAL_SETTINGS.archiveTimeoutSeconds,
    },
  };
}

/** The encryption of new WAL with the passphrase read from its variable now. */
export function walEncryptOptions(
  ctx: WalContext,
  env: NodeJS.ProcessEnv = process.env,
): EncryptOptions | null {
  if (!ctx.encrypt) return null;
  if ('recipients' in ctx.encrypt) return { recipients: ctx.encrypt.recipients };
  const passphrase = env[ctx.encrypt.passphraseEnv];
  if (!passphrase)
    throw new ConfigError(
      `encryption.passphraseEnv names ${ctx.encrypt.passphraseEnv}, which is empty or not set`,
    );
  return { passphrase };
}

// --- the start-up cache ----------------------------------------------------------------------

/**
 * `wal push` runs once per 16 MB segment, and validating the config file costs more than the
 * push itself (yaml + zod ≈ 250-350 ms on a 2-core machine, against ~150 ms for Node's own start).
 * The resolved WalContext is therefore cached per user, keyed by the config file's bytes, the
 * selection and the dbops version: any edit of the file is a miss. Only contexts without secrets
 * are cached — a local repository (an S3 one may hold credentials, and loads the AWS SDK anyway)
 * and no `${VAR}` in the sections used, so the cache never holds a value from the environment.
 */
function cacheKey(configText: string, configPath: string, selection: WalSelection): string {
  return createHash('sha256')
    .update(
      JSON.stringify([
        dbopsVersion(),
        configPath,
        selection.repo ?? null,
        selection.target ?? null,
        process.cwd(),
      ]),
    )
    .update('\0')
    .update(configText)
    .digest('hex')
    .slice(0, 32);
}

/** Loads the wal context, from the cache when the config file is unchanged. */
export async function loadWalContext(
  configOption: string | undefined,
  selection: WalSelection,
  env: NodeJS.ProcessEnv = process.env,
): Promise<WalContext> {
  const path = configFile(configOption, env);
  let text: string | undefined;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    text = undefined; // the full loader reports a missing explicit file properly
  }
  const dir = text !== undefined ? userCacheDir() : undefined;
  const cacheFile =
    dir !== undefined && text !== undefined
      ? join(dir, `wal-context-${cacheKey(text, path, selection)}.json`)
      : undefined;
  if (cacheFile) {
    try {
      return JSON.parse(readFileSync(cacheFile, 'utf8')) as WalContext;
    } catch {
      // miss
    }
  }
  const { loadConfig } = await import('../../config/load.js');
  const { config } = loadConfig(configOption !== undefined ? { path: configOption, env } : { env });
  const ctx = walContextFromConfig(config, selection);
  if (
    cacheFile &&
    text !== undefined &&
    ctx.repository.config.type === 'local' &&
    (await usedSectionsArePlain(text, ctx))
  ) {
    try {
      const tmp = `${cacheFile}.${process.pid}.tmp`;
      writeFileSync(tmp, JSON.stringify(ctx), { mode: 0o600 });
      renameSync(tmp, cacheFile);
    } catch {
      // a cache that cannot be written only costs time
    }
  }
  return ctx;
}

async function usedSectionsArePlain(text: string, ctx: WalContext): Promise<boolean> {
  const { parseYaml } = await import('../../config/yaml-text.js');
  const raw = (parseYaml(text) ?? {}) as Record<string, unknown>;
  const repos = (raw.repositories ?? {}) as Record<string, unknown>;
  const used = [
    repos[ctx.repository.name],
    raw.wal,
    raw.encryption,
    raw.compression,
    raw.defaultTarget,
    raw.defaultRepository,
  ];
  return !JSON.stringify(used).includes('${');
}
