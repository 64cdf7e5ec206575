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

function fnv32(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/** Keeps the low `bits` bits, in place. */
function maskBitsW(n: Words, bits: number): void {
  for (let i = 0; i < W; i++) {
    const k = bits - i * 32;
    if (k <= 0) n[i] = 0;
    else if (k < 32) n[i] = (n[i]! & (0xffffffff >>> (32 - k))) >>> 0;
  }
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

function roundValue(key: MaskKey, round: number, tweak: number, half: Words, bits: number): Words {
  // Block: round byte, 24-bit tweak, then the half (< 2^96) in bytes 4..15, big-endian.
  const out = key.prfWords(((round << 24) | (tweak & 0xffffff)) >>> 0, half[2]!, half[1]!, half[0]!);
  const r = [out[3]! >>> 0, out[2]! >>> 0, out[1]! >>> 0, out[0]! >>> 0, 0, 0];
  maskBitsW(r, bits);
  return r;
}

function feistel(key: MaskKey, n: Words, bits: number, tweak: number): Words {
  const u = Math.floor(bits / 2);
  const v = bits - u;
  let a = shrW(n, v);
  let b = n.slice();
  maskBitsW(b, v);
  for (let i = 0; i < ROUNDS; i++) {
    const m = i % 2 === 0 ? u : v;
    const r = roundValue(key, i, tweak, b, m);
    const c = zero();
    let carry = 0;
    for (let k = 0; k < W; k++) {
      const s = a[k]! + r[k]! + carry;
      c[k] = s >>> 0;
      carry = s > 0xffffffff ? 1 : 0;
    }
    maskBitsW(c, m);
    a = b;
    b = c;
  }
  return joinW(a, b, v);
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

/**
 * Text: a bijection on the strings of the same "shape" (length, class of each position, other
 * characters in place). Long strings are permuted in independent blocks, each tweaked by its
 * position and shape, which keeps the whole map a bijection.
 */
export function permuteText(key: MaskKey, value: string, options: { hex?: boolean } = {}): string {
  const hex = options.hex ?? false;
  const chars = [...value];
  const positions: number[] = [];
  const alphabets: string[] = [];
  let shape = '';
  for (let i = 0; i < chars.length; i++) {
    const alphabet = alphabetOf(chars[i]!, hex);
    if (alphabet) {
      positions.push(i);
      alphabets.push(alphabet);
      shape += alphabet === DIGITS ? 'd' : alphabet.length === 16 ? 'h' : alphabet === LOWER ? 'l' : 'u';
    } else shape += chars[i];
  }
  const shapeHash = fnv32(shape);
  for (let start = 0; start < positions.length; start += BLOCK_CHARS) {
    const end = Math.min(positions.length, start + BLOCK_CHARS);
    const n = zero();
    const domain = zero();
    domain[0] = 1;
    for (let j = start; j < end; j++) {
      const alphabet = alphabets[j]!;
      mulAddW(n, alphabet.length, alphabet.indexOf(chars[positions[j]!]!));
      mulAddW(domain, alphabet.length, 0);
    }
    const p = permuteIndexW(key, n, domain, (shapeHash ^ Math.imul(start + 1, 0x9e3779b1)) >>> 0);
    for (let j = end - 1; j >= start; j--) {
      const alphabet = alphabets[j]!;
      chars[positions[j]!] = alphabet[divModW(p, alphabet.length)]!;
    }
  }
  return chars.join('');
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
