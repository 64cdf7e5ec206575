import { PassThrough, type Readable } from 'node:stream';

import { coerceError } from '../errors.js';

/** The error an aborted operation rejects with: the signal's reason (an AbortError by default). */
export function abortReason(signal: AbortSignal): Error {
  return coerceError(signal.reason ?? new Error('the operation was aborted'));
}

export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw abortReason(signal);
}

/**
 * Calls `listener` when the signal fires — at once when it already has (an 'abort' event never
 * fires twice, so a listener added late would wait forever); returns the function that unregisters it.
 */
export function onAbort(signal: AbortSignal | undefined, listener: () => void): () => void {
  if (!signal) return () => {};
  if (signal.aborted) {
    listener();
    return () => {};
  }
  signal.addEventListener('abort', listener, { once: true });
  return () => signal.removeEventListener('abort', listener);
}

/**
 * Relays `source` through a PassThrough so that its errors reach the reader as storage errors
 * (exit 5 with a useful message) rather than raw ECONNRESET / EIO. Destroying the returned stream,
 * or aborting `signal`, destroys the source and releases its file or socket.
 */
export function relayWithMappedErrors(
  source: Readable,
  mapError: (err: Error) => Error,
  signal?: AbortSignal,
): Readable {
  const out = new PassThrough();
  source.on('error', (err: Error) => out.destroy(mapError(err)));
  const unregister = onAbort(signal, () => out.destroy(abortReason(signal as AbortSignal)));
  out.once('close', () => {
    unregister();
    if (!source.destroyed) source.destroy();
  });
  source.pipe(out);
  return out;
}
