// What the bench scripts share. Not part of dbops.
import pg from 'pg';

/** `fn(client)` on a new connection to `url`, closed afterwards. */
export async function withClient(url, fn) {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

/** The median (the mean of the two middle values for an even count). */
export function median(xs) {
  const v = [...xs].sort((a, b) => a - b);
  return v.length % 2 ? v[(v.length - 1) / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
}
