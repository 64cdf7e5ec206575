import { fakeValue } from './fake.js';
import { permuteInteger, permuteText, scrambleText } from './fpe.js';
import type { MaskKey } from './keyed.js';
import type { Rule } from './rules.js';
import type { ColumnType } from './types.js';

/** Returned for a JSON key whose rule says to drop it. */
export const DROP = Symbol('drop');
export type Masked = string | null | typeof DROP;

/**
 * Where a masked value's randomness comes from.
 * - `copy`: from the original value, so the same original masks identically in every table and
 *   run (joins on masked keys match; refreshes are stable).
 * - `erase`: from the row's identity (table, primary key, column), never from the erased value —
 *   the result is not linkable to the original (erasure, not pseudonymisation), and a second run
 *   computes exactly the same values, so it changes nothing.
 */
export interface MaskContext {
  key: MaskKey;
  mode: 'copy' | 'erase';
  /** Erase mode: identity of the cell (`table/pk/column`). */
  identity?: string;
  /** The column is under a unique constraint: fakes get a keyed tag so erased rows cannot collide. */
  unique?: boolean;
}

export interface ValueMasker {
  rule: Rule;
  type: ColumnType;
  /** null in → null out, for every rule. */
  mask(value: string, ctx: MaskContext): Masked;
}

function fit(value: string, type: ColumnType): string {
  return type.maxLength !== undefined && [...value].length > type.maxLength
    ? [...value].slice(0, type.maxLength).join('')
    : value;
}

function seedOf(value: string, ctx: MaskContext): Buffer {
  return ctx.key.seed(ctx.mode === 'copy' ? `v\u0000${value}` : `e\u0000${ctx.identity ?? ''}`);
}

/** A number in [-1, 1) from seed bytes 16..23. */
function unitOf(seed: Buffer): number {
  return (seed.readUInt32BE(16) / 2 ** 32) * 2 - 1;
}

function uniqueTag(seed: Buffer): string {
  return seed.subarray(20, 28).toString('hex');
}

function withTag(value: string, seed: Buffer, ctx: MaskContext): string {
  if (!ctx.unique) return value;
  const tag = uniqueTag(seed);
  const at = value.lastIndexOf('@');
  return at > 0 ? `${value.slice(0, at)}.${tag}${value.slice(at)}` : `${value}-${tag}`;
}

function parseTime(text: string, family: ColumnType['family']): number {
  if (family === 'date') return Date.parse(`${text.slice(0, 10)}T00:00:00Z`);
  let iso = text.replace(' ', 'T');
  if (family === 'timestamp') iso += 'Z';
  else iso = iso.replace(/([+-]\d\d)$/, '$1:00');
  return Date.parse(iso);
}

function formatTime(ms: number, family: ColumnType['family']): string {
  const iso = new Date(ms).toISOString();
  if (family === 'date') return iso.slice(0, 10);
  if (family === 'timestamp') return iso.slice(0, -1);
  return iso;
}

function isTime(type: ColumnType): boolean {
  return type.family === 'date' || type.family === 'timestamp' || type.family === 'timestamptz';
}

function generalizeTime(ms: number, to: string | number): number {
  const d = new Date(ms);
  const y = d.getUTCFullYear();
  switch (to) {
    case 'day':
      return Date.UTC(y, d.getUTCMonth(), d.getUTCDate());
    case 'month':
      return Date.UTC(y, d.getUTCMonth(), 1);
    case 'year':
      return Date.UTC(y, 0, 1);
    case 'decade':
      return Date.UTC(y - (((y % 10) + 10) % 10), 0, 1);
    default:
      return ms;
  }
}

function formatNumber(n: number, type: ColumnType): string {
  return type.family === 'int' ? String(Math.round(n)) : String(n);
}

function mustTime(ms: number, text: string): number {
  if (Number.isNaN(ms)) throw new Error(`cannot read the date/time value (${text.length} characters)`);
  return ms;
}

/** Masks one non-null value, given as text (COPY text / JSON leaf / driver value). */
export function maskValue(rule: Rule, value: string, type: ColumnType, ctx: MaskContext): Masked {
  switch (rule.kind) {
    case 'keep':
      return value;
    case 'null':
      return null;
    case 'redact':
      return type.family === 'json' ? JSON.stringify(rule.text) : fit(rule.text, type);
    case 'hash': {
      const hex = seedOf(value, ctx).toString('hex');
      if (type.family === 'uuid')
        return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
      return fit(hex.slice(0, rule.length), type);
    }
    case 'permute': {
      if (ctx.mode === 'erase') {
        const seed = seedOf(value, ctx);
        if (type.family === 'int') {
          const digits = value.replace(/^-/, '').length;
          return `${value.startsWith('-') ? '-' : ''}${scrambleText(seed, '9'.repeat(digits)).replace(/^0/, '1')}`;
        }
        return scrambleText(seed, value, { hex: type.family === 'uuid' });
      }
      if (type.family === 'int')
        return String(permuteInteger(ctx.key, BigInt(value), type.intMax ?? 2n ** 63n - 1n));
      return permuteText(ctx.key, value, { hex: type.family === 'uuid' });
    }
    case 'fake': {
      const seed = seedOf(value, ctx);
      return fit(withTag(fakeValue(rule.fake, seed), seed, ctx), type);
    }
    case 'partial': {
      const chars = [...value];
      const keepFrom = Math.max(rule.keepStart, chars.length - rule.keep);
      return chars.map((c, i) => (i < rule.keepStart || i >= keepFrom ? c : rule.mask)).join('');
    }
    case 'noise': {
      const seed = seedOf(value, ctx);
      const u = unitOf(seed);
      if (isTime(type)) {
        const ms = mustTime(parseTime(value, type.family), value);
        const step = type.family === 'date' ? 86_400_000 : 1000;
        const range = Math.max(rule.range, step);
        // Erasure snaps to a keyed grid of width 2·range: within ± range of the original, and a
        // second run leaves the value where it is (idempotent). Copies add a keyed offset.
        const out =
          ctx.mode === 'erase'
            ? snap(ms, 2 * range, (u + 1) * range)
            : ms + Math.round((u * range) / step) * step;
        return formatTime(Math.round(out / step) * step, type.family);
      }
      const n = Number(value);
      if (!Number.isFinite(n)) return value;
      const out = ctx.mode === 'erase' ? snap(n, 2 * rule.range, (u + 1) * rule.range) : n + u * rule.range;
      return formatNumber(out, type);
    }
    case 'generalize': {
      if (isTime(type)) {
        const to = typeof rule.to === 'number' ? 'year' : rule.to;
        return formatTime(generalizeTime(mustTime(parseTime(value, type.family), value), to), type.family);
      }
      const n = Number(value);
      if (!Number.isFinite(n)) return value;
      const width = typeof rule.to === 'number' ? rule.to : 10;
      return formatNumber(Math.floor(n / width) * width, type);
    }
    case 'json':
      return maskJson(rule, value, ctx);
  }
}

function snap(x: number, width: number, phase: number): number {
  return phase + Math.round((x - phase) / width) * width;
}

const TEXT: ColumnType = { sql: 'text', family: 'text' };
const NUMBER: ColumnType = { sql: 'numeric', family: 'numeric' };

/** Applies key rules inside a JSON document; returns the new JSON text. */
export function maskJson(rule: Extract<Rule, { kind: 'json' }>, text: string, ctx: MaskContext): string {
  const doc = JSON.parse(text) as unknown;
  return JSON.stringify(maskJsonNode(rule, doc, [], ctx));
}

export function maskJsonNode(
  rule: Extract<Rule, { kind: 'json' }>,
  node: unknown,
  path: string[],
  ctx: MaskContext,
): unknown {
  if (Array.isArray(node)) return node.map((item) => maskJsonNode(rule, item, path, ctx));
  if (node === null || typeof node !== 'object') return node;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(node as Record<string, unknown>)) {
    const childPath = [...path, key];
    const keyRule = rule.keys.get(childPath.join('.')) ?? rule.keys.get(key);
    if (!keyRule) {
      if (value !== null && typeof value === 'object') out[key] = maskJsonNode(rule, value, childPath, ctx);
      else if (rule.default === 'keep') out[key] = value;
      else if (rule.default === 'null') out[key] = null;
      continue;
    }
    const masked = maskJsonLeaf(keyRule, value, ctx, childPath);
    if (masked !== DROP) out[key] = masked;
  }
  return out;
}

function maskJsonLeaf(rule: Rule, value: unknown, ctx: MaskContext, path: string[]): unknown {
  if (value === null || value === undefined) return value;
  if (rule.kind === 'keep') return value;
  if (rule.kind === 'null') return null;
  if (Array.isArray(value)) return value.map((v) => maskJsonLeaf(rule, v, ctx, path));
  const leafCtx: MaskContext =
    ctx.mode === 'erase' ? { ...ctx, identity: `${ctx.identity ?? ''}/${path.join('.')}` } : ctx;
  if (typeof value === 'object') {
    if (rule.kind === 'json') return maskJsonNode(rule, value, [], leafCtx);
    return maskValue(rule, JSON.stringify(value), TEXT, leafCtx);
  }
  if (typeof value === 'number') {
    const masked = maskValue(rule, String(value), NUMBER, leafCtx);
    if (masked === null || masked === DROP) return masked;
    const n = Number(masked);
    return rule.kind === 'noise' || rule.kind === 'generalize' || rule.kind === 'permute' ? n : masked;
  }
  if (typeof value === 'boolean') return rule.kind === 'redact' ? rule.text : value;
  if (typeof value !== 'string') return value;
  const looksLikeTime =
    /^\d{4}-\d\d-\d\d/.test(value) && (rule.kind === 'noise' || rule.kind === 'generalize');
  return maskValue(
    rule,
    value,
    looksLikeTime ? { sql: 'timestamptz', family: value.length === 10 ? 'date' : 'timestamptz' } : TEXT,
    leafCtx,
  );
}

/**
 * Why a rule cannot apply to a column, or undefined when it can. Checked before any run, so a
 * bad rule fails in seconds, not hours into a copy.
 */
export function ruleProblem(
  rule: Rule,
  type: ColumnType,
  column: { nullable: boolean; unique: boolean },
): string | undefined {
  const f = type.family;
  const textual = f === 'text';
  switch (rule.kind) {
    case 'keep':
      return undefined;
    case 'null':
      return column.nullable ? undefined : 'the column is NOT NULL; null would fail';
    case 'redact':
      if (column.unique)
        return 'the column is unique; a fixed text would collide (use hash, fake.* or permute)';
      return textual || f === 'json' ? undefined : `redact needs a text column, not ${type.sql}`;
    case 'hash':
      if (type.maxLength !== undefined && type.maxLength < 16) return `${type.sql} is too short for a hash`;
      return textual || f === 'uuid' ? undefined : `hash needs a text or uuid column, not ${type.sql}`;
    case 'permute':
      return textual || f === 'int' || f === 'uuid'
        ? undefined
        : `permute needs a text, integer or uuid column, not ${type.sql}`;
    case 'fake': {
      const k = rule.fake;
      if (textual) return undefined;
      if (f === 'date' && k === 'date-of-birth') return undefined;
      if (f === 'inet' && (k === 'ip' || k === 'ipv6')) return undefined;
      if (f === 'uuid' && k === 'uuid') return undefined;
      return `fake.${k} does not fit ${type.sql}`;
    }
    case 'partial':
      return textual ? undefined : `partial needs a text column, not ${type.sql}`;
    case 'noise':
    case 'generalize':
      if (isTime(type))
        return rule.kind === 'noise' && rule.unit !== 'ms'
          ? 'noise on a date needs an interval range (e.g. 30 days)'
          : undefined;
      if (f === 'int' || f === 'numeric')
        return rule.kind === 'noise' && rule.unit === 'ms'
          ? 'noise on a number needs a numeric range'
          : undefined;
      return `${rule.kind} needs a number or date column, not ${type.sql}`;
    case 'json':
      return f === 'json' ? undefined : `json rules need a json/jsonb column, not ${type.sql}`;
  }
}
