import { PassThrough, Transform, type TransformCallback } from 'node:stream';

import type { RepositoryConfig } from '../../config/schema.js';
import { ConfigError, StorageError } from '../../errors.js';
import { silentLogger, type Logger } from '../../logger.js';
import { withRepository } from '../../storage/open.js';
import type { Repository } from '../../storage/repository.js';
import { rekeyHeader, type DecryptOptions } from '../../streams/encrypt.js';
import { runPipeline } from '../../streams/pipeline.js';
import { scanCatalogue } from './catalogue.js';
import { withWriterLease } from './lease.js';
import { manualRestoreLines, writeManifest, type BackupManifest, type StoredObject } from './manifest.js';
import { ObjectDamaged, VerifyStage, classifyReadError } from './read-object.js';

export interface BackupRekeyOptions {
  repository: { name: string; config: RepositoryConfig };
  target?: string;
  /** Only these backups; all encrypted backups when absent. */
  ids?: string[];
  current: DecryptOptions;
  add: string[];
  remove: string[];
  dryRun?: boolean;
  now?: () => Date;
}

export interface RekeyedBackup {
  id: string;
  target: string;
  from: string[];
  to: string[];
  objects: string[];
  status: 'rekeyed' | 'unchanged' | 'skipped';
  note?: string;
}

export interface BackupRekeyResult {
  dryRun: boolean;
  backups: RekeyedBackup[];
  rekeyed: number;
}

const HEADER_READ = 64 * 1024;

/** `db.dump.zst.age` → `db.dump.zst.k1.age` → `db.dump.zst.k2.age`: a new object per rotation. */
export function nextKeyGeneration(key: string): string {
  const m = /^(.*?)(?:\.k(\d+))?\.age$/.exec(key);
  if (!m) return `${key}.k1`;
  return `${m[1]}.k${Number(m[2] ?? 0) + 1}.age`;
}

async function readStart(repo: Repository, key: string): Promise<Buffer> {
  const stream = await repo.get(key);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    chunks.push(chunk);
    size += chunk.length;
    if (size >= HEADER_READ) break;
  }
  stream.destroy();
  return Buffer.concat(chunks);
}

/** Replaces the first `skip` bytes of a stream with `header`. */
class HeaderSwap extends Transform {
  private remaining: number;
  constructor(
    private readonly header: Uint8Array,
    skip: number,
  ) {
    super();
    this.remaining = skip;
    this.push(Buffer.from(header));
  }
  override _transform(chunk: Buffer, _e: BufferEncoding, cb: TransformCallback): void {
    if (this.remaining >= chunk.length) {
      this.remaining -= chunk.length;
      return cb();
    }
    const rest = chunk.subarray(this.remaining);
    this.remaining = 0;
    cb(null, rest);
  }
}

async function rekeyObject(
  repo: Repository,
  object: StoredObject,
  current: DecryptOptions,
  to: string[],
): Promise<StoredObject> {
  let header;
  try {
    header = await rekeyHeader(await readStart(repo, object.key), { ...current, newRecipients: to });
  } catch (err) {
    throw classifyReadError(object.key, err);
  }
  const newKey = nextKeyGeneration(object.key);
  const body = new PassThrough();
  const put = repo.put(newKey, body, {
    ifAbsent: true,
    sizeHint: object.stored.size,
    metadata: { 'dbops-content': object.content },
  });
  put.catch(() => {});
  // The old bytes are checked while copied: rekeying a damaged object would bless it with a new checksum.
  const oldCheck = new VerifyStage(
    object.stored,
    (a) =>
      new ObjectDamaged(
        object.key,
        `stored bytes have sha256 ${a.sha256}, the manifest says ${object.stored.sha256}`,
      ),
  );
  const piped = runPipeline(
    await repo.get(object.key),
    [oldCheck, new HeaderSwap(header.newHeader, header.payloadOffset)],
    body,
  );
  piped.catch(() => {});
  const [p, u] = await Promise.allSettled([piped, put]);
  if (u.status === 'rejected' && u.reason instanceof StorageError) throw u.reason;
  if (p.status === 'rejected') {
    await repo.delete([newKey]).catch(() => {});
    throw p.reason;
  }
  if (u.status === 'rejected') throw u.reason;
  const enc = object.pipeline.encryption;
  return {
    ...object,
    key: newKey,
    stored: { size: p.value.bytesOut, sha256: p.value.sha256 },
    pipeline: { ...object.pipeline, encryption: { ...(enc ?? {}), format: 'age', recipients: [...to] } },
  };
}

/**
 * Key rotation without rewriting data: an age file's payload is encrypted under its own file key and
 * only the header wraps that key for the recipients, so rekey writes each object again with a new
 * header and the payload bytes unchanged, then swaps the manifest (the commit point) and deletes the
 * old object. A crash in between leaves the old backup intact and a stray new object for prune.
 */
export async function backupRekey(
  o: BackupRekeyOptions,
  deps: { logger?: Logger } = {},
): Promise<BackupRekeyResult> {
  const logger = deps.logger ?? silentLogger;
  if (o.add.length === 0 && o.remove.length === 0) {
    throw new ConfigError('nothing to do: pass --add-recipient and/or --remove-recipient');
  }
  return withRepository(
    o.repository.name,
    o.repository.config,
    async (repo) => {
      const work = async (): Promise<BackupRekeyResult> => {
        const scan = await scanCatalogue(repo, o.target);
        const chosen = o.ids ? scan.backups.filter((b) => o.ids!.includes(b.id)) : scan.backups;
        if (o.ids) {
          const missing = o.ids.filter((id) => !chosen.some((b) => b.id === id));
          if (missing.length) throw new ConfigError(`no backup ${missing.join(', ')} in ${repo.location}`);
        }
        const out: RekeyedBackup[] = [];
        for (const { manifest: m } of chosen) {
          const enc = m.objects[0]?.pipeline.encryption;
          const current = enc && 'recipients' in enc ? (enc.recipients as string[]) : undefined;
          if (!enc || !current) {
            out.push({
              id: m.id,
              target: m.target.name,
              from: [],
              to: [],
              objects: [],
              status: 'skipped',
              note: enc ? 'passphrase-encrypted' : 'not encrypted',
            });
            continue;
          }
          const from = [...current];
          const to = [...new Set([...from.filter((r) => !o.remove.includes(r)), ...o.add])];
          if (to.length === 0) {
            throw new ConfigError(
              `removing ${o.remove.join(', ')} would leave backup ${m.id} with no recipient`,
              {
                hint: 'add the new recipient in the same run: --add-recipient age1… --remove-recipient age1…',
              },
            );
          }
          const same = to.length === from.length && to.every((r) => from.includes(r));
          if (same || o.dryRun) {
            out.push({
              id: m.id,
              target: m.target.name,
              from,
              to,
              objects: m.objects.map((x) => x.key),
              status: same ? 'unchanged' : 'rekeyed',
            });
            continue;
          }
          const objects: StoredObject[] = [];
          for (const object of m.objects) objects.push(await rekeyObject(repo, object, o.current, to));
          const updated: BackupManifest = {
            ...m,
            objects,
            manualRestore: manualRestoreLines({ ...m, objects }),
          };
          await writeManifest(repo, updated, { replace: true });
          await repo.delete(m.objects.map((x) => x.key)).catch((err: unknown) =>
            logger.warn('could not remove the objects with the old headers; prune removes them later', {
              id: m.id,
              error: (err as Error).message,
            }),
          );
          logger.info(`rekeyed backup ${m.id}`, { recipients: to.length });
          out.push({
            id: m.id,
            target: m.target.name,
            from,
            to,
            objects: objects.map((x) => x.key),
            status: 'rekeyed',
          });
        }
        return {
          dryRun: Boolean(o.dryRun),
          backups: out,
          rekeyed: out.filter((b) => b.status === 'rekeyed').length,
        };
      };
      return o.dryRun
        ? work()
        : withWriterLease(repo, { command: 'backup rekey', logger, ...(o.now ? { now: o.now } : {}) }, work);
    },
    logger,
  );
}
