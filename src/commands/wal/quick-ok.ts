import { readFileSync, statSync, unlinkSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';

/*
 * The cheapest possible answer to PostgreSQL's call for a segment the background worker has already
 * archived: no config parsing, no other module — only node:fs and node:path, so the call costs
 * little more than Node's own start. The worker stamps each record with the invocation it ran
 * under (config file identity, --repo, --target); a call made the same way, for the very same file
 * (inode, size, mtime), returns at once. Anything else (another spool directory, an edited config,
 * a different file) falls through to the normal path, which checks the record against the loaded
 * config.
 */

export interface Invocation {
  /** The config file as resolved (it need not exist). */
  config: string;
  repo: string | null;
  target: string | null;
}

/** Where the config file is: --config, else $DBOPS_CONFIG, else ./dbops.config.yaml. */
export function configFile(configOption: string | undefined, env: NodeJS.ProcessEnv): string {
  return resolve(configOption ?? env.DBOPS_CONFIG ?? 'dbops.config.yaml');
}

export function invocationOf(
  configOption: string | undefined,
  repo: string | undefined,
  target: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
): Invocation {
  return { config: configFile(configOption, env), repo: repo ?? null, target: target ?? null };
}

/** The invocation with the config file's identity: any edit of the file changes it. */
export function invocationStamp(inv: Invocation): string {
  let id = 'none';
  try {
    const st = statSync(inv.config);
    id = `${st.size}:${st.mtimeMs}:${st.ino}`;
  } catch {
    // no config file: the defaults apply, and the stamp says so
  }
  return JSON.stringify([inv.config, id, inv.repo, inv.target]);
}

/** The default spool's record for `walFile` when it matches this invocation and this very file. */
export function quickPickedUp(walFile: string, inv: Invocation): { key: string; size: number } | undefined {
  const filePath = resolve(walFile);
  const recordPath = join(dirname(filePath), '.dbops', 'ok', basename(filePath));
  let rec: { key?: unknown; size?: unknown; mtimeMs?: unknown; ino?: unknown; stamp?: unknown };
  try {
    rec = JSON.parse(readFileSync(recordPath, 'utf8')) as typeof rec;
  } catch {
    return undefined;
  }
  if (typeof rec.stamp !== 'string' || rec.stamp !== invocationStamp(inv)) return undefined;
  let st;
  try {
    st = statSync(filePath);
  } catch {
    return undefined;
  }
  if (st.size !== rec.size || st.mtimeMs !== rec.mtimeMs || st.ino !== rec.ino || typeof rec.key !== 'string')
    return undefined;
  try {
    unlinkSync(recordPath);
  } catch {
    return undefined; // another call took it
  }
  return { key: rec.key, size: st.size };
}
