import { describe, expect, it } from 'vitest';

import { parseConfig } from '../../src/config/load.js';
import { quoteIdent, quoteQualified, splitQualified } from '../../src/connections/postgres/quote.js';
import { redactTree, redactUrl } from '../../src/connections/redact.js';
import { resolveTarget } from '../../src/connections/target.js';
import { postgresToolEnv } from '../../src/connections/tool-env.js';
import { ConfigError } from '../../src/errors.js';

describe('quoting', () => {
  it('quotes identifiers so no name can inject SQL', () => {
    expect(quoteIdent('users')).toBe('"users"');
    expect(quoteIdent('we"ird name')).toBe('"we""ird name"');
    expect(quoteIdent('x"; drop table users; --')).toBe('"x""; drop table users; --"');
    expect(quoteQualified('public.users')).toBe('"public"."users"');
    expect(splitQualified('"my.schema"."a""b"')).toEqual({ schema: 'my.schema', name: 'a"b' });
  });
});

describe('redaction', () => {
  it('never prints a URL password', () => {
    expect(redactUrl('postgresql://app:hunter22@db:5432/app')).toBe('postgresql://app:****@db:5432/app');
    expect(redactUrl('postgresql://app@db/app?password=hunter33')).not.toContain('hunter33');
    const tree = redactTree({
      url: 'postgresql://u:pw-abcdef@h/d',
      secretAccessKey: 'AKIAXXXX',
      bucket: 'b',
    });
    expect(JSON.stringify(tree)).not.toMatch(/pw-abcdef|AKIAXXXX/);
    expect(tree).toMatchObject({ bucket: 'b' });
  });
});

describe('target resolution', () => {
  const config = parseConfig(
    {
      targets: {
        main: { engine: 'postgres', url: 'postgresql://a@h/db' },
        chat: { engine: 'mongodb', url: 'mongodb://h/chat' },
      },
    },
    'f',
  );

  it('picks --url, then --target', () => {
    expect(resolveTarget(config, { url: 'mongodb://x/y' })).toMatchObject({ engine: 'mongodb', name: 'url' });
    expect(resolveTarget(config, { target: 'chat' })).toMatchObject({ engine: 'mongodb', name: 'chat' });
  });

  it('asks for --target when several exist, and lists them for an unknown name', () => {
    expect(() => resolveTarget(config, {})).toThrow(ConfigError);
    expect(() => resolveTarget(config, { target: 'nope' })).toThrow(/no target named "nope"/);
  });

  it('falls back to DATABASE_URL and the PG* environment without a config', () => {
    const empty = parseConfig({}, undefined);
    expect(resolveTarget(empty, {}, { DATABASE_URL: 'postgresql://e/db' })).toMatchObject({
      url: 'postgresql://e/db',
    });
    expect(resolveTarget(empty, {}, { PGHOST: 'x' })).toMatchObject({ engine: 'postgres', url: undefined });
    expect(() => resolveTarget(empty, {}, {})).toThrow(/no database target/);
  });

  it('builds a child-tool environment that carries the password outside argv', () => {
    const target = resolveTarget(config, {
      url: 'postgresql://app:p%40ss@db.example:6543/shop?sslmode=require',
    });
    if (target.engine !== 'postgres') throw new Error('engine');
    expect(postgresToolEnv(target)).toMatchObject({
      PGHOST: 'db.example',
      PGPORT: '6543',
      PGUSER: 'app',
      PGPASSWORD: 'p@ss',
      PGDATABASE: 'shop',
      PGSSLMODE: 'require',
    });
  });
});
