import type { Repository } from '../../storage/repository.js';

/**
 * Reads a whole object into memory. Not backup/manifest.ts's helper: that module loads zod, which
 * `wal push` must not pay for on every segment.
 */
export async function readAll(repo: Repository, key: string): Promise<Buffer> {
  const stream = await repo.get(key);
  const chunks: Buffer[] = [];
  for await (const chunk of stream as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks);
}
