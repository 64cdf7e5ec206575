import { randomBytes } from 'node:crypto';
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
