import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';

import { parseConfigText } from '../../../src/config/load.js';
import type { Config } from '../../../src/config/schema.js';
import { resolveTarget } from '../../../src/connections/index.js';
import { anonymizeSubject } from '../../../src/commands/anonymize/index.js';
import { listErasures } from '../../../src/commands/anonymize/ledger.js';
import { reapplyErasures } from '../../../src/commands/anonymize/reapply.js';
import { openRepository } from '../../../src/storage/index.js';
import { seedDemo } from '../../../src/sandbox/seed-demo.js';
import { json, runDbops } from '../../support/cli.js';
import { createDatabase } from '../../support/pg.js';
import { CHAT_ANONYMIZE_YAML, writeConfig } from './fixtures.js';

const env = { TEST_ANON_SECRET: 'subject-test-secret-1' };
let db: Awaited<ReturnType<typeof createDatabase>>;
let client: pg.Client;
let config: Config;
let cfgFile: { dir: string; path: string };
let subjectId: string;

function yamlFor(url: string, repo: string): string {
  return `targets:\n  main: { engine: postgres, url: "${url}" }\nrepositories:\n  local: { type: local, path: "${repo}" }\n${CHAT_ANONYMIZE_YAML}`;
}

async function checksums(except: string): Promise<Record<string, string>> {
  const q = async (sql: string) => (await client.query<{ h: string }>(sql, [except])).rows[0]!.h;
  return {
    users: await q(
      `select md5(string_agg(t::text, '|' order by t.id)) as h from users t where id <> $1::bigint`,
    ),
    messages: await q(
      `select md5(string_agg(t::text, '|' order by t.id)) as h from messages t where user_id <> $1::bigint`,
    ),
    sessions: await q(
      `select md5(string_agg(t::text, '|' order by t.id)) as h from user_sessions t where user_id <> $1::bigint`,
    ),
    rel: await q(
      `select md5(string_agg(t::text, '|' order by t.from_user_id, t.to_user_id)) as h from user_relationships t
        where from_user_id <> $1::bigint and to_user_id <> $1::bigint`,
    ),
    members: await q(
      `select md5(string_agg(t::text, '|' order by t.room_id, t.user_id)) as h from room_members t where user_id <> $1::bigint`,
    ),
  };
}

async function subjectRows(id: string) {
  const one = async (sql: string) => (await client.query(sql, [id])).rows;
  return {
    user: (await one('select * from users where id = $1::bigint'))[0],
    messages: await one('select body, attachments from messages where user_id = $1::bigint'),
    sessions: await one('select 1 from user_sessions where user_id = $1::bigint'),
    rel: await one(
      'select 1 from user_relationships where from_user_id = $1::bigint or to_user_id = $1::bigint',
    ),
    members: await one('select 1 from room_members where user_id = $1::bigint'),
  };
}

beforeAll(async () => {
  db = await createDatabase(inject('pgUrl'));
  await seedDemo(db.url, { messages: 3000, users: 120 });
  client = new pg.Client({ connectionString: db.url });
  await client.connect();
  cfgFile = await writeConfig('');
  const text = yamlFor(db.url, join(cfgFile.dir, 'repo'));
  const { writeFile } = await import('node:fs/promises');
  await writeFile(cfgFile.path, text);
  config = parseConfigText(text, cfgFile.path);
  const top = await client.query<{ user_id: string }>(
    'select user_id::text from messages group by user_id order by count(*) desc, user_id limit 1',
  );
  subjectId = top.rows[0]!.user_id;
});

afterAll(async () => {
  await client?.end();
  await db?.drop();
});

describe('anonymize subject (PostgreSQL)', () => {
  it('dry-run reports counts and samples and changes nothing', async () => {
    const before = await subjectRows(subjectId);
    const receipt = await anonymizeSubject({
      target: resolveTarget(config, { target: 'main' }),
      config: config.anonymize!,
      subjectId,
      dryRun: true,
      env,
    });
    expect(receipt.dryRun).toBe(true);
    const messages = receipt.tables.find((t) => t.table === 'public.messages')!;
    expect(messages.matched).toBe(before.messages.length);
    expect(messages.sample?.[0]?.find((c) => c.column === 'body')?.after).toBe('[deleted]');
    expect(receipt.auditId).toBeNull();
    expect(await subjectRows(subjectId)).toEqual(before);
  });

  it('a failure on the last table rolls back every table', async () => {
    const before = await subjectRows(subjectId);
    // Fake e-mails are example.* addresses: this constraint makes the root table (processed last) fail.
    await client.query(
      `alter table users add constraint no_example_mail check (email not like '%@example.%') not valid`,
    );
    try {
      await expect(
        anonymizeSubject({
          target: resolveTarget(config, { target: 'main' }),
          config: config.anonymize!,
          subjectId,
          env,
        }),
      ).rejects.toThrow(/rolled back/);
    } finally {
      await client.query('alter table users drop constraint no_example_mail');
    }
    expect(await subjectRows(subjectId)).toEqual(before);
  });

  it('erases the subject through the CLI, leaves every other row byte-identical, writes audit, receipt and ledger', async () => {
    const others = await checksums(subjectId);
    const original = (await subjectRows(subjectId)).user as Record<string, unknown>;
    const receiptPath = join(cfgFile.dir, 'receipt.json');
    const r = await runDbops(
      [
        '--config',
        cfgFile.path,
        '--format',
        'json',
        '--yes',
        'anonymize',
        'subject',
        subjectId,
        '--reason',
        'GDPR art. 17 ticket 42',
        '--receipt',
        receiptPath,
      ],
      { env },
    );
    expect(r.exitCode, r.stderr).toBe(0);
    const receipt = json<{
      totals: { changed: number };
      auditId: string;
      tables: { table: string; changed: number }[];
      ledger: { key: string };
    }>(r);
    expect(receipt.totals.changed).toBeGreaterThan(0);
    expect(JSON.parse(await readFile(receiptPath, 'utf8'))).toEqual(receipt);

    const after = await subjectRows(subjectId);
    const user = after.user as Record<string, unknown>;
    expect(user.email).not.toBe(original.email);
    expect(String(user.email)).toMatch(/@example\.(com|org|net)$/);
    expect(user.username).not.toBe(original.username);
    expect(user.display_name).not.toBe(original.display_name);
    if (original.phone) expect(String(user.phone)).toMatch(/^\*+\d{4}$/);
    expect(after.messages.every((m) => m.body === '[deleted]' && m.attachments === null)).toBe(true);
    expect(after.sessions).toHaveLength(0);
    expect(after.rel).toHaveLength(0);
    expect(after.members).toHaveLength(0);
    expect(await checksums(subjectId)).toEqual(others);

    const audit = await client.query('select * from dbops_anonymize_audit where id = $1::bigint', [
      receipt.auditId,
    ]);
    expect(audit.rows[0]).toMatchObject({
      operation: 'ANONYMIZE',
      subject_kind: 'users',
      reason: 'GDPR art. 17 ticket 42',
    });
    expect(JSON.stringify(audit.rows[0])).not.toContain(String(original.email));

    const repo = await openRepository('local', config.repositories.local!);
    try {
      const entries = await listErasures(repo, 'main');
      expect(entries.map((e) => e.subjectRef)).toContain(audit.rows[0].subject_ref);
    } finally {
      await repo.close();
    }
  });

  it('a second run changes nothing', async () => {
    const before = await client.query("select md5(string_agg(t::text, '|' order by t.id)) as h from users t");
    const receipt = await anonymizeSubject({
      target: resolveTarget(config, { target: 'main' }),
      config: config.anonymize!,
      subjectId,
      env,
    });
    expect(receipt.totals.changed).toBe(0);
    const after = await client.query("select md5(string_agg(t::text, '|' order by t.id)) as h from users t");
    expect(after.rows[0]).toEqual(before.rows[0]);
  });

  it('a subject that does not exist: exit 0, zero counts and a warning', async () => {
    const receipt = await anonymizeSubject({
      target: resolveTarget(config, { target: 'main' }),
      config: config.anonymize!,
      subjectId: '99999999',
      env,
    });
    expect(receipt.totals).toEqual({ matched: 0, changed: 0 });
    expect(receipt.warnings.join()).toMatch(/no rows of this subject/);
  });

  it('a subject id that does not fit the key type is a clear error (exit 2)', async () => {
    const r = await runDbops(['--config', cfgFile.path, '--yes', 'anonymize', 'subject', 'not-a-number'], {
      env,
    });
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(/does not fit the key column/);
  });

  it('erasing a subject with 1,000+ messages takes well under a second', async () => {
    const top = await client.query<{ user_id: string; n: string }>(
      'select user_id::text, count(*) as n from messages where user_id <> $1::bigint group by user_id order by 2 desc limit 1',
      [subjectId],
    );
    const t = Date.now();
    const receipt = await anonymizeSubject({
      target: resolveTarget(config, { target: 'main' }),
      config: config.anonymize!,
      subjectId: top.rows[0]!.user_id,
      env,
    });
    expect(receipt.totals.changed).toBeGreaterThan(0);
    expect(Date.now() - t).toBeLessThan(3000);
  });

  it('re-applies recorded erasures after a restore brings the subject back', async () => {
    // A restore of an older backup, simulated: the erased user's identity is back.
    await client.query(
      `update users set email = 'back-from-backup@orig.test', display_name = 'Restored Person' where id = $1::bigint`,
      [subjectId],
    );
    const since = new Date(Date.now() - 3_600_000);
    const repo = await openRepository('local', config.repositories.local!);
    try {
      const r = await reapplyErasures(resolveTarget(config, { target: 'main' }), repo, {
        config: config.anonymize,
        since,
        env,
      });
      expect(r.reapplied).toHaveLength(1);
      expect(r.reapplied[0]!.changed).toBeGreaterThan(0);
    } finally {
      await repo.close();
    }
    const user = (await subjectRows(subjectId)).user as { email: string; display_name: string };
    expect(user.email).not.toBe('back-from-backup@orig.test');
    expect(user.display_name).not.toBe('Restored Person');
  });
});
