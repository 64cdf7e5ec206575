import type { ResolvedPostgresTarget } from './target.js';

/**
 * Environment for libpq-based child tools (pg_dump, pg_restore, psql, pg_basebackup). The
 * connection travels in PG* variables, so the password is never in argv (where `ps` shows it).
 */
export function postgresToolEnv(
  target: ResolvedPostgresTarget,
  overrides: { database?: string; url?: string } = {},
): Record<string, string> {
  const env: Record<string, string> = {
    PGAPPNAME: 'dbops',
    PGCONNECT_TIMEOUT: String(Math.ceil(target.connectTimeout)),
  };
  const urlText = overrides.url ?? target.url;
  if (urlText) {
    const url = new URL(urlText);
    if (url.hostname) env.PGHOST = url.hostname.replace(/^\[|\]$/g, '');
    if (url.port) env.PGPORT = url.port;
    if (url.username) env.PGUSER = decodeURIComponent(url.username);
    if (url.password) env.PGPASSWORD = decodeURIComponent(url.password);
    const db = decodeURIComponent(url.pathname.replace(/^\//, ''));
    if (db) env.PGDATABASE = db;
    const params: Record<string, string> = {
      host: 'PGHOST',
      port: 'PGPORT',
      user: 'PGUSER',
      dbname: 'PGDATABASE',
      sslmode: 'PGSSLMODE',
      sslrootcert: 'PGSSLROOTCERT',
      sslcert: 'PGSSLCERT',
      sslkey: 'PGSSLKEY',
      options: 'PGOPTIONS',
      target_session_attrs: 'PGTARGETSESSIONATTRS',
    };
    for (const [key, value] of url.searchParams) {
      const name = params[key];
      if (name) env[name] = value;
    }
  }
  if (target.tls?.mode) env.PGSSLMODE = target.tls.mode;
  if (target.tls?.caFile) env.PGSSLROOTCERT = target.tls.caFile;
  if (target.tls?.certFile) env.PGSSLCERT = target.tls.certFile;
  if (target.tls?.keyFile) env.PGSSLKEY = target.tls.keyFile;
  if (overrides.database) env.PGDATABASE = overrides.database;
  return env;
}
