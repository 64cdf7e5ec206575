import { lazySection, once, z } from '../zod.js';

/**
 * The `analyze:` section of the config file. Every check has its thresholds here, with the
 * defaults below (taken from PgHero, pg-index-health, pev2 and pganalyze; see docs/analyze.md).
 * Unknown check ids and unknown threshold names are errors, so a typo never silences a check.
 */

const MiB = 1024 * 1024;

/** Default thresholds per check id. The catalogue documents them; the config overrides them. */
export const analyzeThresholdDefaults = {
  'index.invalid': {},
  'index.redundant': {},
  'index.unused': { maxScans: 0, minSizeBytes: 10 * MiB },
  'index.bloat': { minBloatPct: 50, minWastedBytes: 100 * MiB },
  'fk.missing-index': { minTableRows: 0 },
  'table.no-primary-key': {},
  'table.seq-scan': { minRows: 10_000, maxSeqScanPct: 5 },
  'table.dead-tuples': { maxDeadPct: 20, minDeadRows: 10_000 },
  'table.stale-stats': { maxModifiedPct: 20, minModifiedRows: 10_000 },
  'table.bloat': { minBloatPct: 50, minWastedBytes: 100 * MiB },
  'cache.hit-rate': { minHitPct: 99, minBlocks: 100_000 },
  'constraint.not-valid': {},
  'seq.overflow': { warningPct: 75, errorPct: 90 },
  'txid.wraparound': { warningPct: 50, errorPct: 80 },
  'query.slow': { minMeanMs: 20, minCalls: 100 },
  'activity.long-running': { seconds: 60 },
  'activity.idle-in-transaction': { seconds: 1800 },
  'locks.blocked': { seconds: 5 },
  'connections.usage': { warningPct: 80, errorPct: 95 },
  'replication.lag': { warningSeconds: 30, errorSeconds: 300 },
  'replication.inactive-slot': {},
  'replication.replica-unreachable': {},
  'config.risky-setting': {},
  'collection.index-size': { maxIndexToDataPct: 100, minDataBytes: 100 * MiB },
  'index.missing': {},
  'plan.seq-scan': { minRows: 10_000 },
  'plan.cost-budget': { maxCost: 0 },
  'plan.misestimate': { warningFactor: 10, errorFactor: 100, minRows: 1000 },
  'plan.spill': {},
  'plan.in-memory-sort': { minDocs: 1000 },
  'plan.nested-loop': { maxOuterRows: 1000 },
  'plan.scan-efficiency': { minRemovedPct: 90, minRows: 10_000, maxExaminedPerReturned: 1000 },
  'plan.buffers': { maxSharedBuffers: 0 },
  'plan.cost-regression': { maxGrowthPct: 20 },
  'plan.shape-change': {},
} as const satisfies Record<string, Record<string, number>>;

export type AnalyzeCheckId = keyof typeof analyzeThresholdDefaults;
export const analyzeCheckIds = Object.keys(analyzeThresholdDefaults) as AnalyzeCheckId[];

/** The zod schemas of this section, built on first use (see lazySection in ../zod.js). */
export const analyzeSchemas = once(() => {
  const severitySchema = z.enum(['info', 'warning', 'error']);
  /** `14d`, `12h`, `30m`, `90s`, or a plain number of seconds. */
  const durationSchema = z.union([
    z.number().nonnegative(),
    z.string().regex(/^\d+(\.\d+)?\s*(ms|s|m|h|d|w)?$/, 'a duration like 14d, 12h, 30m or 90s'),
  ]);

  function checkSchema(defaults: Record<string, number>) {
    const shape: Record<string, z.ZodOptional<z.ZodNumber>> = {};
    for (const key of Object.keys(defaults)) shape[key] = z.number().nonnegative().optional();
    return z
      .strictObject({
        /** false turns the check off. */
        enabled: z.boolean().optional(),
        /** Overrides the severity the check reports (for checks with a fixed severity). */
        severity: severitySchema.optional(),
        ...shape,
      })
      .optional();
  }

  const checksShape = Object.fromEntries(
    analyzeCheckIds.map((id) => [id, checkSchema(analyzeThresholdDefaults[id])]),
  ) as Record<AnalyzeCheckId, ReturnType<typeof checkSchema>>;

  const analyzeAllowEntrySchema = z.strictObject({
    /** A check id (`index.unused`) or a group (`indexes`), or `*`. */
    check: z.string().min(1),
    /** Object identity as reported (`public.orders.orders_legacy_idx`); `*` and a trailing `*` match. */
    object: z.string().min(1),
    /** Why this is fine; shown in reports. Required so silences are explained. */
    reason: z.string().min(1, 'say why the finding is accepted'),
    /** YYYY-MM-DD after which the entry no longer silences anything. */
    expires: z.union([z.string().regex(/^\d{4}-\d{2}-\d{2}$/, 'a date YYYY-MM-DD'), z.date()]).optional(),
  });

  const section = z
    .strictObject({
      /** Lowest severity that fails the run (exit 1) when not in the baseline. */
      failOn: severitySchema.default('error'),
      /** Shortest statistics window that allows an "unused" verdict. */
      minWindow: durationSchema.default('14d'),
      /** statement_timeout for every catalogue query and EXPLAIN. */
      statementTimeout: durationSchema.default('30s'),
      /** Default baseline file for `dbops analyze` (overridden by --baseline). */
      baseline: z.string().min(1).optional(),
      /** Schemas never inspected (system schemas are always skipped). */
      excludeSchemas: z.array(z.string().min(1)).default([]),
      /** Thresholds, severity and on/off per check id. */
      checks: z.strictObject(checksShape).default({}),
      /** Objects silenced on purpose, each with a reason. */
      allow: z.array(analyzeAllowEntrySchema).default([]),
      /** Settings for `dbops analyze explain`. */
      explain: z
        .strictObject({
          /** SQL files or directories of the query corpus (used when no FILE is given). */
          corpus: z.array(z.string().min(1)).default([]),
          /** Plan baseline for regression mode. */
          baseline: z.string().min(1).optional(),
          /** Default budgets, overridable per query in its comment header. */
          maxCost: z.number().positive().optional(),
          maxSharedBuffers: z.number().int().positive().optional(),
        })
        .default({ corpus: [] }),
      /** Settings for `dbops analyze advise`. */
      advise: z
        .strictObject({
          /** A candidate must cut the query's cost by at least this much. */
          minCostSavingPct: z.number().min(0).max(100).default(50),
          /** A drop is proven safe when no corpus query's cost rises by more than this. */
          maxDropCostIncreasePct: z.number().min(0).default(10),
          /** Queries cheaper than this are not worth an index. */
          minQueryCost: z.number().nonnegative().default(100),
        })
        .default({ minCostSavingPct: 50, maxDropCostIncreasePct: 10, minQueryCost: 100 }),
    })
    .optional();
  return { analyzeAllowEntrySchema, section };
});

export const analyzeSectionSchema = lazySection(() => analyzeSchemas().section);

type Built = ReturnType<typeof analyzeSchemas>;

export type AnalyzeSection = z.infer<Built['section']>;
export type AnalyzeConfig = NonNullable<AnalyzeSection>;
export type AnalyzeAllowEntry = z.infer<Built['analyzeAllowEntrySchema']>;
