/**
 * AES-128 encryption of one block, in JavaScript with T-tables: the Feistel round function of the
 * format-preserving permutation. Node's cipher.update costs ~1.5 µs per 16-byte call (a native
 * round trip and a Buffer per call); a masked copy makes ~20 of them per e-mail, so the call
 * overhead, not AES, was the cost. Same cipher, same output as `aes-128-ecb` (checked in tests);
 * used only as a keyed PRF here, so its timing behaviour on secret-dependent table lookups is not a
 * concern the way it would be for encrypting data at rest.
 */

const SBOX = new Uint8Array(256);
const T0 = new Uint32Array(256);
const T1 = new Uint32Array(256);
const T2 = new Uint32Array(256);
const T3 = new Uint32Array(256);

function rotl8(x: number, s: number): number {
  return ((x << s) | (x >>> (8 - s))) & 0xff;
}

(() => {
  let p = 1;
  let q = 1;
  do {
    p = p ^ ((p << 1) & 0xff) ^ (p & 0x80 ? 0x1b : 0);
    q ^= q << 1;
    q ^= q << 2;
    q ^= q << 4;
    q &= 0xff;
    if (q & 0x80) q ^= 0x09;
    SBOX[p] = q ^ rotl8(q, 1) ^ rotl8(q, 2) ^ rotl8(q, 3) ^ rotl8(q, 4) ^ 0x63;
  } while (p !== 1);
  SBOX[0] = 0x63;
  for (let x = 0; x < 256; x++) {
    const s = SBOX[x]!;
    const s2 = ((s << 1) ^ (s & 0x80 ? 0x1b : 0)) & 0xff;
    const s3 = s2 ^ s;
    const t = ((s2 << 24) | (s << 16) | (s << 8) | s3) >>> 0;
    T0[x] = t;
    T1[x] = ((t >>> 8) | (t << 24)) >>> 0;
    T2[x] = ((t >>> 16) | (t << 16)) >>> 0;
    T3[x] = ((t >>> 24) | (t << 8)) >>> 0;
  }
})();

function subWord(w: number): number {
  return (
    ((SBOX[w >>> 24]! << 24) |
      (SBOX[(w >>> 16) & 0xff]! << 16) |
      (SBOX[(w >>> 8) & 0xff]! << 8) |
      SBOX[w & 0xff]!) >>>
    0
  );
}

export class Aes128 {
  private readonly rk = new Uint32Array(44);
  /** The last block's output, big-endian words. */
  readonly out = new Uint32Array(4);

  constructor(key: Buffer) {
    if (key.length !== 16) throw new Error('AES-128 needs a 16-byte key');
    const rk = this.rk;
    for (let i = 0; i < 4; i++) rk[i] = key.readUInt32BE(i * 4);
    let rcon = 1;
    for (let i = 4; i < 44; i++) {
      let t = rk[i - 1]!;
      if (i % 4 === 0) {
        t = (subWord(((t << 8) | (t >>> 24)) >>> 0) ^ (rcon << 24)) >>> 0;
        rcon = ((rcon << 1) ^ (rcon & 0x80 ? 0x1b : 0)) & 0xff;
      }
      rk[i] = (rk[i - 4]! ^ t) >>> 0;
    }
  }

  /** Encrypts the block (big-endian words a b c d) into `this.out`. */
  encryptWords(a: number, b: number, c: number, d: number): Uint32Array {
    const rk = this.rk;
    let s0 = a ^ rk[0]!;
    let s1 = b ^ rk[1]!;
    let s2 = c ^ rk[2]!;
    let s3 = d ^ rk[3]!;
    for (let r = 4; r < 40; r += 4) {
      const t0 = T0[s0 >>> 24]! ^ T1[(s1 >>> 16) & 255]! ^ T2[(s2 >>> 8) & 255]! ^ T3[s3 & 255]! ^ rk[r]!;
      const t1 = T0[s1 >>> 24]! ^ T1[(s2 >>> 16) & 255]! ^ T2[(s3 >>> 8) & 255]! ^ T3[s0 & 255]! ^ rk[r + 1]!;
      const t2 = T0[s2 >>> 24]! ^ T1[(s3 >>> 16) & 255]! ^ T2[(s0 >>> 8) & 255]! ^ T3[s1 & 255]! ^ rk[r + 2]!;
      const t3 = T0[s3 >>> 24]! ^ T1[(s0 >>> 16) & 255]! ^ T2[(s1 >>> 8) & 255]! ^ T3[s2 & 255]! ^ rk[r + 3]!;
      s0 = t0;
      s1 = t1;
      s2 = t2;
      s3 = t3;
    }
    const o = this.out;
    const last = (w0: number, w1: number, w2: number, w3: number, k: number): number =>
      ((SBOX[w0 >>> 24]! << 24) |
        (SBOX[(w1 >>> 16) & 255]! << 16) |
        (SBOX[(w2 >>> 8) & 255]! << 8) |
        SBOX[w3 & 255]!) ^
      k;
    o[0] = last(s0, s1, s2, s3, rk[40]!);
    o[1] = last(s1, s2, s3, s0, rk[41]!);
    o[2] = last(s2, s3, s0, s1, rk[42]!);
    o[3] = last(s3, s0, s1, s2, rk[43]!);
    return o;
  }
}
