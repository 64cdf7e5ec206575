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

function bitLength(n: bigint): number {
  return n === 0n ? 0 : n.toString(2).length;
}

function fnv32(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

const block = Buffer.alloc(16);

function roundValue(key: MaskKey, round: number, tweak: number, half: bigint, bits: number): bigint {
  block.fill(0);
  block[0] = round;
  block.writeUIntBE(tweak & 0xffffff, 1, 3);
  // half is < 2^96: bytes 4..15
  let v = half;
  for (let i = 15; i >= 4; i--) {
    block[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  const out = key.prf(block);
  let r = 0n;
  for (let i = 0; i < 16; i++) r = (r << 8n) | BigInt(out[i]!);
  return r & ((1n << BigInt(bits)) - 1n);
}

function feistel(key: MaskKey, n: bigint, bits: number, tweak: number): bigint {
  const u = Math.floor(bits / 2);
  const v = bits - u;
  let a = n >> BigInt(v);
  let b = n & ((1n << BigInt(v)) - 1n);
  for (let i = 0; i < ROUNDS; i++) {
    const m = i % 2 === 0 ? u : v;
    const c = (a + roundValue(key, i, tweak, b, m)) & ((1n << BigInt(m)) - 1n);
    a = b;
    b = c;
  }
  return (a << BigInt(v)) | b;
}

/** A keyed permutation of [0, domain). Halves stay under 96 bits, so domain < 2^190. */
export function permuteIndex(key: MaskKey, n: bigint, domain: bigint, tweak: number): bigint {
  if (domain <= 1n) return n;
  const bits = Math.max(2, bitLength(domain - 1n));
  if (bits > 190) throw new Error('permutation domain too large');
  let x = n;
  do x = feistel(key, x, bits, tweak);
  while (x >= domain);
  return x;
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
    let n = 0n;
    let domain = 1n;
    for (let j = start; j < end; j++) {
      const radix = BigInt(alphabets[j]!.length);
      n = n * radix + BigInt(alphabets[j]!.indexOf(chars[positions[j]!]!));
      domain *= radix;
    }
    let p = permuteIndex(key, n, domain, (shapeHash ^ Math.imul(start + 1, 0x9e3779b1)) >>> 0);
    for (let j = end - 1; j >= start; j--) {
      const alphabet = alphabets[j]!;
      const radix = BigInt(alphabet.length);
      chars[positions[j]!] = alphabet[Number(p % radix)]!;
      p /= radix;
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
