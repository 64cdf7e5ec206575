import { sleep } from '../sleep.js';

/** Reads back what was written so far, at a position (FileSink.read). */
export type ReadAt = (buffer: Uint8Array, position: number) => Promise<number>;

export interface FollowOptions {
  /** Settles when the writer has finished (either way): then the rest is read and the walk ends. */
  writerDone: Promise<unknown>;
  /** Each chunk in order; the buffer is reused after the call returns (or its promise settles). */
  onChunk: (chunk: Uint8Array) => void | Promise<void>;
  signal?: AbortSignal;
  /** Read size; large reads of the page cache cost far less CPU than a pipe's 64 KiB chunks. */
  chunkSize?: number;
  /** How long to wait at the end of what is written so far before looking again. */
  pollMs?: number;
}

/**
 * Reads a file while another process appends to it, from offset 0 until the writer is done and
 * every byte has been read. Returns the number of bytes read.
 */
export async function followFile(read: ReadAt, o: FollowOptions): Promise<number> {
  let finished = false;
  const done = o.writerDone.then(
    () => {
      finished = true;
    },
    () => {
      finished = true;
    },
  );
  const buffer = Buffer.allocUnsafe(o.chunkSize ?? 1024 * 1024);
  const pollMs = o.pollMs ?? 20;
  let position = 0;
  for (;;) {
    o.signal?.throwIfAborted();
    // Read `finished` before reading: bytes written before the writer ended are then all seen.
    const last = finished;
    const n = await read(buffer, position);
    if (n > 0) {
      const taken = o.onChunk(buffer.subarray(0, n));
      if (taken) await taken;
      position += n;
      continue;
    }
    if (last) return position;
    await sleep(pollMs, o.signal, done);
  }
}
