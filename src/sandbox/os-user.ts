import { stat } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { ConfigError } from '../errors.js';

/** An unprivileged OS account the server runs as when dbops itself runs as root. */
export interface OsUser {
  name: string;
  uid: number;
  gid: number;
  /** Primary and supplementary groups. */
  groups: number[];
}

/** Parses `id NAME`: `uid=101(postgres) gid=104(postgres) groups=104(postgres),103(ssl-cert)`. */
export function parseIdOutput(name: string, output: string): OsUser | undefined {
  const uid = /uid=(\d+)/.exec(output)?.[1];
  const gid = /gid=(\d+)/.exec(output)?.[1];
  if (uid === undefined || gid === undefined) return undefined;
  const groupsText = /groups=([^\s]+)/.exec(output)?.[1] ?? '';
  const groups = [...groupsText.matchAll(/(\d+)/g)].map((m) => Number(m[1]));
  if (!groups.includes(Number(gid))) groups.push(Number(gid));
  return { name, uid: Number(uid), gid: Number(gid), groups };
}

export async function lookupOsUser(name: string): Promise<OsUser | undefined> {
  const r = await execa('id', [name], { reject: false, timeout: 10_000, env: { LC_ALL: 'C' } });
  return r.exitCode === 0 ? parseIdOutput(name, r.stdout) : undefined;
}

/**
 * PostgreSQL refuses to run as root, so a root dbops runs initdb/pg_ctl as `postgres` when that
 * account exists (distribution packages create it), else as `nobody`.
 */
export async function pickServerOsUser(): Promise<OsUser> {
  for (const name of ['postgres', 'nobody']) {
    const u = await lookupOsUser(name);
    if (u && u.uid !== 0) return u;
  }
  throw new ConfigError('running as root, and neither the `postgres` nor the `nobody` OS user exists', {
    hint: 'PostgreSQL refuses to run as root: create a `postgres` user (useradd -r postgres) or run dbops as a normal user.',
  });
}

export function isRoot(): boolean {
  return process.getuid?.() === 0;
}

/** Whether `user` may pass through (search) a directory with these owner/mode bits. */
export function canTraverse(st: { uid: number; gid: number; mode: number }, user: OsUser): boolean {
  if (user.uid === 0) return true;
  // POSIX uses only the first matching class: an owner without x is refused even if "other" has it.
  if (st.uid === user.uid) return (st.mode & 0o100) !== 0;
  if (user.groups.includes(st.gid)) return (st.mode & 0o010) !== 0;
  return (st.mode & 0o001) !== 0;
}

/** `/a/b/c` → `['/', '/a', '/a/b']` (the strict ancestors, root first). */
export function ancestorsOf(dir: string): string[] {
  const out: string[] = [];
  let cur = path.dirname(path.resolve(dir));
  for (;;) {
    out.unshift(cur);
    const parent = path.dirname(cur);
    if (parent === cur) break;
    cur = parent;
  }
  return out;
}

/**
 * Refuses a sandbox directory the server's OS user cannot reach. We never chmod an ancestor
 * (typically the operator's 0700 home): that would silently widen access to their files.
 */
export async function assertAncestorsTraversable(dir: string, user: OsUser): Promise<void> {
  for (const ancestor of ancestorsOf(dir)) {
    let st;
    try {
      st = await stat(ancestor);
    } catch {
      return; // does not exist yet: dbops creates it, traversable
    }
    if (!canTraverse(st, user)) {
      throw new ConfigError(
        `the PostgreSQL server runs as OS user \`${user.name}\` (PostgreSQL refuses root), which cannot enter ${ancestor}`,
        {
          hint: `Put the sandbox somewhere ${user.name} can reach, e.g. \`--dir /tmp/dbops-sandbox\`, rather than under ${ancestor}.`,
        },
      );
    }
  }
}
