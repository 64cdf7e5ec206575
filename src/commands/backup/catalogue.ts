import { ConfigError } from '../../errors.js';
import { isNotFound } from '../../storage/errors.js';
import { pastFolder } from '../../storage/keys.js';
import type { ObjectInfo, Repository } from '../../storage/repository.js';
import { backupIdTime, isBackupId } from './ids.js';
import {
  IN_PROGRESS_NAME,
  MANIFEST_NAME,
  VERIFICATION_NAME,
  backupKey,
  backupPrefix,
  backupsPrefix,
  parseBackupKey,
} from './layout.js';
import { parseManifest, readSmallObject, totalSizes, type BackupManifest } from './manifest.js';

/** The latest `backup verify` outcome, kept next to the manifest (the manifest itself stays immutable). */
export interface VerificationRecord {
  verifiedAt: string;
  ok: boolean;
  /** `checksum` (read back + archive listing) or `restore` (restored and row counts compared). */
  level: 'checksum' | 'restore';
  problems: string[];
}

export interface CatalogueEntry {
  id: string;
  target: string;
  manifest: BackupManifest;
  verification?: VerificationRecord;
}

/** What the catalogue keeps of a backup directory without a manifest (a crash, or one in progress). */
export interface IncompleteBackup {
  target: string;
  id: string;
  keys: string[];
  /** Newest object time in it. */
  modified: Date;
}

export interface CatalogueScan {
  backups: CatalogueEntry[];
  incomplete: IncompleteBackup[];
  /** Objects in a complete backup's directory that its manifest does not reference (rekey leftovers). */
  unreferenced: { target: string; id: string; key: string; modified: Date }[];
}

/** `<target>/backups/` or, with `id`, that one backup's folder. */
function backupsFolder(target: string, id: string | undefined): string {
  return id === undefined ? backupsPrefix(target) : backupPrefix(target, id);
}

/**
 * The objects under `<target>/backups/` (or one backup's folder) of one target, or of every
 * target in the repository. The rest of each target's tree is skipped, not listed: its WAL
 * (`<target>/wal/`, one object per 16 MB segment, thousands of them where WAL is archived) would
 * otherwise be most of the listing (on S3, a request per 1,000 keys). Each target costs one
 * listing call to find it (the first key after the previous target) and one for its backups.
 */
async function* backupObjects(repo: Repository, target?: string, id?: string): AsyncIterable<ObjectInfo> {
  if (target !== undefined) {
    yield* repo.list(backupsFolder(target, id));
    return;
  }
  let startAfter: string | undefined;
  for (;;) {
    let next: string | undefined;
    for await (const o of repo.list('', startAfter !== undefined ? { startAfter } : {})) {
      const slash = o.key.indexOf('/');
      if (slash !== -1) {
        next = o.key.slice(0, slash);
        break;
      }
    }
    if (next === undefined) return;
    let folder: string | undefined;
    try {
      folder = backupsFolder(next, id);
    } catch {
      // not a name a target can have: nothing of dbops's is under it
    }
    if (folder !== undefined) yield* repo.list(folder);
    startAfter = pastFolder(next);
  }
}

/**
 * Reads the catalogue: every `<target>/backups/<id>/` directory; only those with a manifest are
 * backups (the manifest is written last). Lists one target's backups when `target` is given,
 * else every target's. With `id`, only that backup's directories are listed and read: one
 * manifest, not one per backup (a GET each on S3).
 */
export async function scanCatalogue(repo: Repository, target?: string, id?: string): Promise<CatalogueScan> {
  const dirs = new Map<string, { target: string; id: string; keys: string[]; modified: Date }>();
  for await (const o of backupObjects(repo, target, id)) {
    const parts = parseBackupKey(o.key);
    if (!parts || !isBackupId(parts.id)) continue;
    const dirKey = `${parts.target}/${parts.id}`;
    let d = dirs.get(dirKey);
    if (!d) dirs.set(dirKey, (d = { target: parts.target, id: parts.id, keys: [], modified: o.modified }));
    d.keys.push(o.key);
    if (o.modified > d.modified) d.modified = o.modified;
  }
  const scan: CatalogueScan = { backups: [], incomplete: [], unreferenced: [] };
  for (const d of dirs.values()) {
    const manifestKey = backupKey(d.target, d.id, MANIFEST_NAME);
    if (!d.keys.includes(manifestKey)) {
      scan.incomplete.push(d);
      continue;
    }
    let manifest: BackupManifest;
    try {
      manifest = parseManifest(await readSmallObject(repo, manifestKey), manifestKey);
    } catch (err) {
      if (isNotFound(err)) continue; // deleted while listing
      throw err;
    }
    const entry: CatalogueEntry = { id: d.id, target: d.target, manifest };
    const verificationKey = backupKey(d.target, d.id, VERIFICATION_NAME);
    if (d.keys.includes(verificationKey)) entry.verification = await readVerification(repo, verificationKey);
    scan.backups.push(entry);
    const referenced = new Set([
      manifestKey,
      verificationKey,
      backupKey(d.target, d.id, IN_PROGRESS_NAME),
      ...manifest.objects.map((o) => o.key),
    ]);
    for (const key of d.keys)
      if (!referenced.has(key))
        scan.unreferenced.push({ target: d.target, id: d.id, key, modified: d.modified });
  }
  scan.backups.sort((a, b) => (a.manifest.finishedAt < b.manifest.finishedAt ? -1 : 1));
  return scan;
}

async function readVerification(repo: Repository, key: string): Promise<VerificationRecord | undefined> {
  try {
    return JSON.parse(await readSmallObject(repo, key, 1024 * 1024)) as VerificationRecord;
  } catch {
    return undefined; // a damaged record only means "not verified"
  }
}

/** One backup by id: searched under `target` when given, else across the repository. */
export async function findBackup(repo: Repository, id: string, target?: string): Promise<CatalogueEntry> {
  if (id !== 'latest') backupIdTime(id); // validates the shape with a helpful message
  const scan = await scanCatalogue(repo, target, id === 'latest' ? undefined : id);
  const matches = id === 'latest' ? scan.backups.slice(-1) : scan.backups;
  if (matches.length === 0) {
    const incomplete = scan.incomplete.some((b) => b.id === id);
    throw new ConfigError(
      id === 'latest'
        ? `no backups in ${repo.location}${target ? ` for target ${target}` : ''}`
        : `no backup ${id} in ${repo.location}`,
      {
        hint: incomplete
          ? 'that backup never completed (it has no manifest), so it cannot be used; dbops backup prune removes its leftovers'
          : 'dbops backup list shows the backups of this repository',
      },
    );
  }
  if (matches.length > 1) {
    throw new ConfigError(
      `backup id ${id} exists for several targets: ${matches.map((m) => m.target).join(', ')}`,
      {
        hint: 'choose one with --target',
      },
    );
  }
  return matches[0]!;
}

/** A catalogue row for list/info output (table or JSON). */
export interface BackupSummary {
  id: string;
  target: string;
  engine: string;
  kind: string;
  format: string;
  database: string | undefined;
  startedAt: string;
  finishedAt: string;
  serverVersion: string;
  toolVersion: string;
  rawBytes: number;
  storedBytes: number;
  compression: string;
  encryption: string;
  labels: Record<string, string>;
  status: 'complete' | 'verified' | 'verify-failed';
  verifiedAt?: string;
}

export function summarize(e: CatalogueEntry): BackupSummary {
  const m = e.manifest;
  const sizes = totalSizes(m);
  const p = m.objects[0]!.pipeline;
  const c = p.compression.algorithm === 'none' ? 'none' : `${p.compression.algorithm}:${p.compression.level}`;
  const enc = !p.encryption
    ? 'none'
    : 'passphrase' in p.encryption
      ? 'age (passphrase)'
      : `age (${p.encryption.recipients.length} recipient${p.encryption.recipients.length === 1 ? '' : 's'})`;
  return {
    id: m.id,
    target: m.target.name,
    engine: m.engine,
    kind: m.kind,
    format: m.method.format,
    database: m.target.database,
    startedAt: m.startedAt,
    finishedAt: m.finishedAt,
    serverVersion: m.server.version,
    toolVersion: `${m.tool.name} ${m.tool.version}`,
    rawBytes: sizes.raw,
    storedBytes: sizes.stored,
    compression: c,
    encryption: enc,
    labels: m.labels,
    status: !e.verification ? 'complete' : e.verification.ok ? 'verified' : 'verify-failed',
    ...(e.verification ? { verifiedAt: e.verification.verifiedAt } : {}),
  };
}
