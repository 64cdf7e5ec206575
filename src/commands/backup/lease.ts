import { createHash, randomBytes } from 'node:crypto';
import { mkdir, open, readFile, unlink } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';

import { DbopsError } from '../../errors.js';
import { processAlive } from '../../process-alive.js';
import { silentLogger, type Logger } from '../../logger.js';
import { ObjectExistsError } from '../../storage/errors.js';
import type { Repository } from '../../storage/repository.js';
import { WRITER_LEASE_KEY } from './layout.js';
import { readSmallObject } from './manifest.js';

/**
 * One writer per repository for mutating work (backup, prune, rekey): two overlapping runs — cron
 * and the scheduler, or two hosts — would otherwise let prune delete what a backup is writing
 * (WAL-G has no lock and users hit exactly that, wal-g/wal-g#1288). Two layers:
 * - a host lock file created with O_EXCL, so two processes on one host never overlap, and a lock
 *   left by a dead process (kill -9) is recognised at once by its pid;
 * - a lease object in the repository (created only if absent), with an expiry that the holder renews
 *   while it works, so a crashed holder on another host blocks others for at most one TTL.
 * On S3 servers without conditional writes two hosts taking over the same *expired* lease in the
 * same instant can both win; the holder re-reads its lease on every renewal and aborts if it lost.
 */
export interface LeaseRecord {
  owner: string;
  host: string;
  pid: number;
  command: string;
  acquiredAt: string;
  expiresAt: string;
}

export interface LeaseOptions {
  /** What the holder does, shown to whoever is refused (`backup run`, `prune`). */
  command: string;
  ttlMs?: number;
  logger?: Logger;
  now?: () => Date;
  /** Directory for host lock files (default: <tmpdir>/dbops-locks). */
  hostLockDir?: string;
}

export interface HeldLease {
  record: LeaseRecord;
  /** Aborts when the lease is lost (taken over after expiry); work must stop then. */
  signal: AbortSignal;
}

export const DEFAULT_LEASE_TTL_MS = 10 * 60_000;

/** Another run holds the repository (exit 2: nothing was done; run again later). */
export class RepositoryBusyError extends DbopsError {}

async function acquireHostLock(repo: Repository, options: LeaseOptions): Promise<() => Promise<void>> {
  const dir = options.hostLockDir ?? join(tmpdir(), 'dbops-locks');
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const name = createHash('sha256')
    .update(`${repo.location}\0${WRITER_LEASE_KEY}`)
    .digest('hex')
    .slice(0, 24);
  const file = join(dir, `${name}.lock`);
  const body = JSON.stringify({
    pid: process.pid,
    command: options.command,
    location: repo.location,
    at: new Date().toISOString(),
  });
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const handle = await open(file, 'wx', 0o600);
      await handle.writeFile(body);
      await handle.close();
      return async () => {
        await unlink(file).catch(() => {});
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    let holder: { pid?: number; command?: string } = {};
    try {
      holder = JSON.parse(await readFile(file, 'utf8')) as typeof holder;
    } catch {
      // half-written by a process that died between create and write: stale
    }
    if (holder.pid !== undefined && holder.pid !== process.pid && (await processAlive(holder.pid))) {
      throw new RepositoryBusyError(
        `another dbops ${holder.command ?? 'run'} (pid ${holder.pid}) is writing to ${repo.location} on this host`,
        { hint: 'wait for it to finish; backup, prune and rekey take turns on a repository' },
      );
    }
    await unlink(file).catch(() => {});
  }
  throw new RepositoryBusyError(`cannot take the host lock for ${repo.location}`);
}

function encode(record: LeaseRecord): Uint8Array {
  return Buffer.from(JSON.stringify(record, null, 2), 'utf8');
}

async function readLease(repo: Repository): Promise<LeaseRecord | undefined> {
  try {
    return JSON.parse(await readSmallObject(repo, WRITER_LEASE_KEY, 64 * 1024)) as LeaseRecord;
  } catch (err) {
    if (err instanceof SyntaxError) return undefined; // unreadable: treat as stale
    if ((err as { code?: string }).code === 'not-found') return undefined;
    throw err;
  }
}

async function putLease(repo: Repository, record: LeaseRecord, ifAbsent: boolean): Promise<void> {
  const body = encode(record);
  // Not synced: after a power loss the holder is gone anyway, and a lost or torn lease reads as stale.
  await repo.put(WRITER_LEASE_KEY, Readable.from([body]), {
    ifAbsent,
    contentLength: body.byteLength,
    durable: false,
  });
}

/** Why an existing lease may be taken over, or undefined when its holder is alive. */
async function staleReason(record: LeaseRecord | undefined, now: Date): Promise<string | undefined> {
  if (!record || typeof record.expiresAt !== 'string') return 'unreadable lease';
  if (Date.parse(record.expiresAt) < now.getTime()) return `expired at ${record.expiresAt}`;
  if (record.host === hostname() && !(await processAlive(record.pid)))
    return `holder pid ${record.pid} is gone`;
  return undefined;
}

/** Runs fn while holding the repository's writer lease; releases it afterwards, also on errors. */
export async function withWriterLease<T>(
  repo: Repository,
  options: LeaseOptions,
  fn: (lease: HeldLease) => Promise<T>,
): Promise<T> {
  const logger = options.logger ?? silentLogger;
  const now = options.now ?? (() => new Date());
  const ttl = options.ttlMs ?? DEFAULT_LEASE_TTL_MS;
  const releaseHost = await acquireHostLock(repo, options);
  try {
    const owner = randomBytes(8).toString('hex');
    const make = (): LeaseRecord => ({
      owner,
      host: hostname(),
      pid: process.pid,
      command: options.command,
      acquiredAt: now().toISOString(),
      expiresAt: new Date(now().getTime() + ttl).toISOString(),
    });
    let record = make();
    for (let attempt = 0; ; attempt++) {
      try {
        await putLease(repo, record, true);
        break;
      } catch (err) {
        if (!(err instanceof ObjectExistsError) || attempt >= 2) throw err;
      }
      const current = await readLease(repo);
      const why = await staleReason(current, now());
      if (why === undefined) {
        throw new RepositoryBusyError(
          `${repo.location} is busy: dbops ${current!.command} on ${current!.host} (pid ${current!.pid}) holds the writer lease until ${current!.expiresAt}`,
          {
            hint: 'wait for it to finish; a crashed holder on another host blocks for at most the lease TTL',
          },
        );
      }
      logger.warn(`taking over a stale writer lease (${why})`, { repository: repo.name });
      await repo.delete([WRITER_LEASE_KEY]);
      record = make();
    }

    const lost = new AbortController();
    const renew = async () => {
      const current = await readLease(repo);
      if (current?.owner !== owner) {
        lost.abort(
          new RepositoryBusyError(
            `the writer lease of ${repo.location} was taken over by ${current?.host ?? 'another run'}`,
          ),
        );
        return;
      }
      record = { ...record, expiresAt: new Date(now().getTime() + ttl).toISOString() };
      await putLease(repo, record, false);
    };
    const timer = setInterval(
      () => {
        renew().catch((err: unknown) =>
          logger.warn('could not renew the writer lease', { error: (err as Error).message }),
        );
      },
      Math.max(1000, Math.floor(ttl / 3)),
    );
    timer.unref();
    try {
      return await fn({ record, signal: lost.signal });
    } finally {
      clearInterval(timer);
      try {
        const current = await readLease(repo);
        if (current?.owner === owner) await repo.delete([WRITER_LEASE_KEY], { durable: false });
      } catch (err) {
        // Never hide the work's own result or error: an unreleased lease expires by itself.
        logger.warn('could not release the writer lease; it expires by itself', {
          error: (err as Error).message,
        });
      }
    }
  } finally {
    await releaseHost();
  }
}
