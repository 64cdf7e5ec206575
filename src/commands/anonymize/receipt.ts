import { createHash } from 'node:crypto';
import { userInfo } from 'node:os';

import type { AnonymizeConfig } from '../../config/sections/anonymize.js';

export interface ColumnChange {
  column: string;
  rule: string;
}

export interface SampleChange {
  column: string;
  before: unknown;
  after: unknown;
}

export interface TableReceipt {
  /** Table (`public.messages`) or MongoDB collection. */
  table: string;
  action: 'mask' | 'delete-row';
  /** Rows (documents) of the subject found. */
  matched: number;
  /** Rows actually changed or deleted (0 on a second run). */
  changed: number;
  columns: ColumnChange[];
  /** Columns left as they are because they hold keys that other rows reference. */
  keptKeys?: string[];
  /** Dry runs: a few rows before → after. */
  sample?: SampleChange[][];
}

/** The evidence an erasure leaves: written as JSON with --receipt, and into the audit table. */
export interface ErasureReceipt {
  operation: 'ANONYMIZE';
  engine: 'postgres' | 'mongodb';
  target: string;
  subject: { kind: string; ref: string };
  dryRun: boolean;
  /** PostgreSQL: always one transaction. MongoDB: 'transaction' or 'ordered-per-collection'. */
  atomicity: 'transaction' | 'ordered-per-collection';
  startedAt: string;
  finishedAt: string;
  durationMs: number;
  operator: string;
  reason: string | null;
  configHash: string;
  rulesHash: string;
  keyFingerprint: string;
  deterministic: boolean;
  tables: TableReceipt[];
  totals: { matched: number; changed: number };
  auditId: string | null;
  ledger: { key: string; repository: string } | null;
  warnings: string[];
}

/** Deterministic JSON: object keys sorted, so the hash of equal content is equal. */
export function canonicalJson(value: unknown): string {
  if (value instanceof Map) return canonicalJson(Object.fromEntries(value));
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

export function sha256Hex(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** Hash of the whole anonymize section (the secret itself is never in the config). */
export function configHash(config: AnonymizeConfig): string {
  return sha256Hex(canonicalJson(config));
}

/** The person running dbops: --operator, else DBOPS_OPERATOR, else the OS user. */
export function operatorName(explicit?: string, env: NodeJS.ProcessEnv = process.env): string {
  if (explicit) return explicit;
  if (env.DBOPS_OPERATOR) return env.DBOPS_OPERATOR;
  try {
    return userInfo().username;
  } catch {
    return 'unknown';
  }
}
