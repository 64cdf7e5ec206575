import { randomBytes } from 'node:crypto';
import { chmod, copyFile } from 'node:fs/promises';
import { join } from 'node:path';
import pg from 'pg';

/** Runs fn with one connected client and always closes it. */
export async function withClient<T>(url: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** The same server URL pointing at another database. */
export function databaseUrl(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${encodeURIComponent(database)}`;
  return u.toString();
}

function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/**
 * Creates a fresh database on the server behind adminUrl (default name `t_<random>`), so test
 * files can run in parallel against one cluster. `drop()` disconnects anyone left and drops it.
 */
export async function createDatabase(
  adminUrl: string,
  name: string = `t_${randomBytes(6).toString('hex')}`,
): Promise<{ name: string; url: string; drop(): Promise<void> }> {
  await withClient(adminUrl, (c) => c.query(`CREATE DATABASE ${quoteIdent(name)}`));
  return {
    name,
    url: databaseUrl(adminUrl, name),
    drop: () =>
      withClient(adminUrl, async (c) => {
        await c.query(`DROP DATABASE IF EXISTS ${quoteIdent(name)} WITH (FORCE)`);
      }),
  };
}

/**
 * Copies the shared cluster's last finished WAL segment into `destDir` (mode 0600) and returns
 * its name. A physical replication slot holds the WAL while it is copied: a checkpoint that
 * another test file runs meanwhile would otherwise recycle the segment (ENOENT on the copy).
 */
export async function copyFinishedSegment(url: string, pgDir: string, destDir: string): Promise<string> {
  const slot = `dbops_test_${randomBytes(4).toString('hex')}`;
  return withClient(url, async (c) => {
    await c.query('select pg_create_physical_replication_slot($1, true)', [slot]);
    try {
      await c.query('select pg_switch_wal(), txid_current()');
      const { rows } = await c.query<{ f: string }>('select pg_walfile_name(pg_current_wal_lsn()) as f');
      const current = rows[0]!.f;
      const previous = (parseInt(current.slice(16), 16) - 1).toString(16).toUpperCase().padStart(8, '0');
      const name = `${current.slice(0, 16)}${previous}`;
      await copyFile(join(pgDir, 'data', 'pg_wal', name), join(destDir, name));
      await chmod(join(destDir, name), 0o600);
      return name;
    } finally {
      await c.query('select pg_drop_replication_slot($1)', [slot]);
    }
  });
}
