import { existsSync, realpathSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';

import type { ResolvedPostgresTarget } from '../../connections/target.js';
import { silentLogger, type Logger } from '../../logger.js';

export interface WalSetupOptions {
  target: ResolvedPostgresTarget;
  /** Config file the archive_command should pass (absolute path recommended). */
  configPath?: string;
  apply?: boolean;
  /** archive_timeout in seconds: the RPO ceiling on an idle server. */
  archiveTimeout?: number;
  /** Override the command prefix (default: this node + this dbops). */
  command?: string;
}

export interface SettingChange {
  name: string;
  current: string | null;
  wanted: string;
  changed: boolean;
  /** Takes effect only after a restart (context postmaster). */
  restart: boolean;
}

export interface WalSetupResult {
  target: string;
  applied: boolean;
  settings: SettingChange[];
  restartNeeded: boolean;
  /** `postgresql.conf` lines for copy and paste. */
  conf: string[];
}

/** POSIX shell quoting, only when needed (archive_command runs through /bin/sh). */
export function shellQuote(word: string): string {
  return /^[A-Za-z0-9_./:=@%+-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

/**
 * `DBOPS_NODE=<node> <bin/dbops> [--config FILE]` (then `wal push %p`): the shell entry, which
 * answers a call for a segment the background worker already archived without starting Node, told
 * which node to run (PostgreSQL's PATH may not have it). `<node> <script>` when there is no shell
 * entry beside the script (dbops run from its built files).
 */
export function dbopsCommandPrefix(configPath: string | undefined): string {
  let script = process.argv[1] ?? 'dbops';
  try {
    script = realpathSync(script);
  } catch {
    // keep what we were started as
  }
  const shellEntry = join(dirname(script), 'dbops');
  const viaShell = basename(script) === 'dbops.cjs' && existsSync(shellEntry);
  const parts = viaShell ? [shellEntry] : [process.execPath, script];
  if (configPath) parts.push('--config', resolve(configPath));
  const command = parts.map(shellQuote).join(' ');
  return viaShell ? `DBOPS_NODE=${shellQuote(process.execPath)} ${command}` : command;
}

function confLine(name: string, value: string): string {
  return `${name} = '${value.replace(/'/g, "''")}'`;
}

/**
 * The settings continuous archiving needs, compared with the server's; with `apply`, written with
 * ALTER SYSTEM and reloaded. wal_level and archive_mode need a restart, which dbops never does.
 */
export async function walSetup(o: WalSetupOptions, deps: { logger?: Logger } = {}): Promise<WalSetupResult> {
  const logger = deps.logger ?? silentLogger;
  const prefix = o.command ?? dbopsCommandPrefix(o.configPath);
  const wanted: Record<string, string> = {
    wal_level: 'replica',
    archive_mode: 'on',
    archive_command: `${prefix} wal push %p`,
    archive_timeout: String(o.archiveTimeout ?? 60),
  };
  const { withPostgres } = await import('../../connections/postgres/handle.js');
  const { quoteIdent, quoteLiteral } = await import('../../connections/postgres/quote.js');
  return withPostgres(
    o.target,
    async (pg) => {
      const { rows } = await pg.query<{
        name: string;
        setting: string;
        unit: string | null;
        context: string;
      }>('select name, setting, unit, context from pg_settings where name = any($1)', [Object.keys(wanted)]);
      const settings: SettingChange[] = Object.entries(wanted).map(([name, value]) => {
        const row = rows.find((r) => r.name === name);
        const current = row ? row.setting : null;
        const normalised = name === 'wal_level' && current === 'logical' ? 'replica' : current; // logical includes replica
        return {
          name,
          current,
          wanted: value,
          changed: normalised !== value,
          restart: row?.context === 'postmaster',
        };
      });
      if (o.apply) {
        for (const s of settings.filter((x) => x.changed)) {
          // ALTER SYSTEM takes no parameters: the name is an identifier, the value a quoted literal.
          await pg.query(`alter system set ${quoteIdent(s.name)} = ${quoteLiteral(s.wanted)}`);
          logger.info(`set ${s.name}`, { value: s.wanted });
        }
        await pg.query('select pg_reload_conf()');
      }
      return {
        target: o.target.name,
        applied: Boolean(o.apply),
        settings,
        restartNeeded: settings.some((s) => s.changed && s.restart),
        conf: settings.map((s) => confLine(s.name, s.wanted)),
      };
    },
    { logger, maxConnections: 1 },
  );
}
