import { describe, expect, it } from 'vitest';

import { ToolError } from '../../src/errors.js';
import { confValue, sandboxConf, sandboxUrl } from '../../src/sandbox/cluster.js';
import { sandboxConfigYaml } from '../../src/sandbox/config-file.js';
import { ancestorsOf, canTraverse, parseIdOutput } from '../../src/sandbox/os-user.js';
import { findServerBinaries, installHint } from '../../src/sandbox/server-binaries.js';
import { binDirCandidates, newestFirst } from '../../src/tools/search-path.js';
import { parsePostgresToolVersion } from '../../src/tools/versions.js';
import type { SandboxInfo } from '../../src/sandbox/index.js';

describe('parsePostgresToolVersion', () => {
  it.each([
    ['initdb (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)', 15, '15.18'],
    ['initdb (PostgreSQL) 16.4 (Homebrew)', 16, '16.4'],
    ['postgres (PostgreSQL) 17beta2', 17, '17beta2'],
    ['initdb (PostgreSQL) 18devel', 18, '18devel'],
    ['initdb (PostgreSQL) 9.6.24', 9, '9.6.24'],
  ])('%s', (text, major, version) => {
    expect(parsePostgresToolVersion(text)).toEqual({ major, version });
  });

  it('rejects unrelated output', () => {
    expect(parsePostgresToolVersion('initdb: command not found')).toBeUndefined();
  });
});

describe('binDirCandidates', () => {
  const none = { debianMajors: [], homebrewOptAppleSilicon: [], homebrewOptIntel: [] };

  it('orders PATH, pg_config, Debian (newest major first), Homebrew', () => {
    const dirs = binDirCandidates({
      env: {},
      pathInitdbDir: '/usr/local/pgsql/bin',
      pgConfigBindir: '/usr/lib/postgresql/15/bin',
      debianMajors: ['9.6', '15', '16', 'README', '13'],
      homebrewOptAppleSilicon: ['postgresql@14', 'openssl@3', 'postgresql@16'],
      homebrewOptIntel: ['postgresql@15'],
    }).map((c) => `${c.source}:${c.dir}`);
    expect(dirs).toEqual([
      'PATH:/usr/local/pgsql/bin',
      'pg_config:/usr/lib/postgresql/15/bin',
      'debian:/usr/lib/postgresql/16/bin',
      // /usr/lib/postgresql/15/bin already listed through pg_config: not repeated
      'debian:/usr/lib/postgresql/13/bin',
      'debian:/usr/lib/postgresql/9.6/bin',
      'homebrew:/opt/homebrew/opt/postgresql@16/bin',
      'homebrew:/opt/homebrew/opt/postgresql@14/bin',
      'homebrew:/usr/local/opt/postgresql@15/bin',
      'homebrew:/opt/homebrew/bin',
    ]);
  });

  it('uses DBOPS_PG_BINDIR alone when set', () => {
    expect(
      binDirCandidates({ ...none, env: { DBOPS_PG_BINDIR: '/opt/pg/bin' }, pathInitdbDir: '/usr/bin' }),
    ).toEqual([{ dir: '/opt/pg/bin', source: 'DBOPS_PG_BINDIR' }]);
  });

  it('sorts versions numerically, not as text', () => {
    expect(newestFirst(['9.6', '10', '16', '9.5'])).toEqual(['16', '10', '9.6', '9.5']);
    expect(newestFirst(['postgresql@9.6', 'postgresql@17', 'postgresql@14'])).toEqual([
      'postgresql@17',
      'postgresql@14',
      'postgresql@9.6',
    ]);
  });
});

describe('findServerBinaries', () => {
  it('fails with exit 4 and says what to install when DBOPS_PG_BINDIR is wrong', async () => {
    const err = await findServerBinaries({
      env: { DBOPS_PG_BINDIR: '/nonexistent/pg/bin' },
      platform: 'linux',
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ToolError);
    expect((err as ToolError).exitCode).toBe(4);
    expect((err as ToolError).message).toContain('/nonexistent/pg/bin');
    expect((err as ToolError).hint).toContain('apt-get install postgresql');
  });

  it('hints per platform', () => {
    expect(installHint('linux')).toContain('apt-get install postgresql');
    expect(installHint('darwin')).toContain('brew install postgresql@16');
    expect(installHint('darwin')).toContain('DBOPS_PG_BINDIR');
  });
});

describe('OS user for a root dbops', () => {
  it('parses `id`', () => {
    expect(
      parseIdOutput('postgres', 'uid=101(postgres) gid=104(postgres) groups=104(postgres),103(ssl-cert)'),
    ).toEqual({ name: 'postgres', uid: 101, gid: 104, groups: [104, 103] });
    expect(parseIdOutput('x', 'id: ‘x’: no such user')).toBeUndefined();
  });

  it('applies POSIX owner / group / other search bits', () => {
    const pgUser = { name: 'postgres', uid: 101, gid: 104, groups: [104, 103] };
    expect(canTraverse({ uid: 0, gid: 0, mode: 0o40700 }, pgUser)).toBe(false); // /root
    expect(canTraverse({ uid: 0, gid: 0, mode: 0o41777 }, pgUser)).toBe(true); // /tmp
    expect(canTraverse({ uid: 0, gid: 0, mode: 0o40711 }, pgUser)).toBe(true);
    expect(canTraverse({ uid: 0, gid: 103, mode: 0o40710 }, pgUser)).toBe(true);
    expect(canTraverse({ uid: 101, gid: 0, mode: 0o40070 }, pgUser)).toBe(false); // owner class wins
  });

  it('lists ancestors root first', () => {
    expect(ancestorsOf('/tmp/a/b')).toEqual(['/', '/tmp', '/tmp/a']);
  });
});

describe('sandbox settings', () => {
  it('quotes values for postgresql.conf', () => {
    expect(confValue(10)).toBe('10');
    expect(confValue('on')).toBe("'on'");
    expect(confValue("it's")).toBe("'it''s'");
    expect(confValue('C:\\x')).toBe("'C:\\\\x'");
  });

  it('writes the fixed settings and lets callers add others', () => {
    const text = sandboxConf({
      port: 5999,
      socketDir: '/tmp/sb/run',
      preloadStatStatements: true,
      settings: { work_mem: '8MB', max_wal_senders: 4 },
    });
    expect(text).toContain("listen_addresses = '127.0.0.1'");
    expect(text).toContain('port = 5999');
    expect(text).toContain("unix_socket_directories = '/tmp/sb/run'");
    expect(text).toContain("wal_level = 'replica'");
    expect(text).toContain('max_wal_senders = 4');
    expect(text).toContain("shared_preload_libraries = 'pg_stat_statements'");
    expect(text).toContain("work_mem = '8MB'");
    expect(
      sandboxConf({ port: 1, socketDir: '/s', preloadStatStatements: false, settings: {} }),
    ).not.toContain('shared_preload_libraries');
  });

  it('refuses settings the sandbox manages, and malformed names', () => {
    const base = { port: 1, socketDir: '/s', preloadStatStatements: false };
    expect(() => sandboxConf({ ...base, settings: { port: 6000 } })).toThrow(/manages/);
    expect(() => sandboxConf({ ...base, settings: { 'x = 1\nfsync': 'off' } })).toThrow(/invalid setting/);
  });

  it('builds the URL with an encoded password', () => {
    expect(sandboxUrl(5432, 'a/b+c')).toBe('postgresql://dbops:a%2Fb%2Bc@127.0.0.1:5432/postgres');
  });

  it('renders a config file', () => {
    const info = { dir: '/tmp/sb', port: 5999, version: '15.18', url: sandboxUrl(5999, 'pw') } as SandboxInfo;
    const text = sandboxConfigYaml(info, { repositoryPath: '/tmp/sb-backups' });
    expect(text).toContain('engine: postgres');
    expect(text).toContain('url: postgresql://dbops:pw@127.0.0.1:5999/postgres');
    expect(text).toContain('path: /tmp/sb-backups');
  });
});
