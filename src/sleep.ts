/**
 * Sleeps, waking early (without throwing) when the signal aborts or `early` settles. Leaves no
 * timer behind: a pending one would hold the process open at exit.
 */
export function sleep(ms: number, signal?: AbortSignal, early?: Promise<unknown>): Promise<void> {
  if (ms <= 0 || signal?.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
    early?.then(done, done);
  });
}
