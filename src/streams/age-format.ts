/**
 * The parts of the age v1 format (https://age-encryption.org/v1) that dbops needs beyond the public
 * API of the `age-encryption` package: finding where a header ends in a byte stream, encoding a
 * header with its MAC for a file key we already hold (key rotation), X25519 and scrypt stanzas
 * wrapping a given file key, and the STREAM payload cipher on node:crypto.
 *
 * Why not the package for all of it: its STREAM runs on pure-JS ChaCha20-Poly1305 (~90 MB/s on the
 * build machine vs ~1.3 GB/s for node:crypto), and its recipients always wrap a fresh random file
 * key, so they cannot re-wrap an existing one for `backup rekey`.
 */
import {
  createCipheriv,
  createDecipheriv,
  createHmac,
  createPublicKey,
  diffieHellman,
  generateKeyPairSync,
  hkdfSync,
  randomBytes,
  scrypt,
  timingSafeEqual,
} from 'node:crypto';
import type { Stanza } from 'age-encryption';

export const AGE_VERSION_LINE = 'age-encryption.org/v1';
export const STREAM_CHUNK = 64 * 1024;
export const TAG_SIZE = 16;
export const STREAM_CHUNK_WITH_TAG = STREAM_CHUNK + TAG_SIZE;
export const PAYLOAD_NONCE_SIZE = 16;
/** A header larger than this is not something dbops wrote (a few stanzas are ~200 bytes each). */
export const MAX_HEADER_SIZE = 1024 * 1024;
/** age's default passphrase work factor; the same as the `age` CLI and the package. */
export const SCRYPT_LOG_N = 18;
/** The `age-encryption` package refuses more than this when decrypting; so do we. */
export const SCRYPT_MAX_LOG_N = 20;

export class AgeFormatError extends Error {}

// --- base64 without padding (age's encoding) -------------------------------------------------

export function b64encode(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64').replace(/=+$/, '');
}

export function b64decode(text: string): Buffer {
  if (!/^[A-Za-z0-9+/]*$/.test(text) || text.length % 4 === 1) {
    throw new AgeFormatError('invalid base64 in age header');
  }
  const bytes = Buffer.from(text, 'base64');
  // Canonical encoding only: re-encoding must give back the same text.
  if (b64encode(bytes) !== text) throw new AgeFormatError('non-canonical base64 in age header');
  return bytes;
}

// --- header --------------------------------------------------------------------------------

export interface ParsedHeader {
  stanzas: { args: string[]; body: Uint8Array }[];
  /** The whole header, MAC line included. */
  header: Uint8Array;
  /** Bytes the MAC covers: up to and including the `---` (no space). */
  headerNoMac: Uint8Array;
  mac: Uint8Array;
  /** Offset of the payload (the 16-byte nonce) in the file. */
  headerSize: number;
}

const MAC_MARK = Buffer.from('\n--- ');

/**
 * Where the header ends in `bytes` (the offset of the payload nonce), or -1 if `bytes` does not hold
 * a complete header yet. Throws if it is not an age file or the header is implausibly long.
 */
export function findHeaderEnd(bytes: Uint8Array): number {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const prefix = AGE_VERSION_LINE + '\n';
  const head = buf.subarray(0, Math.min(buf.length, prefix.length)).toString('latin1');
  if (!prefix.startsWith(head)) {
    throw new AgeFormatError(
      buf.subarray(0, 3).toString('latin1') === 'age' || head.startsWith('-----BEGIN')
        ? 'unsupported age file (armored or another version)'
        : 'not an age-encrypted file',
    );
  }
  const mark = buf.indexOf(MAC_MARK);
  const end = mark < 0 ? -1 : buf.indexOf(0x0a, mark + MAC_MARK.length);
  if (end < 0) {
    if (buf.length > MAX_HEADER_SIZE) throw new AgeFormatError('age header is too large');
    return -1;
  }
  return end + 1;
}

/** Parses a complete header (`bytes` may continue with the payload). */
export function parseHeader(bytes: Uint8Array): ParsedHeader {
  const headerSize = findHeaderEnd(bytes);
  if (headerSize < 0) throw new AgeFormatError('incomplete age header');
  const header = bytes.subarray(0, headerSize);
  const lines = Buffer.from(header.buffer, header.byteOffset, header.byteLength)
    .toString('latin1')
    .split('\n');
  lines.pop(); // after the final \n
  if (lines.shift() !== AGE_VERSION_LINE) throw new AgeFormatError('not an age v1 header');
  const stanzas: ParsedHeader['stanzas'] = [];
  let i = 0;
  for (;;) {
    const line = lines[i++];
    if (line === undefined) throw new AgeFormatError('truncated age header');
    if (line.startsWith('--- ')) {
      if (i !== lines.length) throw new AgeFormatError('data after the age header MAC');
      const mac = b64decode(line.slice(4));
      if (mac.length !== 32) throw new AgeFormatError('invalid age header MAC');
      return {
        stanzas,
        header,
        headerNoMac: header.subarray(0, headerSize - line.length - 1 + 3),
        mac,
        headerSize,
      };
    }
    const args = line.split(' ');
    if (args.shift() !== '->' || args.length === 0 || args.some((a) => a.length === 0)) {
      throw new AgeFormatError('invalid stanza in age header');
    }
    const body: Buffer[] = [];
    for (;;) {
      const bodyLine = lines[i++];
      if (bodyLine === undefined) throw new AgeFormatError('truncated stanza in age header');
      const chunk = b64decode(bodyLine);
      if (chunk.length > 48) throw new AgeFormatError('invalid stanza body in age header');
      body.push(chunk);
      if (chunk.length < 48) break;
    }
    stanzas.push({ args, body: Buffer.concat(body) });
  }
}

function encodeHeaderNoMac(stanzas: readonly { args: string[]; body: Uint8Array }[]): Buffer {
  let text = AGE_VERSION_LINE + '\n';
  for (const s of stanzas) {
    text += `-> ${s.args.join(' ')}\n`;
    for (let i = 0; i < s.body.length; i += 48) text += b64encode(s.body.subarray(i, i + 48)) + '\n';
    // The last body line is always shorter than 64 columns, so an exact multiple ends with an empty line.
    if (s.body.length % 48 === 0) text += '\n';
  }
  return Buffer.from(text + '---', 'latin1');
}

export function headerMac(fileKey: Uint8Array, headerNoMac: Uint8Array): Buffer {
  const macKey = Buffer.from(hkdfSync('sha256', fileKey, Buffer.alloc(0), 'header', 32));
  return createHmac('sha256', macKey).update(headerNoMac).digest();
}

/** A full header (MAC line included) for `stanzas`, authenticated with `fileKey`. */
export function encodeHeader(
  stanzas: readonly { args: string[]; body: Uint8Array }[],
  fileKey: Uint8Array,
): Buffer {
  const noMac = encodeHeaderNoMac(stanzas);
  return Buffer.concat([noMac, Buffer.from(` ${b64encode(headerMac(fileKey, noMac))}\n`, 'latin1')]);
}

export function verifyHeaderMac(parsed: ParsedHeader, fileKey: Uint8Array): boolean {
  return timingSafeEqual(headerMac(fileKey, parsed.headerNoMac), parsed.mac);
}

// --- stanzas ---------------------------------------------------------------------------------

function aeadSeal(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array): Buffer {
  const c = createCipheriv('chacha20-poly1305', key, nonce, { authTagLength: TAG_SIZE });
  return Buffer.concat([c.update(plaintext), c.final(), c.getAuthTag()]);
}

function aeadOpen(key: Uint8Array, nonce: Uint8Array, sealed: Uint8Array): Buffer | null {
  if (sealed.length < TAG_SIZE) return null;
  const d = createDecipheriv('chacha20-poly1305', key, nonce, { authTagLength: TAG_SIZE });
  d.setAuthTag(sealed.subarray(sealed.length - TAG_SIZE));
  try {
    return Buffer.concat([d.update(sealed.subarray(0, sealed.length - TAG_SIZE)), d.final()]);
  } catch {
    return null;
  }
}

const BECH32_ALPHABET = 'qpzry9x8gf2tvdw0s3jn54khce6mua7l';

function bech32Polymod(values: number[]): number {
  const gen = [0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3];
  let chk = 1;
  for (const v of values) {
    const top = chk >>> 25;
    chk = ((chk & 0x1ffffff) << 5) ^ v;
    for (let i = 0; i < 5; i++) if ((top >>> i) & 1) chk ^= gen[i]!;
  }
  return chk;
}

/** Decodes a Bech32 string (BIP 173, no length limit, as age uses it) to its HRP and bytes. */
export function bech32Decode(text: string): { hrp: string; bytes: Buffer } {
  if (text !== text.toLowerCase() && text !== text.toUpperCase())
    throw new AgeFormatError('mixed-case bech32');
  const s = text.toLowerCase();
  const sep = s.lastIndexOf('1');
  if (sep < 1 || s.length - sep - 1 < 6) throw new AgeFormatError('invalid bech32 string');
  const hrp = s.slice(0, sep);
  const data: number[] = [];
  for (const ch of s.slice(sep + 1)) {
    const v = BECH32_ALPHABET.indexOf(ch);
    if (v < 0) throw new AgeFormatError('invalid bech32 character');
    data.push(v);
  }
  const expanded = [
    ...[...hrp].map((c) => c.charCodeAt(0) >> 5),
    0,
    ...[...hrp].map((c) => c.charCodeAt(0) & 31),
  ];
  if (bech32Polymod([...expanded, ...data]) !== 1) throw new AgeFormatError('invalid bech32 checksum');
  let acc = 0;
  let bits = 0;
  const out: number[] = [];
  for (const v of data.slice(0, -6)) {
    acc = (acc << 5) | v;
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      out.push((acc >> bits) & 0xff);
    }
  }
  if (bits >= 5 || (acc & ((1 << bits) - 1)) !== 0) throw new AgeFormatError('invalid bech32 padding');
  return { hrp, bytes: Buffer.from(out) };
}

/** The 32-byte X25519 public key of an `age1…` recipient; throws for other recipient types. */
export function x25519RecipientKey(recipient: string): Buffer {
  const { hrp, bytes } = bech32Decode(recipient);
  if (hrp !== 'age' || bytes.length !== 32) {
    throw new AgeFormatError(`not an X25519 age recipient: ${recipient.slice(0, 12)}…`);
  }
  return bytes;
}

/** An `X25519` stanza wrapping `fileKey` for `recipient` (age1…), per the age spec. */
export function x25519Stanza(recipient: string, fileKey: Uint8Array): { args: string[]; body: Buffer } {
  const recipientKey = x25519RecipientKey(recipient);
  const ephemeral = generateKeyPairSync('x25519');
  const share = Buffer.from(ephemeral.publicKey.export({ format: 'jwk' }).x!, 'base64url');
  const secret = diffieHellman({
    privateKey: ephemeral.privateKey,
    publicKey: createPublicKey({
      key: { kty: 'OKP', crv: 'X25519', x: recipientKey.toString('base64url') },
      format: 'jwk',
    }),
  });
  if (secret.every((b) => b === 0)) throw new AgeFormatError('X25519 recipient is a low-order point');
  const wrapKey = Buffer.from(
    hkdfSync('sha256', secret, Buffer.concat([share, recipientKey]), 'age-encryption.org/v1/X25519', 32),
  );
  return { args: ['X25519', b64encode(share)], body: aeadSeal(wrapKey, Buffer.alloc(12), fileKey) };
}

const SCRYPT_LABEL = 'age-encryption.org/v1/scrypt';

function scryptKey(passphrase: string, salt: Uint8Array, logN: number): Promise<Buffer> {
  const N = 2 ** logN;
  return new Promise((resolve, reject) => {
    // node:crypto's scrypt runs on the thread pool and is ~1.5× faster than the package's JS one.
    scrypt(
      passphrase.normalize('NFC'),
      Buffer.concat([Buffer.from(SCRYPT_LABEL), salt]),
      32,
      { N, r: 8, p: 1, maxmem: 128 * N * 8 + 32 * 1024 * 1024 },
      (err, key) => (err ? reject(err) : resolve(key)),
    );
  });
}

/** A `scrypt` stanza wrapping `fileKey` with `passphrase`, per the age spec. Must be the only stanza. */
export async function scryptStanza(
  passphrase: string,
  fileKey: Uint8Array,
  logN = SCRYPT_LOG_N,
): Promise<{ args: string[]; body: Buffer }> {
  const salt = randomBytes(16);
  const key = await scryptKey(passphrase, salt, logN);
  return { args: ['scrypt', b64encode(salt), String(logN)], body: aeadSeal(key, Buffer.alloc(12), fileKey) };
}

/**
 * An identity (the package's `Identity` interface) that unwraps `scrypt` stanzas with node:crypto.
 * Same rules as the package's own: the scrypt stanza must be alone, and the work factor bounded so
 * a hostile file cannot make us allocate gigabytes.
 */
export class NodeScryptIdentity {
  constructor(private readonly passphrase: string) {}

  async unwrapFileKey(stanzas: Stanza[]): Promise<Uint8Array | null> {
    for (const s of stanzas) {
      if (s.args[0] !== 'scrypt') continue;
      if (stanzas.length !== 1)
        throw new AgeFormatError('scrypt recipient is not the only one in the header');
      const [, saltText, logNText] = s.args;
      if (s.args.length !== 3 || !saltText || !logNText || !/^[1-9][0-9]*$/.test(logNText)) {
        throw new AgeFormatError('invalid scrypt stanza');
      }
      const salt = b64decode(saltText);
      const logN = Number(logNText);
      if (salt.length !== 16) throw new AgeFormatError('invalid scrypt stanza');
      if (logN > SCRYPT_MAX_LOG_N) throw new AgeFormatError('scrypt work factor is too high');
      const key = await scryptKey(this.passphrase, salt, logN);
      const fileKey = aeadOpen(key, Buffer.alloc(12), s.body);
      if (fileKey && fileKey.length === 16) return fileKey;
    }
    return null;
  }
}

// --- STREAM payload ----------------------------------------------------------------------------

export function payloadKey(fileKey: Uint8Array, nonce: Uint8Array): Buffer {
  return Buffer.from(hkdfSync('sha256', fileKey, nonce, 'payload', 32));
}

/** The 12-byte STREAM nonce: 11-byte big-endian counter, then the last-chunk flag. */
export function streamNonce(counter: number, last: boolean): Buffer {
  const nonce = Buffer.alloc(12);
  // Counters above 2^48 would need > 16 EiB of payload; writeUIntBE covers 6 bytes.
  nonce.writeUIntBE(counter, 5, 6);
  nonce[11] = last ? 1 : 0;
  return nonce;
}

/**
 * Seals one STREAM chunk, returned as [ciphertext, tag] rather than concatenated: every 64 KiB
 * allocation and copy counts here. Fresh multi-MB/s allocations page-fault under glibc's trimming,
 * and one concat per chunk halved throughput (~160 vs ~400 MB/s on the build machine).
 */
export function sealChunk(
  key: Uint8Array,
  counter: number,
  last: boolean,
  plaintext: Uint8Array,
): [Buffer, Buffer] {
  const c = createCipheriv('chacha20-poly1305', key, streamNonce(counter, last), { authTagLength: TAG_SIZE });
  const ciphertext = c.update(plaintext);
  c.final(); // ChaCha20 is a stream cipher: nothing is held back
  return [ciphertext, c.getAuthTag()];
}

/** Opens one STREAM chunk; null if it fails authentication. Nothing is returned before the tag checks. */
export function openChunk(
  key: Uint8Array,
  counter: number,
  last: boolean,
  sealed: Uint8Array,
): Buffer | null {
  if (sealed.length < TAG_SIZE) return null;
  const d = createDecipheriv('chacha20-poly1305', key, streamNonce(counter, last), {
    authTagLength: TAG_SIZE,
  });
  d.setAuthTag(sealed.subarray(sealed.length - TAG_SIZE));
  const plaintext = d.update(sealed.subarray(0, sealed.length - TAG_SIZE));
  try {
    d.final();
  } catch {
    return null;
  }
  return plaintext;
}
