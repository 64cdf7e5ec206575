import { createCipheriv, createHmac, hash, randomBytes, type Cipher } from 'node:crypto';

import { registerSecret } from '../../connections/redact.js';
import { Aes128 } from './aes.js';

/**
 * The masking key. With a secret (from the environment, never the config file) every derived
 * value is a keyed function of its input, so the same original masks to the same value in every
 * table and run; without one a random key is drawn per run: joins still hold within that run, but
 * two runs differ. Sub-keys are derived per purpose so a leak of one output family (e.g. the hash
 * column) says nothing about another (e.g. the permutation).
 */
export class MaskKey {
  readonly deterministic: boolean;
  /** Short public fingerprint of the key: lets a receipt say which key was used without revealing it. */
  readonly fingerprint: string;
  private readonly valueKey: Buffer;
  private readonly subjectKey: Buffer;
  private readonly fpeCipher: Cipher;
  private readonly fpeAes: Aes128;
  /** HMAC-SHA-256(valueKey) as two one-shot hashes: ipad‖message, then opad‖inner digest. */
  private innerBuf: Buffer;
  private readonly outerBuf: Buffer;

  /** The key material, handed to masking worker threads only (never printed or stored). */
  readonly master: Buffer;

  constructor(secret?: string | { master: Uint8Array; deterministic: boolean }) {
    let master: Buffer;
    if (typeof secret === 'object') {
      this.deterministic = secret.deterministic;
      master = Buffer.from(secret.master);
    } else {
      this.deterministic = secret !== undefined && secret.length > 0;
      if (this.deterministic) registerSecret(secret!);
      master = this.deterministic ? Buffer.from(secret!, 'utf8') : randomBytes(32);
    }
    this.master = master;
    const derive = (label: string) =>
      createHmac('sha256', master).update(`dbops/anonymize/v1/${label}`).digest();
    this.valueKey = derive('value');
    // createHmac builds a native object and hashes the key pads for every value (~3 µs); two
    // one-shot hashes over preallocated pad buffers give the same HMAC for ~2 µs, and a masked
    // copy computes one per faked cell.
    this.innerBuf = Buffer.alloc(64 + 1024, 0x36);
    this.outerBuf = Buffer.alloc(64 + 32, 0x5c);
    for (let i = 0; i < this.valueKey.length; i++) {
      this.innerBuf[i] = 0x36 ^ this.valueKey[i]!;
      this.outerBuf[i] = 0x5c ^ this.valueKey[i]!;
    }
    this.subjectKey = derive('subject');
    this.fingerprint = derive('fingerprint').toString('hex').slice(0, 12);
    // AES-128-ECB on one block is the Feistel round function: an order of magnitude cheaper per
    // call than an HMAC, and a PRF all the same. ECB is fine here: every input block is distinct.
    const fpeKey = derive('fpe').subarray(0, 16);
    const cipher = createCipheriv('aes-128-ecb', fpeKey, null);
    cipher.setAutoPadding(false);
    this.fpeCipher = cipher;
    this.fpeAes = new Aes128(fpeKey);
  }

  /** HMAC-SHA-256 of a value: the seed of fakes, the `hash` rule's output. */
  seed(source: string): Buffer {
    // Worst case 3 UTF-8 bytes per UTF-16 unit; longer values take the plain path.
    if (source.length * 3 > this.innerBuf.length - 64) {
      if (source.length * 3 > 1 << 16) return createHmac('sha256', this.valueKey).update(source).digest();
      const grown = Buffer.alloc(64 + source.length * 3, 0x36);
      this.innerBuf.copy(grown, 0, 0, 64);
      this.innerBuf = grown;
    }
    const n = this.innerBuf.write(source, 64, 'utf8');
    hash('sha256', this.innerBuf.subarray(0, 64 + n), 'buffer').copy(this.outerBuf, 64);
    return hash('sha256', this.outerBuf, 'buffer');
  }

  /** Keyed reference of a subject id for audit rows and the erasure ledger (never the id itself). */
  subjectRef(kind: string, id: string): string {
    return createHmac('sha256', this.subjectKey).update(`${kind}\u0000${id}`).digest('hex');
  }

  /** One AES block; the input must be exactly 16 bytes. */
  prf(block: Buffer): Buffer {
    return this.fpeCipher.update(block);
  }

  /** The same PRF as `prf` on the block given as four big-endian words; output words are reused. */
  prfWords(a: number, b: number, c: number, d: number): Uint32Array {
    return this.fpeAes.encryptWords(a, b, c, d);
  }
}

/** The key from the configured environment variable, or a random one. */
export function maskKeyFromEnv(secretEnv: string, env: NodeJS.ProcessEnv = process.env): MaskKey {
  const secret = env[secretEnv];
  return new MaskKey(secret && secret.length > 0 ? secret : undefined);
}
