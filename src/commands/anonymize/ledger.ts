import type { Repository } from '../../storage/index.js';
import { isNotFound } from '../../storage/index.js';

/**
 * The erasure ledger: one small JSON object per erased subject in the repository, under
 * `<target>/erasures/<subject kind>/<keyed ref>.json`. It stores no personal data — only the keyed
 * HMAC of the subject id. A restore finds the rows again by recomputing that HMAC over the
 * restored root table's key column (with the same secret), which works for any backup however
 * old, needs no decryption key on the restore host, and cannot be reversed without the secret.
 */
export interface LedgerEntry {
  version: 1;
  target: string;
  subjectKind: string;
  subjectRef: string;
  keyFingerprint: string;
  /** Root table (or collection) and key column (field) the ref was computed over. */
  root: { table: string; key: string };
  firstErasedAt: string;
  erasedAt: string;
  rulesHash: string;
  runs: number;
}

function segment(text: string): string {
  return encodeURIComponent(text).replace(/^\.+/, (m) => '%2E'.repeat(m.length)) || '_';
}

export function ledgerPrefix(target: string, subjectKind?: string): string {
  return `${segment(target)}/erasures/${subjectKind ? `${segment(subjectKind)}/` : ''}`;
}

export function ledgerKey(target: string, subjectKind: string, subjectRef: string): string {
  return `${ledgerPrefix(target, subjectKind)}${subjectRef}.json`;
}

async function readJson(repo: Repository, key: string): Promise<LedgerEntry | undefined> {
  try {
    const stream = await repo.get(key);
    const chunks: Buffer[] = [];
    for await (const c of stream) chunks.push(Buffer.from(c as Buffer));
    return JSON.parse(Buffer.concat(chunks).toString('utf8')) as LedgerEntry;
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

/** Records (or refreshes) one erasure; idempotent per subject: a re-run updates the same object. */
export async function recordErasure(
  repo: Repository,
  entry: Omit<LedgerEntry, 'version' | 'firstErasedAt' | 'runs'>,
): Promise<string> {
  const key = ledgerKey(entry.target, entry.subjectKind, entry.subjectRef);
  const previous = await readJson(repo, key);
  const next: LedgerEntry = {
    version: 1,
    ...entry,
    firstErasedAt: previous?.firstErasedAt ?? entry.erasedAt,
    runs: (previous?.runs ?? 0) + 1,
  };
  await repo.put(key, Buffer.from(`${JSON.stringify(next, null, 2)}\n`), {
    metadata: { 'dbops-kind': 'erasure' },
  });
  return key;
}

/** Every ledger entry of a target, optionally only those erased at or after `since`. */
export async function listErasures(repo: Repository, target: string, since?: Date): Promise<LedgerEntry[]> {
  const out: LedgerEntry[] = [];
  for await (const info of repo.list(ledgerPrefix(target))) {
    if (!info.key.endsWith('.json')) continue;
    const entry = await readJson(repo, info.key);
    if (!entry || entry.version !== 1) continue;
    if (since && Date.parse(entry.erasedAt) < since.getTime()) continue;
    out.push(entry);
  }
  return out;
}
