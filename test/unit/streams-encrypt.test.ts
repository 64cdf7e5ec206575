import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  Decrypter,
  Encrypter,
  generateHybridIdentity,
  identityToRecipient as pkgRecipient,
} from 'age-encryption';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { ConfigError } from '../../src/errors.js';
import {
  CorruptDataError,
  DecryptionError,
  ageHeaderSize,
  decryptStage,
  encryptStage,
  generateIdentity,
  identityToRecipient,
  loadIdentities,
  parseIdentities,
  rekeyHeader,
  type DecryptOptions,
  type EncryptOptions,
} from '../../src/streams/index.js';

/** Feeds `input` in uneven chunks so every buffering path is exercised. */
async function through(input: Buffer, stage: NodeJS.ReadWriteStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  const sizes = [1, 7, 65536, 100_000, 3];
  for (let off = 0, i = 0; off < input.length; i++) {
    const n = sizes[i % sizes.length]!;
    chunks.push(input.subarray(off, off + n));
    off += n;
  }
  const out: Buffer[] = [];
  await pipeline(
    Readable.from(chunks),
    stage,
    new Writable({
      write(chunk: Buffer, _e, cb) {
        out.push(chunk);
        cb();
      },
    }),
  );
  return Buffer.concat(out);
}

const encrypt = (data: Buffer, o: EncryptOptions) => through(data, encryptStage(o));
const decrypt = (data: Buffer, o: DecryptOptions) => through(data, decryptStage(o));

const ageCli = spawnSync('age', ['--version']).status === 0;
if (!ageCli)
  console.warn('NOTICE: the `age` CLI is not installed (apt-get install age): real-CLI checks are skipped');

let keyA: string;
let keyB: string;
let recipientA: string;
let recipientB: string;
let dir: string;

beforeAll(async () => {
  keyA = await generateIdentity();
  keyB = await generateIdentity();
  recipientA = await identityToRecipient(keyA);
  recipientB = await identityToRecipient(keyB);
  dir = mkdtempSync(join(tmpdir(), 'dbops-streams-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function ageDecryptCli(data: Buffer, identity: string) {
  const keyFile = join(dir, `key-${Math.random().toString(36).slice(2)}.txt`);
  writeFileSync(keyFile, `# created: test\n${identity}\n`, { mode: 0o600 });
  return spawnSync('age', ['-d', '-i', keyFile], { input: data, maxBuffer: 256 * 1024 * 1024 });
}

describe('identities', () => {
  it('parses identity files, ignoring comments and blanks', async () => {
    const file = join(dir, 'ids.txt');
    writeFileSync(file, `# created: 2024\n# public key: ${recipientA}\n${keyA}\n\n  ${keyB}  \n`);
    expect(await loadIdentities(file)).toEqual([keyA, keyB]);
  });

  it('rejects files without identities or with junk, without echoing secrets', () => {
    expect(() => parseIdentities('# nothing\n')).toThrow(ConfigError);
    expect(() => parseIdentities(`${keyA}\nAGE-SECRET-KEY-oops\n`)).toThrow(/line 2/);
    expect(() => parseIdentities('AGE-SECRET-KEY-oops')).not.toThrow(/oops/);
  });

  it('missing file → ConfigError', async () => {
    await expect(loadIdentities(join(dir, 'missing'))).rejects.toThrow(ConfigError);
  });

  it('derives recipients', () => {
    expect(keyA).toMatch(/^AGE-SECRET-KEY-1[0-9A-Z]+$/);
    expect(recipientA).toMatch(/^age1[0-9a-z]{58}$/);
  });
});

describe('age stages', () => {
  // Sizes around the 64 KiB STREAM chunk boundaries.
  it.each([0, 1, 65535, 65536, 65537, 3 * 65536, 1_000_003])(
    'recipients round trip, %d bytes',
    async (size) => {
      const data = randomBytes(size);
      const sealed = await encrypt(data, { recipients: [recipientA, recipientB] });
      expect((await decrypt(sealed, { identities: [keyB] })).equals(data)).toBe(true);
      // Cross-check against the package's own (whole-buffer) implementation, both ways.
      const d = new Decrypter();
      d.addIdentity(keyA);
      expect(Buffer.from(await d.decrypt(sealed)).equals(data)).toBe(true);
      const e = new Encrypter();
      e.addRecipient(recipientA);
      const theirs = Buffer.from(await e.encrypt(data));
      expect((await decrypt(theirs, { identities: [keyA] })).equals(data)).toBe(true);
    },
  );

  it('post-quantum recipients go through the package and still stream', async () => {
    const pq = await generateHybridIdentity();
    const pqRecipient = await pkgRecipient(pq);
    const data = randomBytes(150_000);
    const sealed = await encrypt(data, { recipients: [pqRecipient] });
    expect(sealed.subarray(0, 200).toString('latin1')).toContain('-> mlkem768x25519');
    expect((await decrypt(sealed, { identities: [pq] })).equals(data)).toBe(true);
    await expect(decrypt(sealed, { identities: [keyA] })).rejects.toThrow(DecryptionError);
  });

  it('passphrase round trip (scrypt), also readable by the package', async () => {
    const data = randomBytes(200_000);
    const sealed = await encrypt(data, { passphrase: 'correct horse battery staple' });
    expect(sealed.subarray(0, 80).toString()).toMatch(/^age-encryption.org\/v1\n-> scrypt \S{22} 18\n/);
    expect((await decrypt(sealed, { passphrase: 'correct horse battery staple' })).equals(data)).toBe(true);
    const d = new Decrypter();
    d.addPassphrase('correct horse battery staple');
    expect(Buffer.from(await d.decrypt(sealed)).equals(data)).toBe(true);
    const cheap = await encrypt(data, { passphrase: 'correct horse battery staple', scryptLogN: 10 });
    const err = await decrypt(cheap, { passphrase: 'wrong' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DecryptionError);
    expect((err as Error).message).toMatch(/passphrase does not decrypt/);
  }, 30_000);

  it('wrong identity → DecryptionError naming the problem', async () => {
    const sealed = await encrypt(randomBytes(1000), { recipients: [recipientA] });
    const err = await decrypt(sealed, { identities: [keyB] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DecryptionError);
    expect((err as DecryptionError).message).toBe("no identity matches this backup's recipients");
    expect((err as DecryptionError).exitCode).toBe(2);
  });

  it('a flipped payload byte → CorruptDataError, and nothing of that chunk is emitted', async () => {
    const data = randomBytes(300_000);
    const sealed = await encrypt(data, { recipients: [recipientA] });
    const header = ageHeaderSize(sealed)!;
    for (const at of [header + 16 + 10, header + 16 + 65536 + 16 + 5, sealed.length - 1]) {
      const bad = Buffer.from(sealed);
      bad[at]! ^= 0x01;
      const err = await decrypt(bad, { identities: [keyA] }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(CorruptDataError);
      expect((err as CorruptDataError).exitCode).toBe(1);
    }
  });

  it('a flipped nonce or header MAC byte → CorruptDataError', async () => {
    const sealed = await encrypt(randomBytes(1000), { recipients: [recipientA] });
    const header = ageHeaderSize(sealed)!;
    for (const at of [header + 3, header - 5]) {
      const bad = Buffer.from(sealed);
      bad[at] = bad[at] === 0x41 ? 0x42 : 0x41; // stays valid base64 in the MAC line
      await expect(decrypt(bad, { identities: [keyA] })).rejects.toThrow(CorruptDataError);
    }
  });

  it('truncation (also at a chunk boundary) → CorruptDataError', async () => {
    const sealed = await encrypt(randomBytes(200_000), { recipients: [recipientA] });
    const header = ageHeaderSize(sealed)!;
    for (const len of [10, header, header + 16, header + 16 + 65552, sealed.length - 1]) {
      await expect(decrypt(sealed.subarray(0, len), { identities: [keyA] })).rejects.toThrow(
        CorruptDataError,
      );
    }
  });

  it('not an age file → CorruptDataError', async () => {
    await expect(decrypt(Buffer.from('PGDMP this is a plain dump'), { identities: [keyA] })).rejects.toThrow(
      CorruptDataError,
    );
  });

  it('bad recipients and empty identity lists are config errors', async () => {
    await expect(encrypt(Buffer.from('x'), { recipients: ['age1nope'] })).rejects.toThrow(ConfigError);
    await expect(encrypt(Buffer.from('x'), { recipients: [] })).rejects.toThrow(ConfigError);
    const sealed = await encrypt(Buffer.from('x'), { recipients: [recipientA] });
    await expect(decrypt(sealed, { identities: [] })).rejects.toThrow(ConfigError);
  });

  it.skipIf(!ageCli)('the real age CLI decrypts our output, and we decrypt its output', async () => {
    const data = randomBytes(700_000);
    const sealed = await encrypt(data, { recipients: [recipientA] });
    const out = ageDecryptCli(sealed, keyA);
    expect(out.stderr.toString()).toBe('');
    expect(out.status).toBe(0);
    expect(out.stdout.equals(data)).toBe(true);
    const theirs = spawnSync('age', ['-e', '-r', recipientB], { input: data, maxBuffer: 64 * 1024 * 1024 });
    expect(theirs.status).toBe(0);
    expect((await decrypt(theirs.stdout, { identities: [keyB] })).equals(data)).toBe(true);
  });
});

describe('rekeyHeader (key rotation without rewriting the payload)', () => {
  it('encrypt to A, rekey to B only: B decrypts (ours, package, age CLI), A no longer does', async () => {
    const data = randomBytes(500_000);
    const sealed = await encrypt(data, { recipients: [recipientA] });
    const { newHeader, payloadOffset } = await rekeyHeader(sealed.subarray(0, 4096), {
      identities: [keyA],
      newRecipients: [recipientB],
    });
    expect(payloadOffset).toBe(ageHeaderSize(sealed));
    const rekeyed = Buffer.concat([newHeader, sealed.subarray(payloadOffset)]);
    // The payload bytes are untouched.
    expect(rekeyed.subarray(newHeader.length).equals(sealed.subarray(payloadOffset))).toBe(true);
    expect((await decrypt(rekeyed, { identities: [keyB] })).equals(data)).toBe(true);
    const d = new Decrypter();
    d.addIdentity(keyB);
    expect(Buffer.from(await d.decrypt(rekeyed)).equals(data)).toBe(true);
    await expect(decrypt(rekeyed, { identities: [keyA] })).rejects.toThrow(DecryptionError);
    if (ageCli) {
      const out = ageDecryptCli(rekeyed, keyB);
      expect(out.status).toBe(0);
      expect(out.stdout.equals(data)).toBe(true);
      expect(ageDecryptCli(rekeyed, keyA).status).not.toBe(0);
    } else {
      console.warn('NOTICE: age CLI absent, rekey not checked against it');
    }
  });

  it('adds a recipient, keeps the old one; rekeys to and from a passphrase', async () => {
    const data = randomBytes(70_000);
    const sealed = await encrypt(data, { recipients: [recipientA] });
    const both = await rekeyHeader(sealed, { identities: [keyA], newRecipients: [recipientA, recipientB] });
    const twoKeys = Buffer.concat([both.newHeader, sealed.subarray(both.payloadOffset)]);
    expect((await decrypt(twoKeys, { identities: [keyA] })).equals(data)).toBe(true);
    expect((await decrypt(twoKeys, { identities: [keyB] })).equals(data)).toBe(true);

    const toPass = await rekeyHeader(twoKeys, {
      identities: [keyB],
      newPassphrase: 'pw-2024',
      scryptLogN: 10,
    });
    const passFile = Buffer.concat([toPass.newHeader, twoKeys.subarray(toPass.payloadOffset)]);
    expect((await decrypt(passFile, { passphrase: 'pw-2024' })).equals(data)).toBe(true);
    const back = await rekeyHeader(passFile, { passphrase: 'pw-2024', newRecipients: [recipientB] });
    const keyFile = Buffer.concat([back.newHeader, passFile.subarray(back.payloadOffset)]);
    expect((await decrypt(keyFile, { identities: [keyB] })).equals(data)).toBe(true);
  }, 30_000);

  it('refuses without a matching identity, with a partial header, or with no new recipient', async () => {
    const sealed = await encrypt(randomBytes(100), { recipients: [recipientA] });
    await expect(rekeyHeader(sealed, { identities: [keyB], newRecipients: [recipientB] })).rejects.toThrow(
      DecryptionError,
    );
    await expect(
      rekeyHeader(sealed.subarray(0, 30), { identities: [keyA], newRecipients: [recipientB] }),
    ).rejects.toThrow(/incomplete/);
    await expect(rekeyHeader(sealed, { identities: [keyA], newRecipients: [] })).rejects.toThrow(ConfigError);
    await expect(rekeyHeader(sealed, { identities: [keyA], newRecipients: ['age1bad'] })).rejects.toThrow(
      ConfigError,
    );
    const tampered = Buffer.from(sealed);
    const h = ageHeaderSize(sealed)!;
    tampered[h - 5] = tampered[h - 5] === 0x41 ? 0x42 : 0x41;
    await expect(rekeyHeader(tampered, { identities: [keyA], newRecipients: [recipientB] })).rejects.toThrow(
      CorruptDataError,
    );
  });
});
