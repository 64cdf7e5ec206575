import type { MaskKey } from './keyed.js';

/**
 * Keyed format-preserving permutations for columns under a unique or primary-key constraint (and
 * the foreign keys referencing them): a bijection, so masked values never collide and joins still
 * hold, with no mapping table. Integers keep their sign and digit count; text keeps its length and
 * the class of every character (digit, lower, upper; everything else stays in place). The
 * structure is FF1's alternating Feistel network over the bits of the domain, with cycle walking
 * to stay inside it.
 */

const ROUNDS = 8;

/*
 * Arithmetic is on little-endian arrays of six 32-bit words (192 bits ≥ the 190-bit limit), not
 * BigInt: a masked copy runs ~20 Feistel rounds per e-mail, and BigInt allocations per round were
 * most of its CPU time. The results are bit-for-bit those of the BigInt formulation (FF1 layout:
 * round byte, 24-bit tweak, 96-bit half → AES block), so masked values did not change.
 */
const W = 6;
type Words = number[];

function zero(): Words {
  return [0, 0, 0, 0, 0, 0];
}

function bitLengthW(n: Words): number {
  for (let i = W - 1; i >= 0; i--) if (n[i] !== 0) return i * 32 + 32 - Math.clz32(n[i]!);
  return 0;
}

function shrW(n: Words, s: number): Words {
  const out = zero();
  const ws = s >>> 5;
  const bs = s & 31;
  for (let i = 0; i + ws < W; i++) {
    const lo = n[i + ws]!;
    const hi = n[i + ws + 1] ?? 0;
    out[i] = bs === 0 ? lo : ((lo >>> bs) | (hi << (32 - bs))) >>> 0;
  }
  return out;
}

/** low | (high << s), high having fewer than 192 - s bits. */
function joinW(high: Words, low: Words, s: number): Words {
  const out = low.slice();
  const ws = s >>> 5;
  const bs = s & 31;
  for (let i = 0; i + ws < W; i++) {
    const h = high[i]!;
    out[i + ws] = (out[i + ws]! | (h << bs)) >>> 0;
    if (bs > 0 && i + ws + 1 < W) out[i + ws + 1] = (out[i + ws + 1]! | (h >>> (32 - bs))) >>> 0;
  }
  return out;
}

function compareW(a: Words, b: Words): number {
  for (let i = W - 1; i >= 0; i--) if (a[i] !== b[i]) return a[i]! < b[i]! ? -1 : 1;
  return 0;
}

/** n = n · m + add, in place (m, add small). */
function mulAddW(n: Words, m: number, add: number): void {
  let carry = add;
  for (let i = 0; i < W; i++) {
    const x = n[i]! * m + carry;
    n[i] = x >>> 0;
    carry = Math.floor(x / 4294967296);
  }
}

/** n = floor(n / d) in place; returns n mod d (d small). */
function divModW(n: Words, d: number): number {
  let rem = 0;
  for (let i = W - 1; i >= 0; i--) {
    const x = rem * 4294967296 + n[i]!;
    n[i] = Math.floor(x / d);
    rem = x - n[i]! * d;
  }
  return rem;
}

function toWords(n: bigint): Words {
  const out = zero();
  for (let i = 0; i < W && n > 0n; i++, n >>= 32n) out[i] = Number(n & 0xffffffffn);
  return out;
}

function fromWords(n: Words): bigint {
  let r = 0n;
  for (let i = W - 1; i >= 0; i--) r = (r << 32n) | BigInt(n[i]!);
  return r;
}

/** Word k (0 = lowest) of the mask keeping the low `bits` bits. */
function maskWord(bits: number, k: number): number {
  const left = bits - k * 32;
  if (left <= 0) return 0;
  return left >= 32 ? 0xffffffff : 0xffffffff >>> (32 - left);
}

/*
 * Halves stay under 96 bits, so the rounds run on three 32-bit words held in locals: no array per
 * round (allocation and GC were half the cost of a permuted e-mail). Same arithmetic as the word
 * arrays: c = (a + PRF(round, tweak, b)) mod 2^m, the PRF block being the round byte, the 24-bit
 * tweak and b in bytes 4..15, big-endian; the PRF's low 96 bits are its last three words.
 */
function feistel(key: MaskKey, n: Words, bits: number, tweak: number): Words {
  const u = Math.floor(bits / 2);
  const v = bits - u;
  const hi = shrW(n, v);
  let a0 = hi[0]!;
  let a1 = hi[1]!;
  let a2 = hi[2]!;
  let b0 = (n[0]! & maskWord(v, 0)) >>> 0;
  let b1 = (n[1]! & maskWord(v, 1)) >>> 0;
  let b2 = (n[2]! & maskWord(v, 2)) >>> 0;
  const mu0 = maskWord(u, 0);
  const mu1 = maskWord(u, 1);
  const mu2 = maskWord(u, 2);
  const mv0 = maskWord(v, 0);
  const mv1 = maskWord(v, 1);
  const mv2 = maskWord(v, 2);
  const t = tweak & 0xffffff;
  for (let i = 0; i < ROUNDS; i++) {
    const odd = (i & 1) === 1;
    const out = key.prfWords(((i << 24) | t) >>> 0, b2, b1, b0);
    const s0 = a0 + (out[3]! >>> 0);
    const s1 = a1 + (out[2]! >>> 0) + (s0 > 0xffffffff ? 1 : 0);
    const s2 = a2 + (out[1]! >>> 0) + (s1 > 0xffffffff ? 1 : 0);
    a0 = b0;
    a1 = b1;
    a2 = b2;
    b0 = (s0 & (odd ? mv0 : mu0)) >>> 0;
    b1 = (s1 & (odd ? mv1 : mu1)) >>> 0;
    b2 = (s2 & (odd ? mv2 : mu2)) >>> 0;
  }
  return joinW([a0, a1, a2, 0, 0, 0], [b0, b1, b2, 0, 0, 0], v);
}

function permuteIndexW(key: MaskKey, n: Words, domain: Words, tweak: number): Words {
  const domainMinus1 = domain.slice();
  for (let i = 0; i < W; i++) {
    if (domainMinus1[i]! > 0) {
      domainMinus1[i]!--;
      break;
    }
    domainMinus1[i] = 0xffffffff;
  }
  if (bitLengthW(domainMinus1) === 0) return n; // domain <= 1
  const bits = Math.max(2, bitLengthW(domainMinus1));
  if (bits > 190) throw new Error('permutation domain too large');
  let x = n;
  do x = feistel(key, x, bits, tweak);
  while (compareW(x, domain) >= 0);
  return x;
}

/** A keyed permutation of [0, domain). Halves stay under 96 bits, so domain < 2^190. */
export function permuteIndex(key: MaskKey, n: bigint, domain: bigint, tweak: number): bigint {
  if (domain <= 1n) return n;
  if (domain - 1n >= 1n << 190n) throw new Error('permutation domain too large');
  return fromWords(permuteIndexW(key, toWords(n), toWords(domain), tweak));
}

/**
 * Integers: each digit-count class [10^(d-1), 10^d) ∩ [.., max] maps onto itself, the sign is
 * kept, 0 stays 0 — so the map is a bijection on the whole type range.
 */
export function permuteInteger(key: MaskKey, value: bigint, max: bigint): bigint {
  if (value === 0n) return 0n;
  const negative = value < 0n;
  const abs = negative ? -value : value;
  const digits = abs.toString().length;
  const low = digits === 1 ? 1n : 10n ** BigInt(digits - 1);
  let high = 10n ** BigInt(digits);
  const limit = negative ? max + 1n : max; // |min| = max + 1 for two's complement types
  if (high > limit + 1n) high = limit + 1n;
  const permuted = low + permuteIndex(key, abs - low, high - low, 0x1000 + digits);
  return negative ? -permuted : permuted;
}

const DIGITS = '0123456789';
const LOWER = 'abcdefghijklmnopqrstuvwxyz';
const UPPER = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ';
const HEX_LOWER = '0123456789abcdef';
const HEX_UPPER = '0123456789ABCDEF';

function alphabetOf(ch: string, hex: boolean): string | undefined {
  if (hex) {
    if (HEX_LOWER.includes(ch)) return HEX_LOWER;
    if (HEX_UPPER.includes(ch)) return HEX_UPPER;
    return undefined;
  }
  if (ch >= '0' && ch <= '9') return DIGITS;
  if (ch >= 'a' && ch <= 'z') return LOWER;
  if (ch >= 'A' && ch <= 'Z') return UPPER;
  return undefined;
}

/** Maskable characters per block: 36 letters ≈ 170 bits keeps each Feistel half under 96 bits. */
const BLOCK_CHARS = 36;

function charOf(radix: number, d: number): number {
  if (radix === 16) return 87 + d;
  if (radix === -16) return 55 + d;
  return radix === 26 ? 97 + d : 65 + d;
}

/**
 * Text: a bijection on the strings of the same "shape" (length, class of each position, other
 * characters in place). Long strings are permuted in independent blocks, each tweaked by its
 * position and shape, which keeps the whole map a bijection.
 */
export function permuteText(key: MaskKey, value: string, options: { hex?: boolean } = {}): string {
  // Works on UTF-16 code units and char codes (no per-character strings): characters outside the
  // alphabets, surrogate halves included, stay in place, so this equals a per-code-point walk.
  const hex = options.hex ?? false;
  const len = value.length;
  const codes = new Array<number>(len);
  const positions: number[] = [];
  const radixes: number[] = [];
  const digits: number[] = [];
  let shapeHash = 0x811c9dc5;
  for (let i = 0; i < len; i++) {
    const c = value.charCodeAt(i);
    codes[i] = c;
    // Alphabet codes: 10 digits, 26 lower, -26 upper, 16 lower hex (with digits), -16 upper hex.
    let radix = 0;
    let digit = 0;
    let shape = c;
    if (c >= 48 && c <= 57) {
      radix = hex ? 16 : 10;
      digit = c - 48;
      shape = hex ? 104 : 100; // 'h' : 'd'
    } else if (c >= 97 && c <= 122 && (!hex || c <= 102)) {
      radix = hex ? 16 : 26;
      digit = hex ? c - 87 : c - 97;
      shape = hex ? 104 : 108; // 'h' : 'l'
    } else if (c >= 65 && c <= 90 && (!hex || c <= 70)) {
      radix = hex ? -16 : -26;
      digit = hex ? c - 55 : c - 65;
      shape = hex ? 104 : 117; // 'h' : 'u'
    }
    if (radix !== 0) {
      positions.push(i);
      radixes.push(radix);
      digits.push(digit);
    }
    shapeHash ^= shape;
    shapeHash = Math.imul(shapeHash, 0x01000193) >>> 0;
  }
  for (let start = 0; start < positions.length; start += BLOCK_CHARS) {
    const end = Math.min(positions.length, start + BLOCK_CHARS);
    const n = zero();
    const domain = zero();
    domain[0] = 1;
    for (let j = start; j < end; j++) {
      const radix = Math.abs(radixes[j]!);
      mulAddW(n, radix, digits[j]!);
      mulAddW(domain, radix, 0);
    }
    const p = permuteIndexW(key, n, domain, (shapeHash ^ Math.imul(start + 1, 0x9e3779b1)) >>> 0);
    for (let j = end - 1; j >= start; j--) {
      const radix = radixes[j]!;
      const d = divModW(p, Math.abs(radix));
      codes[positions[j]!] =
        d < 10 && (radix === 10 || radix === 16 || radix === -16) ? 48 + d : charOf(radix, d);
    }
  }
  let out = '';
  for (let i = 0; i < len; i += 4096) out += String.fromCharCode(...codes.slice(i, i + 4096));
  return out;
}

/**
 * One-way counterpart for erasure: same shape, characters drawn from a keyed seed. Not a
 * permutation (a reversible permutation would be pseudonymisation, not erasure).
 */
export function scrambleText(seed: Buffer, value: string, options: { hex?: boolean } = {}): string {
  const chars = [...value];
  let k = 0;
  for (let i = 0; i < chars.length; i++) {
    const alphabet = alphabetOf(chars[i]!, options.hex ?? false);
    if (!alphabet) continue;
    const byte = seed[k % seed.length]! ^ (k >> 5);
    chars[i] = alphabet[byte % alphabet.length]!;
    k++;
  }
  return chars.join('');
}
