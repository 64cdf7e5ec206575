import { mkdir, open, readFile, stat, unlink, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import { processAlive } from '../../process-alive.js';
import { takePushed, type OkRecord } from './spool.js';

/*
 * The background worker's state in the spool (see worker.ts):
 *   worker.pid       the live worker: its pid; its mtime is a heartbeat
 *   inflight/<name>  a segment the worker is archiving right now
 *   worker.failed    touched when a worker stopped on an error: no new worker for a while, so an
 *                    unreachable repository does not cost every call an extra process
 * A lock whose pid is gone, or whose heartbeat stopped, is stale and taken over.
 */

const LOCK = 'worker.pid';
/** A worker touches its lock at least this often while it works. */
export const HEARTBEAT_MS = 5_000;
const STALE_MS = 6 * HEARTBEAT_MS;

async function lockHolder(spool: string): Promise<number | undefined> {
  const file = join(spool, LOCK);
  try {
    const [text, st] = await Promise.all([readFile(file, 'utf8'), stat(file)]);
    const pid = Number(text.trim());
    if ((await processAlive(pid)) && Date.now() - st.mtimeMs < STALE_MS) return pid;
    return undefined;
  } catch {
    return undefined;
  }
}

/** Whether a worker is running for this spool. */
export async function workerRunning(spool: string): Promise<boolean> {
  return (await lockHolder(spool)) !== undefined;
}

/**
 * Takes the worker lock; undefined when a live worker holds it. Returns the release function. The
 * lock file is created exclusively, so two workers started at once cannot both win.
 */
export async function lockWorker(spool: string): Promise<(() => Promise<void>) | undefined> {
  await mkdir(join(spool, 'inflight'), { recursive: true, mode: 0o700 });
  const file = join(spool, LOCK);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fh = await open(file, 'wx', 0o600);
      await fh.writeFile(String(process.pid));
      await fh.close();
      return async () => {
        await unlink(file).catch(() => {});
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      if (await lockHolder(spool)) return undefined;
      await unlink(file).catch(() => {}); // stale: its worker died
    }
  }
  return undefined;
}

const FAILED = 'worker.failed';
const FAILED_BACKOFF_MS = 30_000;

export async function markWorkerFailed(spool: string): Promise<void> {
  await writeFile(join(spool, FAILED), new Date().toISOString(), { mode: 0o600 }).catch(() => {});
}

export async function workerFailedRecently(spool: string): Promise<boolean> {
  return stat(join(spool, FAILED)).then(
    (st) => Date.now() - st.mtimeMs < FAILED_BACKOFF_MS,
    () => false,
  );
}

export async function heartbeat(spool: string): Promise<void> {
  const now = new Date();
  await utimes(join(spool, LOCK), now, now).catch(() => {});
}

export async function claim(spool: string, name: string): Promise<void> {
  await writeFile(join(spool, 'inflight', name), String(process.pid), { mode: 0o600 });
}

export async function unclaim(spool: string, name: string): Promise<void> {
  await unlink(join(spool, 'inflight', name)).catch(() => {});
}

async function claimed(spool: string, name: string): Promise<boolean> {
  return stat(join(spool, 'inflight', name)).then(
    () => true,
    () => false,
  );
}

/**
 * When the worker is archiving `filePath` right now, waits for it to finish and returns its record;
 * undefined when it is not claimed, the worker gave up on it or died, or `timeoutMs` passed — the
 * caller then archives the file itself (an idempotent push of the same content is harmless).
 */
export async function awaitWorker(
  spool: string,
  filePath: string,
  name: string,
  repository: string,
  timeoutMs: number,
): Promise<OkRecord | undefined> {
  // Not claimed: the worker may have finished it since the caller looked for its record.
  if (!(await claimed(spool, name))) return takePushed(spool, filePath, repository);
  if (!(await workerRunning(spool))) return undefined;
  const deadline = Date.now() + timeoutMs;
  let polls = 0;
  while (Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 10));
    const rec = await takePushed(spool, filePath, repository);
    if (rec) return rec;
    if (!(await claimed(spool, name))) return takePushed(spool, filePath, repository);
    if (++polls % 50 === 0 && !(await workerRunning(spool))) return undefined;
  }
  return undefined;
}
