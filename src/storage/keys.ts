import { InvalidKeyError } from './errors.js';

/**
 * Repository keys are `/`-separated relative paths, the same on disk and in S3. The rules are the
 * intersection of what both backends can store faithfully, so that a key accepted by one backend is
 * accepted by the other and a repository can be copied between them.
 */

/** S3's limit on a whole key is 1024 bytes; the configured prefix takes some of it. */
export const MAX_KEY_BYTES = 900;
/**
 * NAME_MAX is 255 on common filesystems; the local backend adds a temp-file or sidecar suffix to a
 * segment (`.<name>.<random>.dbops-tmp`), so segments stay well below it.
 */
export const MAX_SEGMENT_BYTES = 200;

/** File names the local backend uses next to objects; a key may not end with them. */
export const TEMP_SUFFIX = '.dbops-tmp';
export const SIDECAR_SUFFIX = '.dbops-meta.json';

// Control characters would be mangled in S3 XML listings; a backslash is a separator on Windows.
// eslint-disable-next-line no-control-regex
const FORBIDDEN_CHARS = /[\u0000-\u001f\u007f\\]/;

const utf8Length = (s: string): number => Buffer.byteLength(s, 'utf8');

function checkSegments(original: string, path: string, allowPartialLast: boolean): void {
  const segments = path.split('/');
  for (const [index, segment] of segments.entries()) {
    const last = index === segments.length - 1;
    if (segment === '') {
      throw new InvalidKeyError(original, 'empty path segment (leading, trailing or doubled "/")');
    }
    if (segment === '.' || segment === '..') {
      if (!(allowPartialLast && last && segment === '.')) {
        throw new InvalidKeyError(original, `"${segment}" segments are not allowed`);
      }
    }
    if (utf8Length(segment) > MAX_SEGMENT_BYTES) {
      throw new InvalidKeyError(original, `a path segment is longer than ${MAX_SEGMENT_BYTES} bytes`);
    }
    if (last && !allowPartialLast && (segment.endsWith(TEMP_SUFFIX) || segment.endsWith(SIDECAR_SUFFIX))) {
      throw new InvalidKeyError(original, `names ending in ${TEMP_SUFFIX} or ${SIDECAR_SUFFIX} are reserved`);
    }
  }
}

/** Throws InvalidKeyError unless `key` is a valid object key. */
export function validateKey(key: string): string {
  if (typeof key !== 'string' || key === '') throw new InvalidKeyError(String(key), 'empty key');
  if (key.startsWith('/')) throw new InvalidKeyError(key, 'keys are relative, not absolute');
  if (FORBIDDEN_CHARS.test(key))
    throw new InvalidKeyError(key, 'control characters and "\\" are not allowed');
  if (utf8Length(key) > MAX_KEY_BYTES) throw new InvalidKeyError(key, `longer than ${MAX_KEY_BYTES} bytes`);
  checkSegments(key, key, false);
  return key;
}

/**
 * Validates a list prefix. A prefix is a plain string prefix of keys, as in S3: `wal/` lists
 * everything under wal/, `wal/0000` lists the keys starting with it, `` lists everything.
 */
export function validatePrefix(prefix: string): string {
  if (prefix === '') return prefix;
  if (prefix.startsWith('/')) throw new InvalidKeyError(prefix, 'prefixes are relative, not absolute');
  if (FORBIDDEN_CHARS.test(prefix)) {
    throw new InvalidKeyError(prefix, 'control characters and "\\" are not allowed');
  }
  if (utf8Length(prefix) > MAX_KEY_BYTES)
    throw new InvalidKeyError(prefix, `longer than ${MAX_KEY_BYTES} bytes`);
  const body = prefix.endsWith('/') ? prefix.slice(0, -1) : prefix;
  checkSegments(prefix, body, !prefix.endsWith('/'));
  return prefix;
}

/**
 * The `startAfter` that skips everything under `<folder>/`: every such key sorts before
 * `<folder>0` ('0' follows '/').
 */
export function pastFolder(folder: string): string {
  return `${folder}0`;
}

/** Joins key segments with `/`, validating the result. */
export function joinKey(...segments: string[]): string {
  return validateKey(segments.filter((s) => s !== '').join('/'));
}

/**
 * User metadata rules shared by both backends. S3 lower-cases metadata names and sends values as
 * HTTP headers (ASCII only, 2 KiB in total), so anything else would not round-trip.
 */
export const MAX_METADATA_BYTES = 2000;
const METADATA_NAME = /^[a-z0-9][a-z0-9._-]{0,127}$/;
const METADATA_VALUE = /^[\x20-\x7e]*$/;

export function validateMetadata(metadata: Record<string, string> | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (metadata === undefined) return out;
  let total = 0;
  for (const [name, value] of Object.entries(metadata)) {
    if (!METADATA_NAME.test(name)) {
      throw new InvalidKeyError(name, 'metadata names use lower-case letters, digits, ".", "_" and "-"');
    }
    if (typeof value !== 'string' || !METADATA_VALUE.test(value)) {
      throw new InvalidKeyError(name, 'metadata values must be printable ASCII strings');
    }
    total += name.length + value.length;
    out[name] = value;
  }
  if (total > MAX_METADATA_BYTES) {
    throw new InvalidKeyError(
      Object.keys(metadata).join(','),
      `metadata larger than ${MAX_METADATA_BYTES} bytes`,
    );
  }
  return out;
}
