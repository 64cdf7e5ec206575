import { randomBytes } from 'node:crypto';
import {
  appendFile,
  chmod,
  chown,
  mkdir,
  open,
  readdir,
  readFile,
  rename,
  rm,
  stat,
  writeFile,
} from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { execa } from 'execa';
import { ConfigError, Interrupted, ToolError } from '../errors.js';
import type { Logger } from '../logger.js';
import { silentLogger } from '../logger.js';
import type { OsUser } from './os-user.js';
import { assertAncestorsTraversable, isRoot, pickServerOsUser } from './os-user.js';
import type { ServerBinaries } from './server-binaries.js';
import { findServerBinaries, hasExtension, serverVersion, SERVER_PROGRAMS } from './server-binaries.js';

export interface SandboxOptions {
  dir: string;
  port?: number;
  logger?: Logger;
  /** extra postgresql.conf settings */
  settings?: Record<string, string | number>;
  signal?: AbortSignal;
}

export interface SandboxInfo {
  dir: string;
  dataDir: string;
  socketDir: string;
  host: '127.0.0.1';
  port: number;
  user: string;
  password: string;
  database: 'postgres';
  /** postgresql://dbops:PASSWORD@127.0.0.1:PORT/postgres */
  url: string;
  major: number;
  version: string;
  binDir: string;
  osUser?: string;
  running: boolean;
  pid?: number;
}

/** What `<dir>/sandbox.json` (mode 0600) records so a later `up` reuses port and password. */
interface SandboxState {
  format: 1;
  port: number;
  user: string;
  password: string;
  major: number;
  version: string;
  binDir: string;
  osUser?: string;
  settings: Record<string, string | number>;
  createdAt: string;
}

const SUPERUSER = 'dbops';
const STATE_FILE = 'sandbox.json';
/** Everything a sandbox directory may hold; `down --remove` refuses to delete anything else. */
const OWN_ENTRIES = new Set(['data', 'run', 'log', STATE_FILE, `${STATE_FILE}.tmp`]);
/** The settings dbops manages itself; letting callers override them would make SandboxInfo lie. */
const RESERVED_SETTINGS = new Set(['port', 'listen_addresses', 'unix_socket_directories']);
/** sun_path is 108 bytes on Linux, 104 on macOS (including the NUL). */
const MAX_SOCKET_PATH = 103;

function layout(dir: string) {
  const root = path.resolve(dir);
  return {
    root,
    dataDir: path.join(root, 'data'),
    socketDir: path.join(root, 'run'),
    logDir: path.join(root, 'log'),
    logFile: path.join(root, 'log', 'postgresql.log'),
    stateFile: path.join(root, STATE_FILE),
  };
}
type Layout = ReturnType<typeof layout>;

/** Quotes a postgresql.conf value: any setting accepts the single-quoted form. */
export function confValue(value: string | number): string {
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new ConfigError(`invalid setting value ${value}`);
    return String(value);
  }
  return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "''")}'`;
}

/** The text of `<data>/dbops.conf`, included from postgresql.conf and rewritten on every `up`. */
export function sandboxConf(opts: {
  port: number;
  socketDir: string;
  preloadStatStatements: boolean;
  settings: Record<string, string | number>;
}): string {
  const base: Record<string, string | number> = {
    listen_addresses: '127.0.0.1',
    port: opts.port,
    unix_socket_directories: opts.socketDir,
    unix_socket_permissions: '0700',
    password_encryption: 'scram-sha-256',
    // Physical backups and WAL archiving need replica-level WAL and walsender slots.
    wal_level: 'replica',
    max_wal_senders: 10,
    max_replication_slots: 10,
    timezone: 'UTC',
    log_timezone: 'UTC',
    log_line_prefix: '%m [%p] %q%u@%d ',
    track_io_timing: 'on',
  };
  if (opts.preloadStatStatements) base.shared_preload_libraries = 'pg_stat_statements';
  for (const [key, value] of Object.entries(opts.settings)) {
    if (!/^[A-Za-z_][A-Za-z0-9_.]*$/.test(key)) throw new ConfigError(`invalid setting name "${key}"`);
    if (RESERVED_SETTINGS.has(key.toLowerCase())) {
      throw new ConfigError(`the sandbox manages "${key}" itself`, {
        hint: key === 'port' ? 'Use the port option instead.' : undefined,
      });
    }
    base[key] = value;
  }
  const lines = Object.entries(base).map(([k, v]) => `${k} = ${confValue(v)}`);
  return `# Written by dbops sandbox on every start; ALTER SYSTEM settings still override these.\n${lines.join('\n')}\n`;
}

export function sandboxUrl(port: number, password: string): string {
  return `postgresql://${SUPERUSER}:${encodeURIComponent(password)}@127.0.0.1:${port}/postgres`;
}

async function exists(p: string): Promise<boolean> {
  try {
    await stat(p);
    return true;
  } catch {
    return false;
  }
}

async function readState(l: Layout): Promise<SandboxState | undefined> {
  let text: string;
  try {
    text = await readFile(l.stateFile, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new ConfigError(`cannot read ${l.stateFile}: ${(err as Error).message}`, { cause: err });
  }
  try {
    const s = JSON.parse(text) as SandboxState;
    if (s.format !== 1 || typeof s.port !== 'number' || typeof s.password !== 'string')
      throw new Error('bad shape');
    return { ...s, settings: s.settings ?? {} };
  } catch (err) {
    throw new ConfigError(`${l.stateFile} is not a dbops sandbox state file`, {
      cause: err,
      hint: `Remove ${l.root} and run sandbox up again.`,
    });
  }
}

/** Written last and atomically (tmp + rename), 0600 because it holds the superuser password. */
async function writeState(l: Layout, s: SandboxState): Promise<void> {
  const tmp = `${l.stateFile}.tmp`;
  await writeFile(tmp, `${JSON.stringify(s, null, 2)}\n`, { mode: 0o600 });
  await chmod(tmp, 0o600);
  await rename(tmp, l.stateFile);
}

export async function isPortFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen({ port, host: '127.0.0.1', exclusive: true }, () => server.close(() => resolve(true)));
  });
}

/** Lets the kernel pick a free port (bind to 0). Another process could take it before the server binds: see retries. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen({ port: 0, host: '127.0.0.1', exclusive: true }, () => {
      const addr = server.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      server.close(() => (port ? resolve(port) : reject(new Error('no port assigned'))));
    });
  });
}

async function logTail(logFile: string, lines = 25): Promise<string> {
  try {
    const fh = await open(logFile, 'r');
    try {
      const { size } = await fh.stat();
      const len = Math.min(size, 16_384);
      const buf = Buffer.alloc(len);
      await fh.read(buf, 0, len, size - len);
      return buf.toString('utf8').trimEnd().split('\n').slice(-lines).join('\n');
    } finally {
      await fh.close();
    }
  } catch {
    return '';
  }
}

/** The environment for server programs: no inherited PG* variables (PGDATA, PGPORT…) to surprise them. */
function serverEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v !== undefined && !k.startsWith('PG')) env[k] = v;
  }
  env.LC_ALL = 'C';
  return env;
}

interface RunContext {
  binDir: string;
  /** Set when dbops runs as root: the server programs run as this uid/gid. */
  runAs?: { uid: number; gid: number } | undefined;
  cwd: string;
  logger: Logger;
  signal?: AbortSignal | undefined;
}

async function runServerProgram(ctx: RunContext, program: 'initdb' | 'pg_ctl', args: string[]) {
  const file = path.join(ctx.binDir, program);
  ctx.logger.debug(`running ${program}`, { argv: args, uid: ctx.runAs?.uid });
  try {
    return await execa(file, args, {
      cwd: ctx.cwd,
      env: serverEnv(),
      extendEnv: false,
      stdin: 'ignore',
      reject: false,
      all: true,
      ...(ctx.runAs ? { uid: ctx.runAs.uid, gid: ctx.runAs.gid } : {}),
      ...(ctx.signal ? { cancelSignal: ctx.signal } : {}),
    });
  } catch (err) {
    throw new ToolError(`cannot run ${file}: ${(err as Error).message}`, {
      tool: program,
      argv: args,
      cause: err,
    });
  }
}

function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new Interrupted('sandbox start interrupted');
}

/** Reads postmaster.pid and checks the process is alive, as `pg_ctl status` does (without needing to run as the owner). */
async function runningPid(dataDir: string): Promise<number | undefined> {
  let text: string;
  try {
    text = await readFile(path.join(dataDir, 'postmaster.pid'), 'utf8');
  } catch {
    return undefined;
  }
  const pid = Number(text.split('\n')[0]);
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  try {
    process.kill(pid, 0);
    return pid;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM' ? pid : undefined;
  }
}

/**
 * Who runs pg_ctl for an existing sandbox: when we are root, the owner of the data directory
 * (initdb made it so), whatever sandbox.json says.
 */
async function runAsForExisting(l: Layout): Promise<{ uid: number; gid: number } | undefined> {
  if (!isRoot()) return undefined;
  const st = await stat(l.dataDir);
  if (st.uid === 0) {
    throw new ConfigError(`${l.dataDir} is owned by root; PostgreSQL refuses to run as root`, {
      hint: `Remove ${l.root} and run sandbox up again.`,
    });
  }
  return { uid: st.uid, gid: st.gid };
}

async function assertOwnDir(l: Layout, action: string): Promise<void> {
  let entries: string[];
  try {
    entries = await readdir(l.root);
  } catch {
    return;
  }
  const foreign = entries.filter((e) => !OWN_ENTRIES.has(e));
  if (foreign.length > 0) {
    throw new ConfigError(`refusing to ${action} ${l.root}: it holds files that are not a dbops sandbox`, {
      hint: `Found ${foreign.slice(0, 5).join(', ')}${foreign.length > 5 ? ', …' : ''}. Choose an empty or new --dir.`,
    });
  }
}

function toInfo(l: Layout, s: SandboxState, running: { pid?: number | undefined }): SandboxInfo {
  return {
    dir: l.root,
    dataDir: l.dataDir,
    socketDir: l.socketDir,
    host: '127.0.0.1',
    port: s.port,
    user: s.user,
    password: s.password,
    database: 'postgres',
    url: sandboxUrl(s.port, s.password),
    major: s.major,
    version: s.version,
    binDir: s.binDir,
    ...(s.osUser ? { osUser: s.osUser } : {}),
    running: running.pid !== undefined,
    ...(running.pid !== undefined ? { pid: running.pid } : {}),
  };
}

function assertSocketPathFits(l: Layout, port: number): void {
  const socket = path.join(l.socketDir, `.s.PGSQL.${port}`);
  if (Buffer.byteLength(socket) > MAX_SOCKET_PATH) {
    throw new ConfigError(`the sandbox directory path is too long for a Unix socket (${socket})`, {
      hint: 'Unix socket paths are limited to ~100 bytes; choose a shorter --dir such as /tmp/dbops-sandbox.',
    });
  }
}

/** Missing parents get 0755 (not the sandbox's 0700) so a non-root server user can pass through them. */
async function makeParents(dir: string): Promise<void> {
  const first = await mkdir(dir, { recursive: true, mode: 0o755 });
  if (first === undefined) return;
  for (let d = dir; d.length >= first.length; d = path.dirname(d)) {
    await chmod(d, 0o755);
    if (d === first) break;
  }
}

async function makeOwnedDir(dir: string, user: OsUser | undefined): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await chmod(dir, 0o700);
  if (user) await chown(dir, user.uid, user.gid);
}

async function initCluster(
  l: Layout,
  bins: ServerBinaries,
  user: OsUser | undefined,
  password: string,
  ctx: RunContext,
): Promise<void> {
  await makeOwnedDir(l.dataDir, user);
  await makeOwnedDir(l.socketDir, user);
  await makeOwnedDir(l.logDir, user);
  // The password goes to initdb in a 0600 file so it never shows in argv (ps, /proc/*/cmdline).
  const pwfile = path.join(l.socketDir, 'initdb.pw');
  await writeFile(pwfile, `${password}\n`, { mode: 0o600 });
  if (user) await chown(pwfile, user.uid, user.gid);
  try {
    const args = [
      '-D',
      l.dataDir,
      '-U',
      SUPERUSER,
      '--auth-local=trust',
      '--auth-host=scram-sha-256',
      `--pwfile=${pwfile}`,
      '-E',
      'UTF8',
      '--locale=C',
      // Checksums let physical-backup verification exercise them; --no-sync: a throwaway cluster
      // does not need initdb's final fsync of every file (the running server keeps fsync on).
      '--data-checksums',
      '--no-sync',
    ];
    const r = await runServerProgram(ctx, 'initdb', args);
    throwIfAborted(ctx.signal);
    if (r.exitCode !== 0) {
      throw new ToolError(`initdb failed (exit ${r.exitCode ?? r.signal})`, {
        tool: 'initdb',
        argv: args,
        ...(r.exitCode === undefined ? {} : { toolExitCode: r.exitCode }),
        stderrTail: String(r.all ?? '').slice(-4000),
        hint: `See the output above; remove ${l.root} before trying again.`,
      });
    }
  } finally {
    await rm(pwfile, { force: true });
  }
  const conf = path.join(l.dataDir, 'postgresql.conf');
  await appendFile(conf, "\n# dbops sandbox settings\ninclude_if_exists = 'dbops.conf'\n");
}

async function writeSandboxConf(
  l: Layout,
  bins: ServerBinaries,
  s: SandboxState,
  runAs: { uid: number; gid: number } | undefined,
): Promise<void> {
  const file = path.join(l.dataDir, 'dbops.conf');
  const text = sandboxConf({
    port: s.port,
    socketDir: l.socketDir,
    preloadStatStatements: await hasExtension(bins, 'pg_stat_statements'),
    settings: s.settings,
  });
  await writeFile(file, text, { mode: 0o600 });
  await chmod(file, 0o600);
  if (runAs) await chown(file, runAs.uid, runAs.gid);
}

async function startCluster(l: Layout, ctx: RunContext): Promise<number | undefined> {
  const args = ['-D', l.dataDir, '-l', l.logFile, '-w', '-t', '60', 'start'];
  const r = await runServerProgram(ctx, 'pg_ctl', args);
  throwIfAborted(ctx.signal);
  if (r.exitCode !== 0) {
    const tail = await logTail(l.logFile);
    throw new ToolError(
      `the sandbox PostgreSQL server did not start (pg_ctl exit ${r.exitCode ?? r.signal})`,
      {
        tool: 'pg_ctl',
        argv: args,
        ...(r.exitCode === undefined ? {} : { toolExitCode: r.exitCode }),
        stderrTail: [String(r.all ?? '').trim(), tail ? `--- ${l.logFile} (tail) ---\n${tail}` : '']
          .filter(Boolean)
          .join('\n'),
        hint: `Read ${l.logFile} for the server's reason.`,
      },
    );
  }
  return runningPid(l.dataDir);
}

function isBindFailure(err: unknown): boolean {
  return (
    err instanceof ToolError &&
    /could not (bind|create listen socket)|Address already in use/i.test(err.stderrTail)
  );
}

/** The binaries an existing sandbox was made with (its data directory only works with that major). */
async function binariesFor(s: SandboxState, logger: Logger): Promise<ServerBinaries> {
  const haveAll = async (dir: string) => {
    for (const p of SERVER_PROGRAMS) if (!(await exists(path.join(dir, p)))) return false;
    return true;
  };
  if (await haveAll(s.binDir)) {
    const v = await serverVersion(s.binDir);
    if (v.major === s.major) return { binDir: s.binDir, ...v };
  }
  const found = await findServerBinaries({ logger });
  if (found.major !== s.major) {
    throw new ToolError(`this sandbox was created with PostgreSQL ${s.major}, found only ${found.major}`, {
      tool: 'postgres',
      hint: `Install PostgreSQL ${s.major} server binaries (or set DBOPS_PG_BINDIR), or remove the sandbox and create a new one.`,
    });
  }
  return found;
}

/**
 * Creates (initdb) and starts a throwaway PostgreSQL cluster in `o.dir`, or just starts it when
 * the directory already holds one (reusing the port and password in sandbox.json).
 */
export async function sandboxUp(o: SandboxOptions): Promise<SandboxInfo> {
  const logger = o.logger ?? silentLogger;
  const l = layout(o.dir);
  throwIfAborted(o.signal);
  if (o.port !== undefined && (!Number.isInteger(o.port) || o.port < 1 || o.port > 65535)) {
    throw new ConfigError(`invalid port ${o.port}`);
  }

  const existing = await readState(l);
  if (existing) return restartExisting(l, existing, o, logger);

  await assertOwnDir(l, 'create a sandbox in');
  // An empty data directory is what an interrupted or failed initdb leaves behind: reuse it.
  if ((await readdir(l.dataDir).catch(() => [])).length > 0) {
    throw new ConfigError(
      `${l.dataDir} exists but ${l.stateFile} does not (a sandbox creation that failed?)`,
      {
        hint: `Remove ${l.root} and run sandbox up again.`,
      },
    );
  }
  // Validate settings and the port before anything is created on disk.
  sandboxConf({ port: 1, socketDir: l.socketDir, preloadStatStatements: false, settings: o.settings ?? {} });
  if (o.port !== undefined && !(await isPortFree(o.port))) {
    throw new ConfigError(`port ${o.port} on 127.0.0.1 is already in use`, {
      hint: 'Choose another port, or leave it out to let dbops pick a free one.',
    });
  }
  const bins = await findServerBinaries({ logger });
  const user = isRoot() ? await pickServerOsUser() : undefined;
  if (user) await assertAncestorsTraversable(l.root, user);
  await makeParents(path.dirname(l.root));
  await mkdir(l.root, { recursive: true, mode: 0o700 });
  await chmod(l.root, 0o700);
  if (user) await chown(l.root, user.uid, user.gid);

  let port = o.port ?? (await freePort());
  assertSocketPathFits(l, port);
  const password = randomBytes(24).toString('base64url');
  const runAs = user ? { uid: user.uid, gid: user.gid } : undefined;
  const ctx: RunContext = { binDir: bins.binDir, runAs, cwd: l.root, logger, signal: o.signal };

  const started = Date.now();
  logger.info('creating sandbox PostgreSQL cluster', {
    dir: l.root,
    version: bins.version,
    osUser: user?.name,
  });
  await initCluster(l, bins, user, password, ctx);
  const state: SandboxState = {
    format: 1,
    port,
    user: SUPERUSER,
    password,
    major: bins.major,
    version: bins.version,
    binDir: bins.binDir,
    ...(user ? { osUser: user.name } : {}),
    settings: o.settings ?? {},
    createdAt: new Date().toISOString(),
  };
  // A port picked by binding 0 can be taken by someone else before the server binds it: retry
  // with a fresh one, but never silently change a port the caller asked for.
  for (let attempt = 1; ; attempt++) {
    await writeSandboxConf(l, bins, state, runAs);
    await writeState(l, state);
    try {
      const pid = await startCluster(l, ctx);
      logger.info('sandbox PostgreSQL cluster started', { port, ms: Date.now() - started });
      return toInfo(l, state, { pid });
    } catch (err) {
      if (o.port !== undefined || attempt >= 3 || !isBindFailure(err)) throw err;
      port = await freePort();
      state.port = port;
      logger.warn('sandbox port was taken before the server bound it; retrying', { port });
    }
  }
}

async function restartExisting(
  l: Layout,
  state: SandboxState,
  o: SandboxOptions,
  logger: Logger,
): Promise<SandboxInfo> {
  const pid = await runningPid(l.dataDir);
  if (pid !== undefined) {
    if (o.port !== undefined && o.port !== state.port) {
      throw new ConfigError(`the sandbox in ${l.root} is already running on port ${state.port}`, {
        hint: 'Stop it first (sandbox down) to change its port.',
      });
    }
    logger.info('sandbox already running', { port: state.port, pid });
    return toInfo(l, state, { pid });
  }
  const bins = await binariesFor(state, logger);
  const runAs = await runAsForExisting(l);
  const next: SandboxState = {
    ...state,
    port: o.port ?? state.port,
    settings: o.settings ?? state.settings,
    binDir: bins.binDir,
    version: bins.version,
  };
  if (!(await isPortFree(next.port))) {
    throw new ConfigError(
      `port ${next.port} on 127.0.0.1 (recorded in ${l.stateFile}) is in use by another program`,
      {
        hint: 'Pass another port to move the sandbox there.',
      },
    );
  }
  assertSocketPathFits(l, next.port);
  await writeSandboxConf(l, bins, next, runAs);
  await writeState(l, next);
  const started = Date.now();
  const newPid = await startCluster(l, { binDir: bins.binDir, runAs, cwd: l.root, logger, signal: o.signal });
  logger.info('sandbox PostgreSQL cluster started', { port: next.port, ms: Date.now() - started });
  return toInfo(l, next, { pid: newPid });
}

/** The recorded sandbox in `dir` and whether its server runs; undefined when `dir` holds none. */
export async function sandboxStatus(dir: string): Promise<SandboxInfo | undefined> {
  const l = layout(dir);
  const state = await readState(l);
  if (!state) return undefined;
  return toInfo(l, state, { pid: await runningPid(l.dataDir) });
}

/** Stops the server (`pg_ctl stop -m fast`); `remove` then deletes the whole sandbox directory. */
export async function sandboxDown(
  dir: string,
  opts: { remove?: boolean; logger?: Logger } = {},
): Promise<void> {
  const logger = opts.logger ?? silentLogger;
  const l = layout(dir);
  if (!(await exists(l.root))) return;
  const state = await readState(l);
  if (!state && opts.remove) await assertOwnDir(l, 'remove');
  if ((await runningPid(l.dataDir)) !== undefined) {
    const binDir = state
      ? (await binariesFor(state, logger)).binDir
      : (await findServerBinaries({ logger })).binDir;
    const runAs = await runAsForExisting(l);
    const args = ['-D', l.dataDir, '-m', 'fast', '-w', '-t', '60', 'stop'];
    const r = await runServerProgram({ binDir, runAs, cwd: l.root, logger }, 'pg_ctl', args);
    if (r.exitCode !== 0 && (await runningPid(l.dataDir)) !== undefined) {
      throw new ToolError(
        `could not stop the sandbox PostgreSQL server (pg_ctl exit ${r.exitCode ?? r.signal})`,
        {
          tool: 'pg_ctl',
          argv: args,
          ...(r.exitCode === undefined ? {} : { toolExitCode: r.exitCode }),
          stderrTail: `${String(r.all ?? '').trim()}\n${await logTail(l.logFile)}`.trim(),
          hint: `Read ${l.logFile}.`,
        },
      );
    }
    logger.info('sandbox PostgreSQL cluster stopped', { dir: l.root });
  }
  if (opts.remove) {
    await assertOwnDir(l, 'remove');
    await rm(l.root, { recursive: true, force: true });
    logger.info('sandbox removed', { dir: l.root });
  }
}

/**
 * Runs `fn` against a fresh sandbox and always stops and deletes it afterwards (test-restores of
 * backups). `o.dir` must not exist or be empty, so the clean-up can never delete anything else.
 */
export async function withSandbox<T>(o: SandboxOptions, fn: (s: SandboxInfo) => Promise<T>): Promise<T> {
  const l = layout(o.dir);
  const entries = await readdir(l.root).catch(() => [] as string[]);
  if (entries.length > 0) {
    throw new ConfigError(`${l.root} is not empty; a throwaway sandbox needs a new or empty directory`);
  }
  const cleanUp = () => sandboxDown(o.dir, { remove: true, ...(o.logger ? { logger: o.logger } : {}) });
  let result: T;
  try {
    result = await fn(await sandboxUp(o));
  } catch (err) {
    // Never hide fn's own error behind a clean-up failure.
    await cleanUp().catch((cleanupErr: unknown) =>
      (o.logger ?? silentLogger).warn('could not remove the throwaway sandbox', {
        dir: l.root,
        error: (cleanupErr as Error).message,
      }),
    );
    throw err;
  }
  await cleanUp();
  return result;
}
