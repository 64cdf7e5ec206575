import type { PoolClient } from 'pg';

import { quoteQualified } from '../../../connections/index.js';
import { parseTableName } from '../names.js';
import type { ErasureReceipt } from '../receipt.js';

/**
 * The audit table lives in the erased database, written in the same transaction as the erasure:
 * it exists exactly when the erasure committed. It stores the keyed subject reference, never the
 * subject id.
 */
export async function writeAuditRecord(
  client: PoolClient,
  auditTable: string,
  receipt: ErasureReceipt,
): Promise<string> {
  const table = quoteQualified(parseTableName(auditTable));
  await client.query(
    `create table if not exists ${table} (
       id bigserial primary key,
       at timestamptz not null default now(),
       operation text not null,
       subject_kind text not null,
       subject_ref text not null,
       counts jsonb not null,
       operator text not null,
       db_user text not null default current_user,
       reason text,
       rules_hash text not null,
       config_hash text not null,
       key_fingerprint text not null
     )`,
  );
  const counts = Object.fromEntries(
    receipt.tables.map((t) => [t.table, { action: t.action, matched: t.matched, changed: t.changed }]),
  );
  const { rows } = await client.query<{ id: string }>(
    `insert into ${table} (operation, subject_kind, subject_ref, counts, operator, reason, rules_hash, config_hash, key_fingerprint)
     values ($1, $2, $3, $4::jsonb, $5, $6, $7, $8, $9) returning id::text`,
    [
      receipt.operation,
      receipt.subject.kind,
      receipt.subject.ref,
      JSON.stringify(counts),
      receipt.operator,
      receipt.reason,
      receipt.rulesHash,
      receipt.configHash,
      receipt.keyFingerprint,
    ],
  );
  return rows[0]!.id;
}
