import { readdirSync, readFileSync, statSync, unlinkSync } from 'node:fs';
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

/** `device.inode.size.mtime-seconds`, as `stat -c '%d.%i.%s.%Y'` prints it (bin/dbops). */
function identity(path: string): string {
  const st = statSync(path, { bigint: true });
  return `${st.dev}.${st.ino}.${st.size}.${st.mtimeNs / 1_000_000_000n}`;
}

/**
 * The name of the empty marker the worker leaves in `<pg_wal>/.dbops/okq/` for bin/dbops, the
 * shell entry, which answers the call without starting Node. Only for invocations the script can
 * recognise: the default spool, an existing config file, no --repo or --target.
 */
export function shellMarkerName(walFile: string, inv: Invocation): string | undefined {
  if (inv.repo !== null || inv.target !== null) return undefined;
  try {
    return `${basename(walFile)}-${identity(walFile)}-${identity(inv.config)}`;
  } catch {
    return undefined;
  }
}

/** Removes the shell markers of `name` (its call was answered another way). */
export function dropShellMarkers(okqDir: string, name: string): void {
  let names: string[];
  try {
    names = readdirSync(okqDir);
  } catch {
    return;
  }
  for (const n of names) {
    if (n.startsWith(`${name}-`)) {
      try {
        unlinkSync(join(okqDir, n));
      } catch {
        // gone already
      }
    }
  }
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
  dropShellMarkers(join(dirname(filePath), '.dbops', 'okq'), basename(filePath));
  return { key: rec.key, size: st.size };
}
