import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

import { withLargeStdoutBuffer } from '../../src/tools/stdout-buffer.js';
import {
  parseMongoToolVersion,
  parsePostgresToolVersion,
  parseServerVersionNum,
} from '../../src/tools/versions.js';

describe('tool versions', () => {
  it('parses PostgreSQL client versions', () => {
    expect(parsePostgresToolVersion('pg_dump (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)')).toEqual({
      major: 15,
      version: '15.18',
    });
    expect(parsePostgresToolVersion('psql (PostgreSQL) 17beta1')).toEqual({ major: 17, version: '17beta1' });
    expect(parsePostgresToolVersion('nonsense')).toBeUndefined();
  });

  it('parses server_version_num', () => {
    expect(parseServerVersionNum(150018)).toEqual({ major: 15, version: '15.18' });
    expect(parseServerVersionNum(90624).version).toBe('9.6.24');
  });

  it('parses mongo tool versions', () => {
    expect(parseMongoToolVersion('mongodump version: 100.9.4\ngit version: abc')).toEqual({
      major: 100,
      version: '100.9.4',
    });
  });
});

describe('a large stdout buffer for pg_dump (stdbuf)', () => {
  const dump = { binary: '/usr/lib/postgresql/15/bin/pg_dump', args: ['--format=custom'] };

  it('wraps the command in stdbuf -o1M when stdbuf is on PATH (Linux)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dbops-stdbuf-'));
    try {
      await writeFile(join(dir, 'stdbuf'), '#!/bin/sh\n', { mode: 0o755 });
      const wrapped = withLargeStdoutBuffer(dump, { PATH: dir });
      if (process.platform === 'linux') {
        expect(wrapped).toEqual({
          binary: join(dir, 'stdbuf'),
          args: ['-o1M', dump.binary, '--format=custom'],
        });
      } else {
        expect(wrapped).toEqual(dump);
      }
      expect(withLargeStdoutBuffer(dump, { PATH: dir, DBOPS_NO_STDBUF: '1' })).toEqual(dump);
      expect(withLargeStdoutBuffer(dump, { PATH: join(dir, 'missing') })).toEqual(dump);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
