import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { inject } from 'vitest';

import { runDbops, json, type CliResult } from '../../support/cli.js';
import { createDatabase, databaseUrl, withClient } from '../../support/pg.js';
import { seedDemo } from '../../../src/sandbox/seed-demo.js';
import { generateIdentity, identityToRecipient } from '../../../src/streams/encrypt.js';
import { USER_TABLES_SQL } from '../../../src/commands/backup/postgres/row-counts.js';

export interface BackupWorld {
  dir: string;
  configFile: string;
  db: { name: string; url: string; drop(): Promise<void> };
  identityFile: string;
  recipient: string;
  s3Prefix: string;
  dbops(args: string[], env?: Record<string, string>): Promise<CliResult>;
  cleanup(): Promise<void>;
}

export interface WorldOptions {
  messages?: number;
  /** Extra YAML appended to the config (more repositories…). */
  extraRepositories?: string;
  s3MaxAttempts?: number;
}

/** A seeded database, an age key pair, and a config with a local and an S3 repository. */
export async function backupWorld(o: WorldOptions = {}): Promise<BackupWorld> {
  const dir = await mkdtemp(join(tmpdir(), 'dbops-backup-it-'));
  const db = await createDatabase(inject('pgUrl'));
  await seedDemo(db.url, { messages: o.messages ?? 5000, now: new Date('2024-06-01T00:00:00Z') });
  const identity = await generateIdentity();
  const recipient = await identityToRecipient(identity);
  const identityFile = join(dir, 'key.txt');
  await writeFile(identityFile, `# test key\n${identity}\n`, { mode: 0o600 });
  const s3 = inject('s3');
  const s3Prefix = `${db.name}/`;
  const configFile = join(dir, 'dbops.config.yaml');
  await writeFile(
    configFile,
    `targets:
  main:
    engine: postgres
    url: ${JSON.stringify(db.url)}
  restore:
    engine: postgres
    url: ${JSON.stringify(inject('pgUrl'))}
defaultTarget: main
repositories:
  local:
    type: local
    path: ${JSON.stringify(join(dir, 'repo'))}
  s3:
    type: s3
    bucket: ${s3.bucket}
    prefix: ${s3Prefix}
    endpoint: ${s3.endpoint}
    accessKeyId: ${s3.accessKeyId}
    secretAccessKey: ${s3.secretAccessKey}
    maxAttempts: ${o.s3MaxAttempts ?? 3}
${o.extraRepositories ?? ''}defaultRepository: local
encryption:
  recipients: [${recipient}]
  identityFile: ${JSON.stringify(identityFile)}
`,
    { mode: 0o600 },
  );
  return {
    dir,
    configFile,
    db,
    identityFile,
    recipient,
    s3Prefix,
    dbops: (args, env) => runDbops(['--config', configFile, ...args], { cwd: dir, ...(env ? { env } : {}) }),
    cleanup: async () => {
      await db.drop().catch(() => {});
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** `schema.table` → [row count, md5 of every row's text in a stable order]. */
export async function tableFingerprints(url: string): Promise<Record<string, [number, string]>> {
  return withClient(url, async (c: pg.Client) => {
    const { rows } = await c.query<{ schema: string; name: string }>(USER_TABLES_SQL);
    const out: Record<string, [number, string]> = {};
    for (const t of rows) {
      const q = `"${t.schema}"."${t.name}"`;
      const r = await c.query<{ n: string; md5: string | null }>(
        `select count(*)::text as n, md5(string_agg(t::text, '' order by t::text)) as md5 from ${q} t`,
      );
      out[`${t.schema}.${t.name}`] = [Number(r.rows[0]!.n), r.rows[0]!.md5 ?? ''];
    }
    return out;
  });
}

/**
 * Everything but the rows, as a restore must reproduce it: relations with their kind, comment and
 * privileges, functions, views, constraints, triggers, sequence positions and large objects.
 */
export async function schemaFingerprint(url: string): Promise<Record<string, string | null>> {
  return withClient(url, async (c: pg.Client) => {
    const { rows } = await c.query<Record<string, string | null>>(`
      select
        (select string_agg(c.relname || ':' || c.relkind::text || ':' || coalesce(obj_description(c.oid, 'pg_class'), '')
                || ':' || coalesce(c.relacl::text, ''), ',' order by c.relname)
           from pg_class c where c.relnamespace = 'public'::regnamespace) as relations,
        (select string_agg(p.proname || ':' || md5(p.prosrc), ',' order by p.proname)
           from pg_proc p where p.pronamespace = 'public'::regnamespace) as functions,
        (select string_agg(c.relname || ':' || pg_get_viewdef(c.oid), ',' order by c.relname)
           from pg_class c where c.relnamespace = 'public'::regnamespace and c.relkind = 'v') as views,
        (select string_agg(conname || ':' || pg_get_constraintdef(oid), ',' order by conname)
           from pg_constraint where connamespace = 'public'::regnamespace) as constraints,
        (select string_agg(tgname || ':' || pg_get_triggerdef(oid), ',' order by tgname)
           from pg_trigger where not tgisinternal) as triggers,
        (select string_agg(sequencename || ':' || coalesce(last_value::text, '-'), ',' order by sequencename)
           from pg_sequences where schemaname = 'public') as sequences,
        (select string_agg(oid::text || ':' || md5(lo_get(oid)), ',' order by oid)
           from pg_largeobject_metadata) as large_objects`);
    return rows[0]!;
  });
}

export async function databaseExists(name: string): Promise<boolean> {
  return withClient(
    inject('pgUrl'),
    async (c) => (await c.query('select 1 from pg_database where datname = $1', [name])).rowCount === 1,
  );
}

export async function dropDatabase(name: string): Promise<void> {
  await withClient(inject('pgUrl'), (c) => c.query(`drop database if exists "${name}" with (force)`));
}

export function restoredUrl(name: string): string {
  return databaseUrl(inject('pgUrl'), name);
}

export { json };

/** Fails with the CLI's stderr when the exit code is not the expected one. */
export function expectExit(r: CliResult, code: number): CliResult {
  if (r.exitCode !== code) {
    throw new Error(`expected exit ${code}, got ${r.exitCode}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`);
  }
  return r;
}
