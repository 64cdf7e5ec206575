import { writeFile } from 'node:fs/promises';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';

import { seedDemo } from '../../../src/sandbox/seed-demo.js';
import { json, runDbops } from '../../support/cli.js';
import { createDatabase } from '../../support/pg.js';
import { CHAT_ANONYMIZE_YAML, writeConfig } from './fixtures.js';

let db: Awaited<ReturnType<typeof createDatabase>>;
let client: pg.Client;
let cfg: { dir: string; path: string };

async function configure(extra = '') {
  await writeFile(
    cfg.path,
    `targets:\n  main: { engine: postgres, url: "${db.url}" }\n${CHAT_ANONYMIZE_YAML}${extra}`,
  );
}
const check = (...args: string[]) => runDbops(['--config', cfg.path, ...args, 'anonymize', 'check']);

beforeAll(async () => {
  db = await createDatabase(inject('pgUrl'));
  await seedDemo(db.url, { messages: 500, users: 100 });
  client = new pg.Client({ connectionString: db.url });
  await client.connect();
  cfg = await writeConfig('');
  await configure();
});

afterAll(async () => {
  await client?.end();
  await db?.drop();
});

describe('anonymize check', () => {
  it('passes when every column is classified', async () => {
    const r = await check();
    expect(r.exitCode, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/ok: \d+\/\d+ columns classified/);
  });

  it('fails on a new phone_number column, names it, flags it as PII, in every format', async () => {
    await client.query('alter table users add column phone_number text');
    const r = await check('--format', 'json');
    expect(r.exitCode).toBe(1);
    expect(json<{ problems: unknown[] }>(r).problems).toEqual([
      expect.objectContaining({
        kind: 'unclassified',
        table: 'public.users',
        column: 'phone_number',
        pii: 'phone',
        suggestion: 'fake.phone',
      }),
    ]);
    const junit = await check('--format', 'junit');
    expect(junit.exitCode).toBe(1);
    expect(junit.stdout).toContain('name="phone_number"');
    const sarif = await check('--format', 'sarif');
    expect(JSON.parse(sarif.stdout).runs[0].results[0].ruleId).toBe('anonymize/unclassified');
    expect((await check('--format', 'github')).stdout).toMatch(
      /^::error title=anonymize unclassified::public\.users\.phone_number/m,
    );
    expect((await check('--format', 'markdown')).stdout).toContain('`public.users.phone_number`');
    expect((await check()).stdout).toContain('public.users.phone_number');
  });

  it('passes again once the column is classified', async () => {
    await writeFile(
      cfg.path,
      `targets:\n  main: { engine: postgres, url: "${db.url}" }\n${CHAT_ANONYMIZE_YAML.replace('        country: keep\n', '        country: keep\n        phone_number: fake.phone\n')}`,
    );
    expect((await check()).exitCode).toBe(0);
  });

  it('reports rules for missing columns and rules that do not fit', async () => {
    await writeFile(
      cfg.path,
      `targets:\n  main: { engine: postgres, url: "${db.url}" }\n${CHAT_ANONYMIZE_YAML.replace('        country: keep\n', '        country: keep\n        phone_number: fake.phone\n        no_such_column: keep\n').replace('        created_at: keep\n        last_seen_at', '        created_at: { rule: partial, keep: 2 }\n        last_seen_at')}`,
    );
    const r = await check('--format', 'json');
    expect(r.exitCode).toBe(1);
    const kinds = json<{ problems: { kind: string; column: string }[] }>(r).problems.map(
      (p) => `${p.kind}:${p.column}`,
    );
    expect(kinds).toEqual(expect.arrayContaining(['missing-column:no_such_column', 'bad-rule:created_at']));
  });

  it('an unknown strategy is a config error (exit 2)', async () => {
    await configure(`    extra:\n      columns: { a: scramble }\n`);
    const r = await check();
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(/anonymize\.tables\.extra/);
  });

  it('quotes identifiers with quotes and spaces', async () => {
    await client.query(`create table "Odd ""Name""" ("my col" text, "x"";drop table users;--" int)`);
    await writeFile(
      cfg.path,
      `targets:\n  main: { engine: postgres, url: "${db.url}" }\n${CHAT_ANONYMIZE_YAML.replace('        country: keep\n', '        country: keep\n        phone_number: fake.phone\n')}    '"Odd ""Name"""':\n      columns: { 'my col': fake.name, 'x";drop table users;--': keep }\n`,
    );
    const r = await check();
    expect(r.exitCode, r.stdout + r.stderr).toBe(0);
    expect((await client.query('select count(*) from users')).rows[0].count).not.toBe('0');
  });
});
