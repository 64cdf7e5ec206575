import { ConnectionError, DbopsError } from '../../errors.js';
import { redactText } from '../redact.js';

interface PgLikeError extends Error {
  code?: string;
  detail?: string;
  hint?: string;
  position?: string;
}

/** SQLSTATEs and socket errors that mean "cannot connect or authenticate" (exit 3). */
const connectCodes = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ECONNRESET',
  'ENETUNREACH',
]);

/** Wraps an error from pg into a DbopsError that names the server but never the password. */
export function postgresConnectError(err: unknown, where: string): DbopsError {
  const e = err as PgLikeError;
  const code = e?.code ?? '';
  const message = redactText(e?.message ?? String(err));
  if (code === '28P01' || code === '28000') {
    return new ConnectionError(`authentication failed for ${where}: ${message}`, {
      hint: 'check the user and password (PGPASSWORD, ~/.pgpass or the URL in the config)',
      cause: err,
    });
  }
  if (code === '3D000') {
    return new ConnectionError(`${where}: ${message}`, { hint: 'check the database name', cause: err });
  }
  if (connectCodes.has(code) || /timeout|terminated unexpectedly|connect/i.test(message)) {
    return new ConnectionError(`cannot connect to ${where}: ${message}`, {
      hint: 'check host, port and that the server is running and reachable (firewall, pg_hba.conf)',
      cause: err,
    });
  }
  return new ConnectionError(`${where}: ${message}`, { cause: err });
}

/** A readable one-line description of a PostgreSQL error with its SQLSTATE, detail and hint. */
export function describePgError(err: unknown): string {
  const e = err as PgLikeError;
  const parts = [redactText(e?.message ?? String(err))];
  if (e?.code) parts.push(`(SQLSTATE ${e.code})`);
  if (e?.detail) parts.push(`detail: ${redactText(e.detail)}`);
  if (e?.hint) parts.push(`hint: ${e.hint}`);
  return parts.join(' ');
}
