import type { Masked, MaskContext } from '../mask.js';
import { DROP, maskJsonNode, maskValue } from '../mask.js';
import type { Rule } from '../rules.js';
import type { ColumnType, TypeFamily } from '../types.js';

/**
 * MongoDB field values ↔ the text form the maskers work on. Pure (no driver import), so the
 * operation construction is unit-tested without a server.
 */

export interface ObjectIdLike {
  toHexString(): string;
  _bsontype?: string;
}

export function isObjectId(v: unknown): v is ObjectIdLike {
  return (
    typeof v === 'object' &&
    v !== null &&
    ((v as { _bsontype?: string })._bsontype === 'ObjectId' ||
      (v as { _bsontype?: string })._bsontype === 'ObjectID')
  );
}

/** The type family a sampled value belongs to (used by check and by masking). */
export function familyOfValue(v: unknown): TypeFamily {
  if (typeof v === 'string') return 'text';
  if (typeof v === 'number') return Number.isInteger(v) ? 'int' : 'numeric';
  if (typeof v === 'bigint') return 'int';
  if (typeof v === 'boolean') return 'bool';
  if (v instanceof Date) return 'timestamptz';
  if (isObjectId(v)) return 'uuid';
  if (v && typeof v === 'object') return 'json';
  return 'other';
}

export function getPath(doc: Record<string, unknown>, path: string): unknown {
  let node: unknown = doc;
  for (const part of path.split('.')) {
    if (node === null || typeof node !== 'object' || Array.isArray(node)) return undefined;
    node = (node as Record<string, unknown>)[part];
  }
  return node;
}

function setPath(doc: Record<string, unknown>, path: string, value: unknown): void {
  const parts = path.split('.');
  let node = doc;
  for (const part of parts.slice(0, -1)) {
    const next = node[part];
    if (next === null || typeof next !== 'object' || Array.isArray(next)) return;
    node = next as Record<string, unknown>;
  }
  const last = parts.at(-1)!;
  if (value === DROP) delete node[last];
  else node[last] = value;
}

/** Masks one field value of any BSON-ish type; ObjectIds come back through makeObjectId. */
export function maskFieldValue(
  rule: Rule,
  value: unknown,
  ctx: MaskContext,
  makeObjectId: (hex: string) => unknown,
): unknown {
  if (value === null || value === undefined) return value;
  if (rule.kind === 'keep') return value;
  if (rule.kind === 'null') return null;
  if (Array.isArray(value)) return value.map((v) => maskFieldValue(rule, v, ctx, makeObjectId));
  const family = familyOfValue(value);
  if (family === 'json') {
    if (rule.kind === 'json') return maskJsonNode(rule, value, [], ctx);
    return maskValue(rule, JSON.stringify(value), { sql: 'text', family: 'text' }, ctx);
  }
  const type: ColumnType = { sql: family, family: family === 'uuid' ? 'text' : family };
  let text: string;
  if (value instanceof Date) text = value.toISOString();
  else if (isObjectId(value)) text = value.toHexString();
  else text = String(value);
  const out: Masked = maskValue(
    rule,
    text,
    isObjectId(value) ? { sql: 'objectid', family: 'uuid' } : type,
    ctx,
  );
  if (out === null || out === DROP) return out === DROP ? undefined : null;
  if (value instanceof Date && (rule.kind === 'noise' || rule.kind === 'generalize')) return new Date(out);
  if (
    typeof value === 'number' &&
    (rule.kind === 'noise' || rule.kind === 'generalize' || rule.kind === 'permute')
  )
    return Number(out);
  if (isObjectId(value) && /^[0-9a-f]{24}$/i.test(out)) return makeObjectId(out);
  return out;
}

/**
 * The `$set` that masks one document: every field with a changing rule, except the subject key
 * fields and `_id`. Returns only fields whose value really changes, so re-running is a no-op.
 */
export function maskDocumentUpdate(
  doc: Record<string, unknown>,
  rules: Map<string, Rule>,
  skip: Set<string>,
  ctxOf: (path: string) => MaskContext,
  makeObjectId: (hex: string) => unknown,
): { $set: Record<string, unknown>; $unset: Record<string, ''> } | undefined {
  const set: Record<string, unknown> = {};
  const unset: Record<string, ''> = {};
  for (const [path, rule] of rules) {
    if (rule.kind === 'keep' || skip.has(path) || path === '_id') continue;
    const before = getPath(doc, path);
    if (before === undefined) continue;
    const after = maskFieldValue(rule, before, ctxOf(path), makeObjectId);
    if (sameValue(before, after)) continue;
    if (after === undefined) unset[path] = '';
    else set[path] = after;
  }
  if (Object.keys(set).length === 0 && Object.keys(unset).length === 0) return undefined;
  return { $set: set, $unset: unset };
}

function sameValue(a: unknown, b: unknown): boolean {
  if (a instanceof Date && b instanceof Date) return a.getTime() === b.getTime();
  if (isObjectId(a) && isObjectId(b)) return a.toHexString() === b.toHexString();
  return JSON.stringify(a) === JSON.stringify(b);
}

/** Applies an update built by maskDocumentUpdate to a plain copy (dry-run samples, tests). */
export function applyUpdate(
  doc: Record<string, unknown>,
  update: { $set: Record<string, unknown>; $unset: Record<string, ''> },
) {
  const copy = structuredClone(doc);
  for (const [p, v] of Object.entries(update.$set)) setPath(copy, p, v);
  for (const p of Object.keys(update.$unset)) setPath(copy, p, DROP);
  return copy;
}
