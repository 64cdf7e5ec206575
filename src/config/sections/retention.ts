import { lazySection, once, z } from '../zod.js';

import { isAge, isDuration } from '../duration.js';

/**
 * The `retention:` section: named policies, each purging or archiving one table/collection.
 * Throttling settings can be given once under `defaults:` and overridden per policy. Durations
 * are `500ms`, `5s`, `2m`, `1h`; ages are `7y`, `18mo`, `90d`, `12h` or ISO 8601 (`P2Y`, `PT12H`).
 * See docs/retention.md.
 */

/** The zod schemas of this section, built on first use (see lazySection in ../zod.js). */
const retentionSchemas = once(() => {
  const nonEmpty = z.string().min(1, 'must not be empty');
  const duration = z
    .union([z.number().nonnegative(), z.string()])
    .refine(isDuration, { message: 'must be a duration such as 500ms, 5s, 2m, 1h' });
  const age = z.string().refine(isAge, { message: 'must be an age such as 7y, 18mo, 90d, 12h, P2Y, PT12H' });

  const retentionSettingsSchema = z.strictObject({
    /** Rows per batch at the start; adapts between minBatchSize and maxBatchSize. */
    batchSize: z.number().int().positive().optional(),
    minBatchSize: z.number().int().positive().optional(),
    maxBatchSize: z.number().int().positive().optional(),
    /** Upper bound on one batch's duration; the batch size shrinks at once when a batch is slower. */
    maxBatchDuration: duration.optional(),
    /** Sleep between batches (lets replicas, vacuum and other sessions breathe). */
    pause: duration.optional(),
    /** Pause while any replica replays further behind than this (seconds-based duration). */
    maxReplicaLag: duration.optional(),
    /** Stop (cleanly, between batches) after this long; the next run continues. */
    maxRunTime: duration.optional(),
    /** A batch that waits longer than this for a row or table lock gives up and is retried later. */
    lockTimeout: duration.optional(),
    statementTimeout: duration.optional(),
    /** How many times a batch that hit lock_timeout is retried (with back-off) before the policy gives up. */
    lockRetries: z.number().int().nonnegative().optional(),
    /**
     * PostgreSQL delete and archive-table: wait for each batch's commit to reach disk (default
     * false: a crash may undo the last few batches, which the next run repeats; nothing is lost).
     */
    synchronousCommit: z.boolean().optional(),
    /**
     * PostgreSQL: compress the full-page images in the purge's WAL (the session's wal_compression;
     * needs a superuser or GRANT SET ON PARAMETER wal_compression). Measured: 41 % less WAL with
     * lz4, 54 % with zstd, for about the same speed. Default: the server's setting.
     */
    walCompression: z.enum(['off', 'on', 'pglz', 'lz4', 'zstd']).optional(),
  });

  const retentionPolicySchema = retentionSettingsSchema
    .extend({
      /** Target from `targets:` (default: the command's target). */
      target: nonEmpty.optional(),
      /** PostgreSQL table, `schema.table` (quoted parts allowed: `"my schema"."odd ""name"`). */
      table: nonEmpty.optional(),
      /** MongoDB collection. */
      collection: nonEmpty.optional(),
      /** Timestamp column (field for MongoDB) that ages out; needs an index to walk by it. */
      ageColumn: nonEmpty.optional(),
      olderThan: age.optional(),
      /**
       * PostgreSQL: an extra SQL condition (a boolean expression on the table's columns, no `;` or
       * comments); validated against the server by `retention plan`. Rows must match both.
       */
      where: nonEmpty.optional(),
      /** MongoDB: an extra query filter (plain JSON/YAML object). */
      filter: z.record(z.string(), z.unknown()).optional(),
      /** Keyset columns (default: the primary key; `_id` on MongoDB). Must be unique and NOT NULL. */
      key: z.array(nonEmpty).min(1).optional(),
      action: z.enum(['delete', 'archive-table', 'archive-storage']).default('delete'),
      /**
       * PostgreSQL: how a run walks the table. `pages` deletes by ranges of heap pages (a chunked
       * sequential scan, the fastest when many rows go); `key` walks an index by key (the age index
       * or the key, the cheapest when few rows go); `auto` picks from the planner's estimate.
       */
      walk: z.enum(['auto', 'key', 'pages']).default('auto'),
      /** archive-table: destination table (collection on MongoDB), created with the same columns when missing. */
      archiveTable: nonEmpty.optional(),
      /** archive-storage: repository name (default: the command's repository). */
      repository: nonEmpty.optional(),
    })
    .superRefine((p, ctx) => {
      const issue = (path: string, message: string) =>
        ctx.addIssue({ code: 'custom', path: [path], message });
      if (!p.table === !p.collection)
        issue('table', 'give exactly one of table (PostgreSQL) or collection (MongoDB)');
      if (p.olderThan && !p.ageColumn) issue('ageColumn', 'olderThan needs ageColumn');
      if (!p.olderThan && !p.where && !p.filter)
        issue('olderThan', 'give olderThan (with ageColumn), where or filter');
      if (p.walk !== 'auto' && p.collection) issue('walk', 'walk is for PostgreSQL tables');
      if (p.walk === 'pages' && p.action === 'archive-storage')
        issue('walk', 'archive-storage walks by key (its batch files record key ranges)');
      if (p.where && p.collection) issue('where', 'where is SQL; use filter for a MongoDB collection');
      if (p.walCompression && p.collection)
        issue('walCompression', 'walCompression is for PostgreSQL tables');
      if (p.filter && p.table) issue('filter', 'filter is for MongoDB; use where for a PostgreSQL table');
      if (p.action === 'archive-table' && !p.archiveTable)
        issue('archiveTable', 'action archive-table needs archiveTable');
      if (p.action !== 'archive-table' && p.archiveTable)
        issue('archiveTable', `not used by action ${p.action}`);
      if (p.action !== 'archive-storage' && p.repository)
        issue('repository', `not used by action ${p.action}`);
      if (p.where && /;|--|\/\*/.test(p.where))
        issue('where', 'must be one expression: no ";" and no comments');
      if (p.minBatchSize && p.maxBatchSize && p.minBatchSize > p.maxBatchSize)
        issue('minBatchSize', 'must not exceed maxBatchSize');
    });

  const section = z
    .strictObject({
      defaults: retentionSettingsSchema.optional(),
      policies: z
        .record(
          z.string().regex(/^[A-Za-z0-9_.-]+$/, 'policy names use letters, digits, _ . -'),
          retentionPolicySchema,
        )
        .default({}),
    })
    .optional();
  return { retentionSettingsSchema, retentionPolicySchema, section };
});

export const retentionSectionSchema = lazySection(() => retentionSchemas().section);

type Built = ReturnType<typeof retentionSchemas>;

export type RetentionSettings = z.infer<Built['retentionSettingsSchema']>;
export type RetentionPolicyConfig = z.infer<Built['retentionPolicySchema']>;
export type RetentionSection = z.infer<Built['section']>;
