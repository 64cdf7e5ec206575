import { describe, expect, it } from 'vitest';

import { ConfigError } from '../../src/errors.js';
import { InvalidKeyError, storageErrorCode } from '../../src/storage/errors.js';
import { joinKey, validateKey, validateMetadata, validatePrefix } from '../../src/storage/keys.js';
import {
  choosePartSize,
  DEFAULT_PART_SIZE,
  describeEndpoint,
  normalizePrefix,
} from '../../src/storage/s3.js';

const MiB = 1024 * 1024;

describe('repository keys', () => {
  it.each([
    'a',
    'backups/main/2024-01-01T00:00:00Z/dump.zst',
    '.dbops-probe/abc',
    'wal/0000000100000000000000A1',
    'a b/c',
  ])('accepts %s', (key) => {
    expect(validateKey(key)).toBe(key);
  });

  it.each([
    ['', 'empty'],
    ['/abs/key', 'absolute'],
    ['a//b', 'empty path segment'],
    ['a/', 'empty path segment'],
    ['../x', '".." segments'],
    ['a/../b', '".." segments'],
    ['a/./b', '"." segments'],
    ['a\\b', 'control characters'],
    ['a\u0000b', 'control characters'],
    ['x.dbops-tmp', 'reserved'],
    ['dir/f.dbops-meta.json', 'reserved'],
    ['x'.repeat(201), 'longer than 200'],
    [Array.from({ length: 10 }, () => 'y'.repeat(100)).join('/'), 'longer than 900'],
  ])('rejects %j (%s)', (key, reason) => {
    let caught: unknown;
    try {
      validateKey(key);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(InvalidKeyError);
    expect(caught).toBeInstanceOf(ConfigError);
    expect(storageErrorCode(caught)).toBe('invalid-key');
    expect((caught as Error).message).toContain(reason);
  });

  it('validates list prefixes as string prefixes', () => {
    expect(validatePrefix('')).toBe('');
    expect(validatePrefix('wal/')).toBe('wal/');
    expect(validatePrefix('wal/0000')).toBe('wal/0000');
    expect(validatePrefix('.')).toBe('.');
    expect(() => validatePrefix('/wal')).toThrow(InvalidKeyError);
    expect(() => validatePrefix('../')).toThrow(InvalidKeyError);
    expect(() => validatePrefix('a//')).toThrow(InvalidKeyError);
    expect(() => validatePrefix('a/../b')).toThrow(InvalidKeyError);
  });

  it('joins segments into a key', () => {
    expect(joinKey('backups', 'main', 'x.zst')).toBe('backups/main/x.zst');
    expect(() => joinKey('backups', '..', 'x')).toThrow(InvalidKeyError);
  });

  it('accepts only metadata that round-trips through S3', () => {
    expect(validateMetadata(undefined)).toEqual({});
    expect(validateMetadata({ sha256: 'ab12', 'dbops.version': '1', 'x-y_z': 'a b' })).toEqual({
      sha256: 'ab12',
      'dbops.version': '1',
      'x-y_z': 'a b',
    });
    expect(() => validateMetadata({ Sha256: 'x' })).toThrow(InvalidKeyError);
    expect(() => validateMetadata({ note: 'é' })).toThrow(InvalidKeyError);
    expect(() => validateMetadata({ note: 'a\nb' })).toThrow(InvalidKeyError);
    expect(() => validateMetadata({ big: 'x'.repeat(2001) })).toThrow(/larger than/);
  });
});

describe('S3 helpers', () => {
  it('sizes parts so that an upload never needs more than 10,000 parts', () => {
    expect(choosePartSize()).toBe(DEFAULT_PART_SIZE);
    expect(choosePartSize(1024)).toBe(8 * MiB);
    expect(choosePartSize(100 * 1024 * MiB)).toBe(11 * MiB);
    const oneTiB = 1024 * 1024 * MiB;
    const part = choosePartSize(oneTiB);
    expect(Math.ceil(oneTiB / part)).toBeLessThanOrEqual(10_000);
    expect(part % MiB).toBe(0);
    // A hint is doubled: a 1 TiB estimate is safe up to 2 TiB.
    expect(Math.ceil((2 * oneTiB) / choosePartSize(undefined, oneTiB))).toBeLessThanOrEqual(10_000);
    expect(choosePartSize(undefined, 1024)).toBe(DEFAULT_PART_SIZE);
    expect(choosePartSize(60 * oneTiB)).toBe(5 * 1024 * MiB); // S3 maximum part size
  });

  it('prints endpoints without credentials', () => {
    expect(describeEndpoint('http://user:secret@127.0.0.1:9000/?token=x', 'us-east-1')).toBe(
      'http://127.0.0.1:9000',
    );
    expect(describeEndpoint(undefined, 'eu-west-1')).toBe('https://s3.eu-west-1.amazonaws.com');
  });

  it('normalizes the configured prefix to a folder', () => {
    expect(normalizePrefix('')).toBe('');
    expect(normalizePrefix('prod')).toBe('prod/');
    expect(normalizePrefix('/prod/db/')).toBe('prod/db/');
  });
});
