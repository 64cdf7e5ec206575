import { lazySection, once, z } from '../zod.js';

/**
 * The `anonymize:` section: who a data subject is (subjects), what to do with every column
 * (tables → columns → rule), and where the secret for deterministic masking comes from.
 * Rules are validated here for shape only; whether a column exists and whether a rule fits its
 * type is checked against the live catalog by `anonymize check` and before any run.
 */

export const FAKE_KINDS = [
  'email',
  'name',
  'first-name',
  'last-name',
  'username',
  'phone',
  'address',
  'city',
  'country',
  'company',
  'ip',
  'ipv6',
  'url',
  'text',
  'word',
  'date-of-birth',
  'uuid',
] as const;
export type FakeKind = (typeof FAKE_KINDS)[number];

export function normalizeFakeKind(kind: string): FakeKind | undefined {
  const dashed = kind.replace(/([a-z])([A-Z])/g, '$1-$2').toLowerCase();
  return (FAKE_KINDS as readonly string[]).includes(dashed) ? (dashed as FakeKind) : undefined;
}

/** The column rules' schemas, built on first use like the section's (see lazySection). */
const ruleSchemas = once(() => {
  const nonEmpty = z.string().min(1, 'must not be empty');
  /** Written as `fake.email`; camelCase spellings (`fake.firstName`) are accepted too. */
  const fakeRuleString = z
    .string()
    .regex(/^fake\.[A-Za-z-]+$/)
    .refine((s) => normalizeFakeKind(s.slice(5)) !== undefined, {
      message: `unknown fake kind; use one of: ${FAKE_KINDS.map((k) => `fake.${k}`).join(', ')}`,
    });

  const simpleRuleName = z.enum([
    'keep',
    'null',
    'redact',
    'hash',
    'permute',
    'partial',
    'noise',
    'generalize',
  ]);

  /** Shorthand: a bare rule name (`keep`, `null`, `hash`, `fake.email`, …). */
  const ruleShorthand = z.union([simpleRuleName, fakeRuleString]);

  const keepRule = z.strictObject({ rule: z.literal('keep') });
  const nullRule = z.strictObject({ rule: z.literal('null') });
  const redactRule = z.strictObject({
    rule: z.literal('redact'),
    /** Replacement text; default `[redacted]`. */
    text: z.string().default('[redacted]'),
  });
  const hashRule = z.strictObject({
    rule: z.literal('hash'),
    /** Keep only the first N hex characters (default all 64: shorter hashes collide sooner). */
    length: z.number().int().min(8).max(64).optional(),
  });
  const permuteRule = z.strictObject({ rule: z.literal('permute') });
  const fakeRule = z.strictObject({ rule: fakeRuleString });
  const partialRule = z.strictObject({
    rule: z.literal('partial'),
    /** Characters kept at the end (`****1234`). */
    keep: z.number().int().nonnegative().default(4),
    /** Characters kept at the start. */
    keepStart: z.number().int().nonnegative().default(0),
    mask: z.string().length(1).default('*'),
  });
  const noiseRule = z.strictObject({
    rule: z.literal('noise'),
    /** ± range: a number for numeric columns, an interval (`30 days`, `12 hours`) for dates. */
    range: z.union([
      z.number().positive(),
      z.string().regex(/^\d+(\.\d+)?\s*(second|minute|hour|day|week)s?$/),
    ]),
  });
  const generalizeRule = z.strictObject({
    rule: z.literal('generalize'),
    /** Dates: `month` / `year` / `decade`; numbers: a bucket width (`10` → 30, 40, …). */
    to: z.union([z.enum(['day', 'month', 'year', 'decade']), z.number().positive()]),
  });
  // In the order the column rule's union tries them.
  const rules = [
    ruleShorthand,
    keepRule,
    nullRule,
    redactRule,
    hashRule,
    permuteRule,
    fakeRule,
    partialRule,
    noiseRule,
    generalizeRule,
  ] as const;
  return { nonEmpty, rules };
});
type Rules = ReturnType<typeof ruleSchemas>;

export type ColumnRuleInput = z.infer<Rules['rules'][number]> | JsonRuleInput;

export interface JsonRuleInput {
  rule: 'json';
  /** Key path → rule. `a.b` is a path (array elements are transparent); a bare key matches at any depth. */
  keys: Record<string, ColumnRuleInput>;
  /** What happens to keys not listed (default keep). */
  default?: 'keep' | 'null' | 'drop';
}

/** The zod schemas of this section, built on first use (see lazySection in ../zod.js). */
const anonymizeSchemas = once(() => {
  const { nonEmpty, rules } = ruleSchemas();
  const jsonRule: z.ZodType<JsonRuleInput> = z.lazy(() =>
    z.strictObject({
      rule: z.literal('json'),
      keys: z.record(nonEmpty, columnRuleSchema),
      default: z.enum(['keep', 'null', 'drop']).optional(),
    }),
  );

  // `email: null` in YAML is a null value, not the string: read it as the `null` rule.
  const columnRuleSchema: z.ZodType<ColumnRuleInput> = z.lazy(() =>
    z.preprocess((v) => (v === null ? 'null' : v), z.union([...rules, jsonRule])),
  );

  const anonymizeTableSchema = z.strictObject({
    /**
     * Subject erasure: `mask` applies the column rules to the subject's rows, `delete-row` deletes them.
     */
    erase: z.enum(['mask', 'delete-row']).default('mask'),
    /** Masked copies: `mask` copies every row masked; `delete-row` copies the table empty. */
    copy: z.enum(['mask', 'delete-row']).default('mask'),
    /** Column (PostgreSQL) or field path (MongoDB) → rule. Every column must be listed, `keep` included. */
    columns: z.record(nonEmpty, columnRuleSchema).default({}),
  });

  const subjectKey = z.union([nonEmpty, z.array(nonEmpty).min(1)]);

  const subjectTableSchema = z.strictObject({
    /** Table (`schema.table`, default schema public) or MongoDB collection. */
    table: nonEmpty,
    /** Column(s) or field path(s) holding the subject key; a row matches when any of them equals it. */
    key: subjectKey,
  });

  const subjectSchema = z.strictObject({
    root: subjectTableSchema,
    related: z.array(subjectTableSchema).default([]),
  });

  const section = z
    .strictObject({
      /**
       * Environment variable with the masking secret. Set → the same original gives the same masked
       * value in every table and run; unset → a random key per run (still consistent within the run).
       */
      secretEnv: nonEmpty.default('DBOPS_ANONYMIZE_SECRET'),
      /** Table receiving one audit row per erasure (created when missing). */
      auditTable: nonEmpty.default('dbops_anonymize_audit'),
      /** Subject used when `anonymize subject` gets no `--subject`. */
      defaultSubject: nonEmpty.optional(),
      subjects: z.record(nonEmpty, subjectSchema).default({}),
      tables: z.record(nonEmpty, anonymizeTableSchema).default({}),
      /** Schemas `check` and `copy` look at (default: every non-system schema). */
      schemas: z.array(nonEmpty).optional(),
      /** Tables `check` and `copy` ignore entirely (not copied, not required to be classified). */
      exclude: z.array(nonEmpty).default([]),
      ledger: z
        .strictObject({
          /** Record every erasure in the repository so a restore can re-apply it. */
          enabled: z.boolean().default(true),
          /** Repository name; default the command's repository. */
          repository: nonEmpty.optional(),
        })
        .default({ enabled: true }),
      /** Documents sampled per MongoDB collection by `check`. */
      sampleSize: z.number().int().positive().default(200),
    })
    .optional();
  return { columnRuleSchema, anonymizeTableSchema, subjectTableSchema, subjectSchema, section };
});

export const anonymizeSectionSchema = lazySection(() => anonymizeSchemas().section);

type Built = ReturnType<typeof anonymizeSchemas>;

export type AnonymizeSection = z.infer<Built['section']>;
export type AnonymizeConfig = NonNullable<AnonymizeSection>;
export type AnonymizeTableConfig = z.infer<Built['anonymizeTableSchema']>;
export type SubjectConfig = z.infer<Built['subjectSchema']>;
export type SubjectTableConfig = z.infer<Built['subjectTableSchema']>;
