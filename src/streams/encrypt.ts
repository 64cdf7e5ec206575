import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { Transform, type TransformCallback } from 'node:stream';
import type { Decrypter, Recipient } from 'age-encryption';

import { ChecksFailed, ConfigError, DbopsError } from '../errors.js';
import {
  AgeFormatError,
  NodeScryptIdentity,
  PAYLOAD_NONCE_SIZE,
  SCRYPT_LOG_N,
  SCRYPT_MAX_LOG_N,
  STREAM_CHUNK,
  STREAM_CHUNK_WITH_TAG,
  encodeHeader,
  x25519RecipientKey,
  findHeaderEnd,
  openChunk,
  parseHeader,
  payloadKey,
  scryptStanza,
  sealChunk,
  x25519Stanza,
} from './age-format.js';

/**
 * Encrypt to public keys (a backup host never needs a private key) or with a passphrase.
 * `scryptLogN` is age's passphrase work factor; leave the default (18, as the `age` CLI) outside tests.
 */
export type EncryptOptions = { recipients: string[] } | { passphrase: string; scryptLogN?: number };
/** Decrypt with private keys (`AGE-SECRET-KEY-1…`) or a passphrase. */
export type DecryptOptions = { identities: string[] } | { passphrase: string };

/** No identity (or passphrase) opens this file: the operator has the wrong key. Exit 2. */
export class DecryptionError extends DbopsError {}

/** The bytes are not what was encrypted: corrupted in storage or tampered with. Exit 1. */
export class CorruptDataError extends ChecksFailed {}

/**
 * The package is loaded on first use: importing it costs ~150-250 ms (post-quantum and curve
 * libraries), which `wal push` would pay once per 16 MB segment even with encryption off.
 */
function agePackage(): Promise<typeof import('age-encryption')> {
  return import('age-encryption');
}

// --- keys --------------------------------------------------------------------------------------

/** `AGE-SECRET-KEY-1…` (and post-quantum `AGE-SECRET-KEY-PQ-1…`) lines; `#` comments and blanks ignored. */
export function parseIdentities(text: string, source = 'identity file'): string[] {
  const identities: string[] = [];
  const lines = text.split(/\r?\n/);
  for (const [i, raw] of lines.entries()) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    if (!/^AGE-SECRET-KEY-(PQ-)?1[0-9A-Z]+$/.test(line)) {
      // Never echo the line: it may be a mangled secret key.
      throw new ConfigError(`${source}: line ${i + 1} is not an age identity (AGE-SECRET-KEY-1…)`, {
        hint: 'an identity file holds one AGE-SECRET-KEY-1… per line, as written by age-keygen',
      });
    }
    identities.push(line);
  }
  if (identities.length === 0) {
    throw new ConfigError(`${source} contains no age identity`, {
      hint: 'create one with age-keygen -o FILE (or dbops key generate) and keep it off the backup host',
    });
  }
  return identities;
}

export async function loadIdentities(identityFile: string): Promise<string[]> {
  let text: string;
  try {
    text = await readFile(identityFile, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read the age identity file ${identityFile}: ${(err as Error).message}`, {
      cause: err,
      hint: 'set encryption.identityFile (or DBOPS_AGE_IDENTITY) to a readable file',
    });
  }
  return parseIdentities(text, identityFile);
}

/** The public key (`age1…`) of an identity. */
export async function identityToRecipient(identity: string): Promise<string> {
  try {
    return await (await agePackage()).identityToRecipient(identity);
  } catch (err) {
    throw new ConfigError('invalid age identity', { cause: err });
  }
}

/** A new X25519 identity (`AGE-SECRET-KEY-1…`). X25519 so that `rekey` can wrap for it. */
export async function generateIdentity(): Promise<string> {
  return (await agePackage()).generateX25519Identity();
}

// --- encryption ----------------------------------------------------------------------------------

interface PreparedHeader {
  /** Header followed by the payload nonce: the first bytes of the output. */
  prefix: Buffer;
  key: Buffer;
}

function isX25519Recipient(recipient: string): boolean {
  try {
    x25519RecipientKey(recipient);
    return true;
  } catch {
    return false;
  }
}

/**
 * X25519 recipients and passphrases (all dbops writes by default) get their header from
 * age-format.ts on node:crypto, the same code `rekey` uses, so `wal push` never loads the package.
 * Other recipient types the package knows (post-quantum `age1pq1…`, tags) go through its Encrypter,
 * with a recipient of ours riding along to learn the file key; its own output, an empty file, is
 * discarded.
 */
async function prepareHeader(options: EncryptOptions): Promise<PreparedHeader> {
  const nonce = randomBytes(PAYLOAD_NONCE_SIZE);
  const fileKey = randomBytes(16);
  if ('passphrase' in options) {
    const logN = options.scryptLogN ?? SCRYPT_LOG_N;
    if (options.passphrase.length === 0) throw new ConfigError('the encryption passphrase is empty');
    if (!Number.isInteger(logN) || logN < 1 || logN > SCRYPT_MAX_LOG_N) {
      throw new ConfigError(`scrypt work factor must be 1..${SCRYPT_MAX_LOG_N}`);
    }
    const header = encodeHeader([await scryptStanza(options.passphrase, fileKey, logN)], fileKey);
    return { prefix: Buffer.concat([header, nonce]), key: payloadKey(fileKey, nonce) };
  }
  const recipients = [...new Set(options.recipients)];
  if (recipients.length === 0) throw new ConfigError('encryption needs at least one recipient (age1…)');
  if (recipients.every(isX25519Recipient)) {
    const header = encodeHeader(
      recipients.map((r) => x25519Stanza(r, fileKey)),
      fileKey,
    );
    return { prefix: Buffer.concat([header, nonce]), key: payloadKey(fileKey, nonce) };
  }
  const { Encrypter } = await agePackage();
  const encrypter = new Encrypter();
  let tapped: Uint8Array | undefined;
  const tap: Recipient = {
    wrapFileKey(key) {
      tapped = key.slice();
      return [];
    },
  };
  for (const r of recipients) {
    try {
      encrypter.addRecipient(r);
    } catch (err) {
      throw new ConfigError(`invalid age recipient "${r}"`, {
        cause: err,
        hint: 'recipients are age1… public keys',
      });
    }
  }
  encrypter.addRecipient(tap);
  const empty = await encrypter.encrypt(new Uint8Array(0));
  if (!tapped) throw new Error('age-encryption did not hand out the file key');
  // The empty file is header ‖ nonce (16) ‖ one sealed empty chunk (16). Our own fresh nonce
  // replaces its nonce, so its (discarded) chunk and ours never share a key.
  const header = Buffer.from(empty.subarray(0, empty.length - PAYLOAD_NONCE_SIZE - 16));
  return { prefix: Buffer.concat([header, nonce]), key: payloadKey(tapped, nonce) };
}

/** age encryption as a Transform: memory is one 64 KiB chunk whatever the input size. */
class AgeEncryptStream extends Transform {
  private prepared: PreparedHeader | undefined;
  private readonly buffer = Buffer.allocUnsafe(STREAM_CHUNK);
  private used = 0;
  private counter = 0;
  private headerSent = false;

  constructor(private readonly options: EncryptOptions) {
    super({ readableHighWaterMark: 4 * STREAM_CHUNK_WITH_TAG });
  }

  override _construct(callback: (error?: Error | null) => void): void {
    prepareHeader(this.options).then(
      (p) => {
        this.prepared = p;
        callback();
      },
      (err: Error) => callback(err),
    );
  }

  private pushSealed([ciphertext, tag]: [Buffer, Buffer]): void {
    if (ciphertext.length > 0) this.push(ciphertext);
    this.push(tag);
  }

  private sendHeader(): PreparedHeader {
    const p = this.prepared!;
    if (!this.headerSent) {
      this.push(p.prefix);
      this.headerSent = true;
    }
    return p;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    const { key } = this.sendHeader();
    let offset = 0;
    while (offset < chunk.length) {
      if (this.used === STREAM_CHUNK) {
        // More data follows, so this full chunk is not the last one.
        this.pushSealed(sealChunk(key, this.counter++, false, this.buffer));
        this.used = 0;
      }
      if (this.used === 0 && chunk.length - offset > STREAM_CHUNK) {
        this.pushSealed(sealChunk(key, this.counter++, false, chunk.subarray(offset, offset + STREAM_CHUNK)));
        offset += STREAM_CHUNK;
        continue;
      }
      const n = chunk.copy(
        this.buffer,
        this.used,
        offset,
        Math.min(chunk.length, offset + STREAM_CHUNK - this.used),
      );
      this.used += n;
      offset += n;
    }
    callback();
  }

  override _flush(callback: TransformCallback): void {
    const { key } = this.sendHeader();
    this.pushSealed(sealChunk(key, this.counter++, true, this.buffer.subarray(0, this.used)));
    callback();
  }
}

/** A stage that encrypts to the age format (`age -d` decrypts its output). */
export function encryptStage(options: EncryptOptions): Transform {
  return new AgeEncryptStream(options);
}

// --- decryption ----------------------------------------------------------------------------------

async function decrypterFor(options: DecryptOptions): Promise<Decrypter> {
  const d = new (await agePackage()).Decrypter();
  if ('passphrase' in options) {
    d.addIdentity(new NodeScryptIdentity(options.passphrase));
    return d;
  }
  if (options.identities.length === 0) {
    throw new ConfigError('decryption needs an age identity', {
      hint: 'set encryption.identityFile (or DBOPS_AGE_IDENTITY) to the file with the private key',
    });
  }
  for (const identity of options.identities) {
    try {
      d.addIdentity(identity);
    } catch (err) {
      throw new ConfigError('invalid age identity (expected AGE-SECRET-KEY-1…)', { cause: err });
    }
  }
  return d;
}

/** Unwraps the file key of a complete header, turning the package's errors into ours. */
async function unwrapFileKey(header: Uint8Array, options: DecryptOptions): Promise<Uint8Array> {
  try {
    parseHeader(header); // strict syntax check with our messages
    return await (await decrypterFor(options)).decryptHeader(header);
  } catch (err) {
    throw mapDecryptError(err, options);
  }
}

function mapDecryptError(err: unknown, options: DecryptOptions): Error {
  if (err instanceof DbopsError) return err;
  const message = err instanceof Error ? err.message : String(err);
  if (/no identity matched/.test(message)) {
    return 'passphrase' in options
      ? new DecryptionError('the passphrase does not decrypt this backup', {
          hint: 'check the environment variable named by encryption.passphraseEnv',
        })
      : new DecryptionError("no identity matches this backup's recipients", {
          hint: "use an identity whose public key (age1…) is listed in the backup's manifest",
        });
  }
  if (/header HMAC/.test(message)) {
    return new CorruptDataError('the age header of this backup is corrupted (header MAC mismatch)', {
      cause: err,
    });
  }
  if (err instanceof AgeFormatError)
    return new CorruptDataError(`not a valid age file: ${message}`, { cause: err });
  return new CorruptDataError(`cannot read the age header: ${message}`, { cause: err });
}

/** age decryption as a Transform; each 64 KiB chunk is authenticated before a byte of it is passed on. */
class AgeDecryptStream extends Transform {
  private phase: 'header' | 'nonce' | 'payload' = 'header';
  private pending: Buffer[] = [];
  private pendingLength = 0;
  private key: Buffer | undefined;
  private readonly buffer = Buffer.allocUnsafe(STREAM_CHUNK_WITH_TAG);
  private used = 0;
  private counter = 0;

  constructor(private readonly options: DecryptOptions) {
    super({ readableHighWaterMark: 4 * STREAM_CHUNK });
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    if (this.phase === 'payload') {
      try {
        this.payload(chunk);
        callback();
      } catch (err) {
        callback(err as Error);
      }
      return;
    }
    this.pending.push(chunk);
    this.pendingLength += chunk.length;
    this.preamble().then(
      () => callback(),
      (err: Error) => callback(err),
    );
  }

  /** Header and nonce: small, so buffered whole. */
  private async preamble(): Promise<void> {
    let bytes = Buffer.concat(this.pending, this.pendingLength);
    if (this.phase === 'header') {
      let end: number;
      try {
        end = findHeaderEnd(bytes);
      } catch (err) {
        throw mapDecryptError(err, this.options);
      }
      if (end < 0) {
        this.pending = [bytes];
        return;
      }
      const fileKey = await unwrapFileKey(bytes.subarray(0, end), this.options);
      this.key = Buffer.from(fileKey); // temporarily the file key; the payload key replaces it below
      this.phase = 'nonce';
      bytes = bytes.subarray(end);
    }
    if (bytes.length < PAYLOAD_NONCE_SIZE) {
      this.pending = [bytes];
      this.pendingLength = bytes.length;
      return;
    }
    this.key = payloadKey(this.key!, bytes.subarray(0, PAYLOAD_NONCE_SIZE));
    this.phase = 'payload';
    this.pending = [];
    this.pendingLength = 0;
    this.payload(bytes.subarray(PAYLOAD_NONCE_SIZE));
  }

  private open(sealed: Buffer, last: boolean): Buffer {
    const plain = openChunk(this.key!, this.counter, last, sealed);
    if (!plain) {
      throw new CorruptDataError(
        `encrypted data failed authentication at chunk ${this.counter} (byte ~${this.counter * STREAM_CHUNK_WITH_TAG} of the payload): the backup is corrupted, truncated or was tampered with`,
      );
    }
    this.counter++;
    return plain;
  }

  private payload(chunk: Buffer): void {
    let offset = 0;
    while (offset < chunk.length) {
      if (this.used === STREAM_CHUNK_WITH_TAG) {
        this.push(this.open(this.buffer, false));
        this.used = 0;
      }
      if (this.used === 0 && chunk.length - offset > STREAM_CHUNK_WITH_TAG) {
        this.push(this.open(chunk.subarray(offset, offset + STREAM_CHUNK_WITH_TAG), false));
        offset += STREAM_CHUNK_WITH_TAG;
        continue;
      }
      const end = Math.min(chunk.length, offset + STREAM_CHUNK_WITH_TAG - this.used);
      this.used += chunk.copy(this.buffer, this.used, offset, end);
      offset = end;
    }
  }

  override _flush(callback: TransformCallback): void {
    try {
      if (this.phase !== 'payload' || (this.used === 0 && this.counter === 0)) {
        throw new CorruptDataError('the encrypted backup is truncated (it ends before its payload)');
      }
      if (this.used === 0) {
        throw new CorruptDataError('the encrypted backup is truncated at a chunk boundary');
      }
      const plain = this.open(this.buffer.subarray(0, this.used), true);
      if (plain.length === 0 && this.counter > 1) {
        throw new CorruptDataError('invalid age payload: the final chunk is empty');
      }
      this.push(plain);
      callback();
    } catch (err) {
      callback(err as Error);
    }
  }
}

/** A stage that decrypts an age file. Wrong key → DecryptionError; damaged bytes → CorruptDataError. */
export function decryptStage(options: DecryptOptions): Transform {
  return new AgeDecryptStream(options);
}

// --- key rotation --------------------------------------------------------------------------------

/**
 * Length of the age header at the start of `bytes`, or undefined when `bytes` does not hold all of it
 * yet (read more). Throws CorruptDataError when `bytes` is not the start of an age file.
 */
export function ageHeaderSize(bytes: Uint8Array): number | undefined {
  try {
    const end = findHeaderEnd(bytes);
    return end < 0 ? undefined : end;
  } catch (err) {
    throw new CorruptDataError(`not a valid age file: ${(err as Error).message}`, { cause: err });
  }
}

export type RekeyTarget = { newRecipients: string[] } | { newPassphrase: string; scryptLogN?: number };

export interface RekeyResult {
  /** The replacement header (MAC line included). */
  newHeader: Uint8Array;
  /** Where the original header ends: write `newHeader` then the original bytes from here on, unchanged. */
  payloadOffset: number;
}

/**
 * Re-wraps an age file's key for a new set of recipients without touching its payload: the payload
 * is encrypted under HKDF(file key, nonce), and only the header wraps the file key. `fileStart` is
 * the beginning of the file and must contain the whole header (see `ageHeaderSize`; dbops headers are
 * a few hundred bytes, so reading the first 64 KiB is plenty). The current identity (or passphrase)
 * must open the header; its MAC is checked before anything is produced.
 *
 * New recipients must be X25519 (`age1…`); a new passphrase becomes the only (scrypt) stanza.
 */
export async function rekeyHeader(
  fileStart: Uint8Array,
  options: DecryptOptions & RekeyTarget,
): Promise<RekeyResult> {
  const payloadOffset = ageHeaderSize(fileStart);
  if (payloadOffset === undefined) {
    throw new CorruptDataError('the age header is incomplete: pass more bytes from the start of the object');
  }
  const current: DecryptOptions =
    'identities' in options ? { identities: options.identities } : { passphrase: options.passphrase };
  const fileKey = await unwrapFileKey(fileStart.subarray(0, payloadOffset), current);
  let stanzas: { args: string[]; body: Uint8Array }[];
  if ('newPassphrase' in options) {
    if (options.newPassphrase.length === 0) throw new ConfigError('the new passphrase is empty');
    stanzas = [await scryptStanza(options.newPassphrase, fileKey, options.scryptLogN ?? SCRYPT_LOG_N)];
  } else {
    const recipients = [...new Set(options.newRecipients)];
    if (recipients.length === 0) {
      throw new ConfigError('rekey needs at least one new recipient', {
        hint: 'removing every recipient would make the backup undecryptable',
      });
    }
    stanzas = recipients.map((r) => {
      try {
        return x25519Stanza(r, fileKey);
      } catch (err) {
        throw new ConfigError(`invalid age recipient "${r}" (rekey supports X25519 age1… keys)`, {
          cause: err,
        });
      }
    });
  }
  return { newHeader: encodeHeader(stanzas, fileKey), payloadOffset };
}
