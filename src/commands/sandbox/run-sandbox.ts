import { existsSync } from 'node:fs';
import { chmod, writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import pg from '../../connections/postgres/pg.js';

import { redactUrl } from '../../connections/redact.js';
import { quoteIdent } from '../../connections/postgres/quote.js';
import { ConfigError } from '../../errors.js';
import type { Logger } from '../../logger.js';
import { silentLogger } from '../../logger.js';
import { sandboxDown, sandboxStatus, sandboxUp, type SandboxInfo } from '../../sandbox/cluster.js';
import { sandboxConfigYaml } from '../../sandbox/config-file.js';
import { seedDemo } from '../../sandbox/seed-demo.js';

export const DEFAULT_SANDBOX_DIR = '.dbops/sandbox';
export const DEMO_DATABASE = 'demo';

export interface SandboxUpOptions {
  dir?: string;
  port?: number;
  /** `demo`: create database `demo` and load the chat-application schema into it. */
  seed?: 'demo';
  messages?: number;
  /** Write a ready config file here (refuses to overwrite an existing file unless `force`). */
  writeConfig?: string;
  force?: boolean;
  /** The repository path written into the config file. */
  repositoryPath?: string;
}

/** What scripts and people see: the URL is redacted; the password stays in the 0600 files. */
export interface SandboxView {
  dir: string;
  running: boolean;
  url: string;
  host: string;
  port: number;
  user: string;
  database: string;
  version: string;
  osUser?: string;
  pid?: number;
}

export interface SandboxUpResult {
  sandbox: SandboxView;
  seeded?: { database: string; tables: Record<string, number>; ms: number };
  configFile?: string;
}

function view(info: SandboxInfo, database: string = info.database): SandboxView {
  const url = new URL(info.url);
  url.pathname = `/${database}`;
  return {
    dir: info.dir,
    running: info.running,
    url: redactUrl(url.toString()),
    host: info.host,
    port: info.port,
    user: info.user,
    database,
    version: info.version,
    ...(info.osUser ? { osUser: info.osUser } : {}),
    ...(info.pid !== undefined ? { pid: info.pid } : {}),
  };
}

function databaseUrl(info: SandboxInfo, database: string): string {
  const url = new URL(info.url);
  url.pathname = `/${database}`;
  return url.toString();
}

/** `dbops sandbox up`: start (creating if needed), optionally seed and write a config file. */
export async function sandboxUpRun(
  options: SandboxUpOptions,
  deps: { logger?: Logger; signal?: AbortSignal } = {},
): Promise<SandboxUpResult> {
  const logger = deps.logger ?? silentLogger;
  const dir = resolve(options.dir ?? DEFAULT_SANDBOX_DIR);
  const configFile = options.writeConfig ? resolve(options.writeConfig) : undefined;
  if (configFile && existsSync(configFile) && !options.force) {
    throw new ConfigError(`${configFile} already exists`, {
      hint: 'pass --force to overwrite it, or choose another path',
    });
  }
  const info = await sandboxUp({
    dir,
    ...(options.port !== undefined ? { port: options.port } : {}),
    logger,
    ...(deps.signal ? { signal: deps.signal } : {}),
  });
  const result: SandboxUpResult = { sandbox: view(info) };
  let database: string = info.database;
  if (options.seed === 'demo') {
    database = DEMO_DATABASE;
    const started = Date.now();
    const admin = new pg.Client({ connectionString: info.url });
    await admin.connect();
    try {
      const { rowCount } = await admin.query('select 1 from pg_database where datname = $1', [database]);
      if (!rowCount) await admin.query(`create database ${quoteIdent(database)}`);
    } finally {
      await admin.end();
    }
    logger.info(`seeding database ${database} with the demo chat schema`);
    const seeded = await seedDemo(databaseUrl(info, database), {
      ...(options.messages !== undefined ? { messages: options.messages } : {}),
      replace: true,
      logger,
    });
    result.seeded = { database, tables: seeded.tables, ms: Date.now() - started };
    result.sandbox = view(info, database);
  }
  if (configFile) {
    const withDb = { ...info, url: databaseUrl(info, database) };
    await writeFile(
      configFile,
      sandboxConfigYaml(withDb, {
        repositoryPath: options.repositoryPath ?? './backups',
        demo: options.seed === 'demo',
      }),
      {
        mode: 0o600,
      },
    );
    await chmod(configFile, 0o600);
    result.configFile = configFile;
  }
  return result;
}

export async function sandboxStatusRun(options: { dir?: string }): Promise<{ sandbox: SandboxView | null }> {
  const info = await sandboxStatus(resolve(options.dir ?? DEFAULT_SANDBOX_DIR));
  return { sandbox: info ? view(info) : null };
}

export async function sandboxDownRun(
  options: { dir?: string; remove?: boolean },
  deps: { logger?: Logger } = {},
): Promise<{ dir: string; stopped: boolean; removed: boolean }> {
  const dir = resolve(options.dir ?? DEFAULT_SANDBOX_DIR);
  const before = await sandboxStatus(dir);
  await sandboxDown(dir, {
    remove: Boolean(options.remove),
    ...(deps.logger ? { logger: deps.logger } : {}),
  });
  return { dir, stopped: Boolean(before?.running), removed: Boolean(options.remove) && before !== undefined };
}
