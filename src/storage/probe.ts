import { randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';

import type { Repository } from './repository.js';

export interface ProbeResult {
  /** write, read-back-identical and delete all worked. */
  ok: boolean;
  write: boolean;
  read: boolean;
  delete: boolean;
  /** The first failure's message. */
  error?: string;
  ms: number;
}

/** Where probe objects go; a crashed probe leaves at most one small object there. */
export const PROBE_PREFIX = '.dbops-probe/';

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks);
}

/**
 * Checks that a repository really works, as `dbops doctor` needs: writes a small random object,
 * reads it back and compares it byte for byte (and its metadata), then deletes it. Never throws.
 */
export async function probeRepository(repo: Repository): Promise<ProbeResult> {
  const started = performance.now();
  const key = `${PROBE_PREFIX}${randomBytes(8).toString('hex')}`;
  const payload = randomBytes(1024);
  const metadata = { probe: payload.subarray(0, 8).toString('hex') };
  const result: ProbeResult = { ok: false, write: false, read: false, delete: false, ms: 0 };
  const fail = (step: string, err: unknown): void => {
    result.error ??= `${step}: ${err instanceof Error ? err.message : String(err)}`;
  };

  try {
    await repo.put(key, payload, { metadata, ifAbsent: true, contentLength: payload.length });
    result.write = true;
  } catch (err) {
    fail('write', err);
  }
  if (result.write) {
    try {
      const back = await readAll(await repo.get(key));
      const info = await repo.head(key);
      if (!back.equals(payload)) {
        fail(
          'read',
          new Error(`read back ${back.length} bytes that differ from the ${payload.length} written`),
        );
      } else if (info?.metadata.probe !== metadata.probe) {
        fail('read', new Error('object metadata did not round-trip'));
      } else {
        result.read = true;
      }
    } catch (err) {
      fail('read', err);
    }
    try {
      await repo.delete([key]);
      if ((await repo.head(key)) !== undefined) throw new Error(`${key} still exists after delete`);
      result.delete = true;
    } catch (err) {
      fail('delete', err);
    }
  }
  result.ok = result.write && result.read && result.delete;
  result.ms = Math.round(performance.now() - started);
  return result;
}
