import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';

import { seedDemo } from '../../../src/sandbox/seed-demo.js';
import { json, runDbops } from '../../support/cli.js';
import { createDatabase } from '../../support/pg.js';
import { CHAT_ANONYMIZE_YAML, writeConfig } from './fixtures.js';

/**
 * `anonymize dump`: masked copy → normal backup labelled anonymized=true in a local repository →
 * `restore run` into a new database holding none of the source's e-mails.
 */
type Db = Awaited<ReturnType<typeof createDatabase>>;
let src: Db;
let cfg: { dir: string; path: string };
const tag = randomBytes(4).toString('hex');
const restoredName = `dbops_anon_dump_restored_${tag}`;
const originals: string[] = [];

async function query<T extends pg.QueryResultRow>(
  url: string,
  sql: string,
  params: unknown[] = [],
): Promise<T[]> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query<T>(sql, params)).rows;
  } finally {
    await c.end();
  }
}

function dbUrl(name: string): string {
  const u = new URL(inject('pgUrl'));
  u.pathname = `/${name}`;
  return u.toString();
}

async function run(args: string[]) {
  return runDbops(['--config', cfg.path, ...args], {
    env: { TEST_ANON_SECRET: 'dump-secret' },
    cwd: cfg.dir,
    timeout: 60_000,
  });
}

beforeAll(async () => {
  src = await createDatabase(inject('pgUrl'));
  await seedDemo(src.url, { messages: 300, users: 40 });
  await query(src.url, `update users set email = 'dump' || id || 'x' || $1 || '@orig-mail.test'`, [tag]);
  for (const r of await query<{ email: string }>(src.url, 'select email from users')) originals.push(r.email);
  cfg = await writeConfig('');
  const { writeFile } = await import('node:fs/promises');
  await writeFile(
    cfg.path,
    `targets:\n  src: { engine: postgres, url: "${src.url}" }\n` +
      `repositories:\n  local: { type: local, path: "${join(cfg.dir, 'repo')}" }\n` +
      `defaultRepository: local\n${CHAT_ANONYMIZE_YAML}`,
  );
});

afterAll(async () => {
  await query(inject('pgUrl'), `drop database if exists ${restoredName} with (force)`).catch(() => {});
  await src?.drop();
});

describe('anonymize dump', () => {
  let backupId = '';

  it('stores a masked copy as a backup labelled anonymized=true', async () => {
    const dump = await run(['--format', 'json', 'anonymize', 'dump', '--from', 'src', '--to-repo', 'local']);
    expect(dump.exitCode, dump.stderr).toBe(0);
    const result = json<{ backup: { id: string }; scratchDatabase: string; copy: { totalRows: number } }>(
      dump,
    );
    expect(result.copy.totalRows).toBeGreaterThan(0);
    backupId = result.backup.id;
    expect(backupId).toBeTruthy();
    // The temporary database is gone.
    const left = await query(inject('pgUrl'), 'select 1 from pg_database where datname = $1', [
      result.scratchDatabase,
    ]);
    expect(left).toHaveLength(0);

    const list = await run(['--format', 'json', 'backup', 'list']);
    expect(list.exitCode, list.stderr).toBe(0);
    const listed = json<unknown>(list);
    const backups = (Array.isArray(listed) ? listed : (listed as { backups: unknown[] }).backups) as {
      id: string;
      labels?: Record<string, string>;
    }[];
    const entry = backups.find((b) => b.id === backupId);
    expect(entry, list.stdout).toBeDefined();
    expect(entry!.labels?.anonymized).toBe('true');
    expect(entry!.labels?.source).toBe('src');
  }, 60_000);

  it('restores into a new database with no original e-mail', async () => {
    const restore = await run([
      '--format',
      'json',
      '--target',
      'src',
      'restore',
      'run',
      backupId,
      '--database',
      restoredName,
      '--create',
      '--yes',
    ]);
    expect(restore.exitCode, restore.stderr).toBe(0);
    const url = dbUrl(restoredName);
    const [srcCount] = await query<{ n: string }>(src.url, 'select count(*)::text as n from users');
    const [dstCount] = await query<{ n: string }>(url, 'select count(*)::text as n from users');
    expect(dstCount!.n).toBe(srcCount!.n);
    const hits = await query<{ n: string }>(
      url,
      'select count(*)::text as n from users where email = any($1)',
      [originals],
    );
    expect(hits[0]!.n).toBe('0');
    const anywhere = await query<{ n: string }>(
      url,
      `select count(*)::text as n from users u where u::text like '%orig-mail.test%'`,
    );
    expect(anywhere[0]!.n).toBe('0');
  }, 60_000);
});
