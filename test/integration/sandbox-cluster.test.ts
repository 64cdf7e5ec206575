import { chmod, mkdtemp, rm, stat } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';

import { configSchema } from '../../src/config/schema.js';
import { ConfigError, ToolError } from '../../src/errors.js';
import type { SandboxInfo } from '../../src/sandbox/index.js';
import {
  DEMO_TABLES,
  sandboxConfigYaml,
  sandboxDown,
  sandboxStatus,
  sandboxUp,
  seedDemo,
  withSandbox,
} from '../../src/sandbox/index.js';
import { createDatabase, withClient } from '../support/pg.js';

function acceptsConnections(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host: '127.0.0.1' });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

async function exists(p: string): Promise<boolean> {
  return stat(p).then(
    () => true,
    () => false,
  );
}

describe('sandbox cluster', () => {
  let parent: string;
  let dir: string;
  let info: SandboxInfo;

  beforeAll(async () => {
    parent = await mkdtemp(path.join(tmpdir(), 'dbops-sbx-'));
    // mkdtemp makes 0700 directories; as root the server runs as another OS user that must enter it.
    await chmod(parent, 0o711);
    dir = path.join(parent, 'pg');
    const t = Date.now();
    info = await sandboxUp({ dir });
    console.log(`sandbox initdb+start: ${Date.now() - t} ms (PostgreSQL ${info.version})`);
  });

  afterAll(async () => {
    await sandboxDown(dir, { remove: true }).catch(() => {});
    await rm(parent, { recursive: true, force: true });
  });

  it('reports what it started', async () => {
    expect(info.running).toBe(true);
    expect(info.pid).toBeGreaterThan(0);
    expect(info.host).toBe('127.0.0.1');
    expect(info.user).toBe('dbops');
    expect(info.url).toBe(
      `postgresql://dbops:${encodeURIComponent(info.password)}@127.0.0.1:${info.port}/postgres`,
    );
    expect(info.dataDir).toBe(path.join(dir, 'data'));
    expect(info.socketDir).toBe(path.join(dir, 'run'));
    if (process.getuid?.() === 0) expect(info.osUser).toMatch(/^(postgres|nobody)$/);
    const state = await stat(path.join(dir, 'sandbox.json'));
    expect(state.mode & 0o777).toBe(0o600);
    expect(await exists(path.join(dir, 'log', 'postgresql.log'))).toBe(true);
    expect(await exists(path.join(dir, 'run', `.s.PGSQL.${info.port}`))).toBe(true);
  });

  it('accepts the password over TCP and applies the settings', async () => {
    await withClient(info.url, async (c) => {
      const r = await c.query<{ wal_level: string; senders: string; listen: string; user: string }>(
        `SELECT current_setting('wal_level') AS wal_level, current_setting('max_wal_senders') AS senders,
                current_setting('listen_addresses') AS listen, current_user AS user`,
      );
      expect(r.rows[0]).toEqual({ wal_level: 'replica', senders: '10', listen: '127.0.0.1', user: 'dbops' });
      const ssl = await c.query<{ v: string }>(`SELECT current_setting('shared_preload_libraries') AS v`);
      expect(['', 'pg_stat_statements']).toContain(ssl.rows[0]?.v);
    });
  });

  it('refuses a wrong password', async () => {
    const client = new pg.Client({
      host: '127.0.0.1',
      port: info.port,
      user: 'dbops',
      password: 'wrong',
      database: 'postgres',
    });
    await expect(client.connect()).rejects.toThrow(/password authentication failed/);
    await client.end().catch(() => {});
  });

  it('is idempotent and reports status', async () => {
    const again = await sandboxUp({ dir });
    expect(again.port).toBe(info.port);
    expect(again.password).toBe(info.password);
    expect(again.pid).toBe(info.pid);
    const status = await sandboxStatus(dir);
    expect(status?.running).toBe(true);
    expect(status?.pid).toBe(info.pid);
    expect(await sandboxStatus(path.join(parent, 'nothing-here'))).toBeUndefined();
  });

  it('seeds the chat demo schema', async () => {
    const db = await createDatabase(info.url);
    try {
      const t = Date.now();
      const { tables } = await seedDemo(db.url, {
        messages: 5000,
        seed: 7,
        now: new Date('2025-06-01T00:00:00Z'),
      });
      console.log(`seed 5k messages: ${Date.now() - t} ms`, tables);
      expect(Object.keys(tables).sort()).toEqual([...DEMO_TABLES].sort());
      expect(tables.messages).toBe(5000);
      expect(tables.users).toBe(100);
      expect(tables.rooms).toBe(10);
      expect(tables.audit_log).toBe(500);
      expect(tables.user_sessions).toBe(300);
      expect(tables.room_members).toBeGreaterThan(100);
      expect(tables.user_relationships).toBeGreaterThan(150);

      await withClient(db.url, async (c) => {
        const cols = await c.query<{ table_name: string; column_name: string; data_type: string }>(
          `SELECT table_name, column_name, data_type FROM information_schema.columns
           WHERE table_schema = 'public' ORDER BY table_name, ordinal_position`,
        );
        const byTable = (t: string) => cols.rows.filter((r) => r.table_name === t).map((r) => r.column_name);
        expect(byTable('users')).toEqual([
          'id', 'email', 'username', 'display_name', 'phone', 'date_of_birth', 'country', 'created_at',
          'last_seen_at', 'settings',
        ]); // prettier-ignore
        expect(byTable('messages')).toEqual([
          'id', 'room_id', 'user_id', 'body', 'attachments', 'created_at', 'edited_at',
        ]); // prettier-ignore
        expect(byTable('user_sessions')).toContain('expires_at');

        const fks = await c.query<{ conname: string }>(
          `SELECT conname FROM pg_constraint WHERE contype = 'f' AND connamespace = 'public'::regnamespace ORDER BY 1`,
        );
        expect(fks.rows.map((r) => r.conname)).toContain('messages_user_id_fkey');
        const idx = await c.query<{ indexname: string }>(
          `SELECT indexname FROM pg_indexes WHERE schemaname = 'public'`,
        );
        expect(idx.rows.map((r) => r.indexname)).toEqual(
          expect.arrayContaining([
            'messages_room_id_created_at_idx',
            'messages_user_id_idx',
            'users_email_key',
          ]),
        );

        const shape = await c.query<Record<string, string | boolean>>(
          `
          SELECT (SELECT min(created_at) >= $1::timestamptz - interval '3 years 1 day' FROM messages) AS msgs_in_3y,
                 (SELECT count(*) FILTER (WHERE attachments IS NULL) FROM messages) AS no_att,
                 (SELECT count(*) FILTER (WHERE jsonb_typeof(attachments) = 'array') FROM messages) AS att,
                 (SELECT bool_and(attachments->0 ? 'url' AND attachments->0 ? 'size' AND attachments->0 ? 'type')
                    FROM messages WHERE attachments IS NOT NULL) AS att_shape,
                 (SELECT count(*) FROM user_sessions WHERE expires_at < $1) AS expired,
                 (SELECT count(*) FROM audit_log WHERE created_at < $1::timestamptz - interval '7 years') AS old_audit,
                 (SELECT count(*) FROM messages m
                    WHERE NOT EXISTS (SELECT 1 FROM room_members rm WHERE rm.room_id = m.room_id AND rm.user_id = m.user_id))
                   AS non_member_msgs,
                 (SELECT count(DISTINCT kind) FROM user_relationships) AS kinds,
                 (SELECT count(*) FROM pg_stats WHERE schemaname = 'public' AND tablename = 'messages') AS analyzed`,
          ['2025-06-01T00:00:00Z'],
        );
        const s = shape.rows[0]!;
        expect(s.msgs_in_3y).toBe(true);
        expect(Number(s.no_att)).toBeGreaterThan(3500);
        expect(Number(s.att)).toBeGreaterThan(300);
        expect(s.att_shape).toBe(true);
        expect(Number(s.expired)).toBeGreaterThan(30);
        expect(Number(s.expired)).toBeLessThan(270);
        expect(Number(s.old_audit)).toBeGreaterThan(20);
        expect(Number(s.non_member_msgs)).toBe(0);
        expect(Number(s.kinds)).toBe(2);
        expect(Number(s.analyzed)).toBeGreaterThan(0);
      });

      // Same seed and same "now" → identical rows; existing tables are refused unless replace.
      const digest = () =>
        withClient(
          db.url,
          async (c) =>
            (
              await c.query<{ h: string }>(
                `SELECT md5(string_agg(m::text, '|' ORDER BY id)) ||
                      (SELECT md5(string_agg(u::text, '|' ORDER BY id)) FROM users u) ||
                      (SELECT md5(string_agg(s::text, '|' ORDER BY id)) FROM user_sessions s) AS h FROM messages m`,
              )
            ).rows[0]!.h,
        );
      const first = await digest();
      await expect(seedDemo(db.url, { messages: 5000, seed: 7 })).rejects.toBeInstanceOf(ConfigError);
      await seedDemo(db.url, {
        messages: 5000,
        seed: 7,
        now: new Date('2025-06-01T00:00:00Z'),
        replace: true,
      });
      expect(await digest()).toBe(first);
      await seedDemo(db.url, {
        messages: 5000,
        seed: 8,
        now: new Date('2025-06-01T00:00:00Z'),
        replace: true,
      });
      expect(await digest()).not.toBe(first);
    } finally {
      await db.drop();
    }
  });

  it('writes a config file the config schema accepts', () => {
    const text = sandboxConfigYaml(info, { repositoryPath: path.join(parent, 'backups') });
    const parsed = configSchema.parse(parse(text));
    expect(parsed.targets.sandbox).toMatchObject({ engine: 'postgres', url: info.url });
    expect(parsed.repositories.default).toMatchObject({ type: 'local', path: path.join(parent, 'backups') });
  });

  it('refuses a port that is in use', async () => {
    await expect(sandboxUp({ dir: path.join(parent, 'other'), port: info.port })).rejects.toThrow(
      /already in use/,
    );
    expect(await exists(path.join(parent, 'other', 'data'))).toBe(false);
  });

  it('stops, and starts again with the same port and password', async () => {
    await sandboxDown(dir);
    expect(await acceptsConnections(info.port)).toBe(false);
    const status = await sandboxStatus(dir);
    expect(status?.running).toBe(false);
    expect(status?.pid).toBeUndefined();

    const again = await sandboxUp({ dir });
    expect(again.port).toBe(info.port);
    expect(again.running).toBe(true);
    await withClient(again.url, async (c) =>
      expect((await c.query('SELECT 1 AS one')).rows[0]).toEqual({ one: 1 }),
    );
    await sandboxDown(dir, { remove: true });
    expect(await exists(dir)).toBe(false);
  });

  it('withSandbox removes the cluster even when fn throws', async () => {
    const tmp = path.join(parent, 'throwaway');
    let seen: SandboxInfo | undefined;
    await expect(
      withSandbox({ dir: tmp }, async (s) => {
        seen = s;
        await withClient(s.url, (c) => c.query('CREATE TABLE t (x int)'));
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect(seen?.running).toBe(true);
    expect(await exists(tmp)).toBe(false);
    expect(await acceptsConnections(seen!.port)).toBe(false);

    // Missing parents are created traversable (0755) for a non-root server user.
    const deep = path.join(parent, 'new', 'parents', 'pg');
    const n = await withSandbox({ dir: deep, settings: { work_mem: '8MB' } }, (s) =>
      withClient(
        s.url,
        async (c) => (await c.query<{ w: string }>(`SELECT current_setting('work_mem') AS w`)).rows[0]!.w,
      ),
    );
    expect(n).toBe('8MB');
    expect(await exists(deep)).toBe(false);
    expect(await exists(path.dirname(deep))).toBe(true);
  });

  it('shows the server log when the server does not start, and withSandbox still cleans up', async () => {
    const tmp = path.join(parent, 'broken');
    const err = await withSandbox({ dir: tmp, settings: { shared_buffers: 'lots' } }, async () => 1).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ToolError);
    expect((err as ToolError).exitCode).toBe(4);
    expect((err as ToolError).stderrTail).toMatch(/shared_buffers/);
    expect(await exists(tmp)).toBe(false);
  });

  it.runIf(process.getuid?.() === 0)('refuses a directory the server OS user cannot enter', async () => {
    const closed = await mkdtemp(path.join(tmpdir(), 'dbops-closed-')); // 0700, owned by root
    try {
      const err = await sandboxUp({ dir: path.join(closed, 'pg') }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as ConfigError).message).toContain(closed);
      expect((err as ConfigError).hint).toContain('--dir /tmp/');
      expect(await exists(path.join(closed, 'pg'))).toBe(false);
    } finally {
      await rm(closed, { recursive: true, force: true });
    }
  });
});
