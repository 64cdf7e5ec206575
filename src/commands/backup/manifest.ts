import { Readable } from 'node:stream';
import { once, z } from '../../config/zod.js';

import { ChecksFailed } from '../../errors.js';
import type { Repository } from '../../storage/repository.js';
import { isNotFound } from '../../storage/errors.js';
import { manifestKey } from './layout.js';

/**
 * The manifest is the commit point of a backup and its whole description: with it alone (and the
 * key) an operator restores without dbops. Objects are lenient (`looseObject`) so a manifest written
 * by a newer dbops — say a physical backup with fields this version does not know — survives a
 * read-modify-write (rekey) intact.
 */
export const MANIFEST_FORMAT = 'dbops-backup-manifest';
export const MANIFEST_VERSION = 1;

/** Built on first use: `backup run` only writes manifests, and building these costs ~9 ms of its start-up. */
const schemas = once(() => {
  const sha256 = z.string().regex(/^[0-9a-f]{64}$/);
  const isoTime = z.iso.datetime({ offset: true });

  const pipelineSchema = z.looseObject({
    compression: z.looseObject({
      algorithm: z.enum(['zstd', 'gzip', 'none']),
      level: z.number().int(),
      implementation: z.string(),
      binary: z.string().optional(),
      version: z.string().optional(),
    }),
    encryption: z
      .union([
        z.looseObject({ format: z.literal('age'), recipients: z.array(z.string()) }),
        z.looseObject({ format: z.literal('age'), passphrase: z.literal(true) }),
      ])
      .nullable(),
  });

  const storedObjectSchema = z.looseObject({
    /** Key relative to the repository root. */
    key: z.string().min(1),
    /** What the plaintext is: `pg_dump/custom`, `tar/pg_dump-directory`, `mongodump/archive`, `tar/pg_basebackup`. */
    content: z.string().min(1),
    /**
     * The bytes the tool produced (before compression and encryption). No sha256 when the dump tool
     * was piped straight into the zstd binary (the raw bytes never pass through dbops; the stored
     * sha256, age's authentication and zstd's frame checksum cover them — see docs/backup.md).
     */
    raw: z.looseObject({ size: z.number().int().nonnegative(), sha256: sha256.optional() }),
    /** The bytes in the repository. */
    stored: z.looseObject({ size: z.number().int().nonnegative(), sha256 }),
    pipeline: pipelineSchema,
  });

  const manifestSchema = z.looseObject({
    format: z.literal(MANIFEST_FORMAT),
    version: z.literal(MANIFEST_VERSION),
    id: z.string().min(1),
    /** `logical` (pg_dump / mongodump) or `physical` (pg_basebackup + WAL, issue 4). */
    kind: z.enum(['logical', 'physical']),
    engine: z.enum(['postgres', 'mongodb']),
    target: z.looseObject({
      name: z.string().min(1),
      /** Redacted connection description. */
      where: z.string(),
      database: z.string().optional(),
    }),
    /** How the dump was made: tool, archive format, parallel jobs, argv (never with secrets). */
    method: z.looseObject({
      tool: z.string(),
      format: z.enum(['custom', 'directory', 'archive', 'tar']),
      jobs: z.number().int().positive().optional(),
      args: z.array(z.string()),
    }),
    startedAt: isoTime,
    finishedAt: isoTime,
    server: z.looseObject({
      version: z.string(),
      major: z.number().int().optional(),
      /** PostgreSQL system identifier (physical backups and WAL must match it). */
      systemIdentifier: z.string().optional(),
      replicaSet: z.string().optional(),
    }),
    tool: z.looseObject({ name: z.string(), version: z.string(), path: z.string().optional() }),
    dbops: z.looseObject({ version: z.string(), host: z.string() }),
    objects: z.array(storedObjectSchema).min(1),
    /** Row counts per table (`schema.table`), taken in the dump's own snapshot when `exact`. */
    rowCounts: z
      .looseObject({
        method: z.enum(['snapshot', 'separate']),
        tables: z.record(z.string(), z.number().int().nonnegative()),
      })
      .nullable(),
    /**
     * Each table's size on disk (`schema.table` → bytes, from the catalog's page counts) at backup
     * time: a parallel restore starts with the table holding most of the data. Absent from older
     * backups.
     */
    tableBytes: z.record(z.string(), z.number().int().nonnegative()).optional(),
    labels: z.record(z.string(), z.string()),
    /** Physical backups (issue 4): LSN range, timeline, label; the backup counts once this WAL is archived. */
    physical: z
      .looseObject({
        startLsn: z.string(),
        stopLsn: z.string(),
        timeline: z.number().int().positive(),
        label: z.string().optional(),
      })
      .optional(),
    /** The manual restore pipeline for people without dbops. */
    manualRestore: z.array(z.string()),
  });
  return { pipelineSchema, storedObjectSchema, manifestSchema };
});
type Schemas = ReturnType<typeof schemas>;

export const manifestSchema = z.lazy(() => schemas().manifestSchema);

export type PipelineRecord = z.infer<Schemas['pipelineSchema']>;
export type StoredObject = z.infer<Schemas['storedObjectSchema']>;
export type BackupManifest = z.infer<Schemas['manifestSchema']>;

export function totalSizes(m: BackupManifest): { raw: number; stored: number } {
  return m.objects.reduce((acc, o) => ({ raw: acc.raw + o.raw.size, stored: acc.stored + o.stored.size }), {
    raw: 0,
    stored: 0,
  });
}

export function serializeManifest(m: BackupManifest): Uint8Array {
  return Buffer.from(`${JSON.stringify(manifestSchema.parse(m), null, 2)}\n`, 'utf8');
}

export function parseManifest(text: string, key: string): BackupManifest {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    throw new ChecksFailed(`${key} is not valid JSON`, {
      cause: err,
      hint: 'the manifest is damaged; this backup cannot be trusted',
    });
  }
  const parsed = manifestSchema.safeParse(data);
  if (!parsed.success) {
    throw new ChecksFailed(`${key} is not a valid dbops manifest`, {
      hint: parsed.error.issues
        .slice(0, 5)
        .map((i) => `${i.path.join('.')}: ${i.message}`)
        .join('; '),
    });
  }
  return parsed.data;
}

export async function readSmallObject(
  repo: Repository,
  key: string,
  limit = 16 * 1024 * 1024,
): Promise<string> {
  const stream = await repo.get(key);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) {
      stream.destroy();
      throw new ChecksFailed(`${key} is larger than ${limit} bytes; not a dbops metadata object`);
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** The manifest of backup `id`, or undefined when there is none (then the backup does not exist). */
export async function readManifest(
  repo: Repository,
  target: string,
  id: string,
): Promise<BackupManifest | undefined> {
  const key = manifestKey(target, id);
  let text: string;
  try {
    text = await readSmallObject(repo, key);
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
  return parseManifest(text, key);
}

/**
 * Writes the manifest. `ifAbsent` for a new backup (an id is never reused); a rewrite (rekey) replaces
 * the object atomically — both backends make an object visible whole or not at all.
 */
export async function writeManifest(
  repo: Repository,
  m: BackupManifest,
  options: { replace?: boolean } = {},
): Promise<void> {
  const body = serializeManifest(m);
  await repo.put(manifestKey(m.target.name, m.id), Readable.from([body]), {
    ifAbsent: !options.replace,
    contentLength: body.byteLength,
    metadata: { 'dbops-kind': 'backup-manifest' },
  });
}

/** The manual restore commands recorded in the manifest (also in docs/backup.md). */
export function manualRestoreLines(m: Pick<BackupManifest, 'engine' | 'method' | 'objects'>): string[] {
  const o = m.objects[0];
  if (!o) return [];
  const file = o.key.split('/').pop() ?? o.key;
  const steps: string[] = [];
  if (o.pipeline.encryption) {
    steps.push('passphrase' in o.pipeline.encryption ? `age -d ${file}` : `age -d -i KEY_FILE ${file}`);
  }
  const alg = o.pipeline.compression.algorithm;
  const decompress = alg === 'zstd' ? 'zstd -d -c' : alg === 'gzip' ? 'gzip -d -c' : 'cat';
  if (steps.length === 0) steps.push(`${decompress} ${file}`);
  else if (alg !== 'none') steps.push(decompress);
  let tail: string;
  if (m.engine === 'mongodb') tail = 'mongorestore --archive';
  else if (m.method.format === 'directory') tail = 'tar -x -C DUMP_DIR && pg_restore -d DBNAME -j 4 DUMP_DIR';
  else if (m.method.format === 'tar') tail = 'tar -x -C PGDATA';
  else tail = 'pg_restore -d DBNAME --single-transaction';
  return [`${steps.join(' | ')} | ${tail}`];
}
