import { describe, expect, it } from 'vitest';

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
