import type { Logger } from '../../../logger.js';
import type { RetentionPolicy } from '../policy.js';

interface Queryable {
  query(text: string, params?: unknown[]): Promise<unknown>;
}

/**
 * Sets the batch session's wal_compression when the policy asks for it: a purge's WAL is mostly
 * full-page images of the pages it empties, and these compress (2M rows: 247 MB of WAL, 145 MB
 * with lz4, 114 MB with zstd). Setting it needs a superuser or GRANT SET ON PARAMETER (PG 15+);
 * without it the run goes on with the server's setting and says so. Returns what was set.
 */
export async function applyWalCompression(
  client: Queryable,
  policy: RetentionPolicy,
  logger: Logger,
): Promise<string | undefined> {
  if (!policy.walCompression) return undefined;
  try {
    await client.query(`select pg_catalog.set_config('wal_compression', $1, false)`, [policy.walCompression]);
    return policy.walCompression;
  } catch (err) {
    const why =
      (err as { code?: unknown }).code === '42501'
        ? 'this role may not change it (it needs a superuser, or GRANT SET ON PARAMETER wal_compression on PostgreSQL 15+)'
        : (err as Error).message;
    logger.warn(
      `retention policy ${policy.name}: walCompression ${policy.walCompression} not applied, the server's setting stays: ${why}`,
    );
    return undefined;
  }
}
