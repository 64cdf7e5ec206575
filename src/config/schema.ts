import { z } from './zod.js';

import { analyzeSectionSchema } from './sections/analyze.js';
import { anonymizeSectionSchema } from './sections/anonymize.js';
import { retentionSectionSchema } from './sections/retention.js';
import { scheduleSectionSchema } from './sections/schedule.js';
import { walSectionSchema } from './sections/wal.js';

/**
 * The config file's schema. Every object is strict: an unknown key is an error, never silently
 * ignored (a typo in `keepDaily` must not turn a retention policy off). Sections that later
 * commands own (analyze, retention, anonymize, schedule) are validated by their own schemas,
 * registered here so that `dbops config check` reports every problem in one run.
 */

const nonEmpty = z.string().min(1, 'must not be empty');

export const tlsSchema = z.strictObject({
  /** libpq sslmode: disable | allow | prefer | require | verify-ca | verify-full */
  mode: z.enum(['disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full']).optional(),
  /** PEM file with the CA certificate(s) to trust. */
  caFile: nonEmpty.optional(),
  certFile: nonEmpty.optional(),
  keyFile: nonEmpty.optional(),
});

export const postgresTargetSchema = z.strictObject({
  engine: z.literal('postgres'),
  url: nonEmpty,
  replicas: z.array(nonEmpty).default([]),
  tls: tlsSchema.optional(),
  /** Seconds to wait for a connection before giving up. */
  connectTimeout: z.number().positive().default(10),
  /** Marks a production database: `anonymize copy` refuses to write into it. */
  production: z.boolean().default(false),
  /** Replica lag (seconds) above which the reader falls back to the primary. */
  maxReplicaLag: z.number().nonnegative().default(30),
});

export const mongodbTargetSchema = z.strictObject({
  engine: z.literal('mongodb'),
  url: nonEmpty,
  tls: tlsSchema.optional(),
  connectTimeout: z.number().positive().default(10),
  production: z.boolean().default(false),
});

/** `engine` may be left out when the URL's scheme says it (postgres[ql]://, mongodb[+srv]://). */
function inferEngine(value: unknown): unknown {
  if (typeof value !== 'object' || value === null || Array.isArray(value) || 'engine' in value) return value;
  const url = (value as { url?: unknown }).url;
  if (typeof url !== 'string') return value;
  if (/^postgres(ql)?:\/\//i.test(url)) return { engine: 'postgres', ...value };
  if (/^mongodb(\+srv)?:\/\//i.test(url)) return { engine: 'mongodb', ...value };
  return value;
}

export const targetSchema = z.preprocess(
  inferEngine,
  z.discriminatedUnion('engine', [postgresTargetSchema, mongodbTargetSchema], {
    error: (issue) =>
      issue.code === 'invalid_union'
        ? 'engine must be postgres or mongodb (or left out, with a postgresql:// or mongodb:// url)'
        : undefined,
  }),
);

export const pruneSchema = z.strictObject({
  keepLast: z.number().int().nonnegative().optional(),
  keepDaily: z.number().int().nonnegative().optional(),
  keepWeekly: z.number().int().nonnegative().optional(),
  keepMonthly: z.number().int().nonnegative().optional(),
  keepYearly: z.number().int().nonnegative().optional(),
  keepWithin: nonEmpty.optional(),
});

export const localRepositorySchema = z.strictObject({
  type: z.literal('local'),
  path: nonEmpty,
  prune: pruneSchema.optional(),
});

export const s3RepositorySchema = z.strictObject({
  type: z.literal('s3'),
  bucket: nonEmpty,
  prefix: z.string().default(''),
  region: z.string().default('us-east-1'),
  /** For S3-compatible servers (MinIO, Ceph, R2, …). */
  endpoint: nonEmpty.optional(),
  /** Path-style addressing; defaults to true when an endpoint is set. */
  forcePathStyle: z.boolean().optional(),
  /** Static credentials; leave out to use the standard AWS credential chain. */
  accessKeyId: nonEmpty.optional(),
  secretAccessKey: nonEmpty.optional(),
  sessionToken: nonEmpty.optional(),
  /** Some S3-compatible servers reject the SDK's default CRC checksums. */
  checksums: z.enum(['when-supported', 'when-required']).default('when-required'),
  maxAttempts: z.number().int().positive().default(5),
  /**
   * Where a streamed upload (a backup) stages its parts, so that memory stays flat whatever their
   * size; default the OS temp directory. Holds up to 4 parts at once: 64 MiB up to ~80 GB of
   * database, ~4 × 200 MiB for 1 TB.
   */
  spoolDir: nonEmpty.optional(),
  prune: pruneSchema.optional(),
});

export const repositorySchema = z.discriminatedUnion('type', [localRepositorySchema, s3RepositorySchema]);

export const encryptionSchema = z
  .strictObject({
    /** age public keys (`age1…`); a backup host never needs a private key. */
    recipients: z.array(z.string().regex(/^age1[0-9a-z]+$/, 'must be an age public key (age1…)')).default([]),
    /** File with age identities (`AGE-SECRET-KEY-1…`), needed to restore and verify. */
    identityFile: nonEmpty.optional(),
    /** Name of an environment variable holding a passphrase (the simple alternative to keys). */
    passphraseEnv: nonEmpty.optional(),
    /** Encrypt every backup unless `--no-encrypt`. */
    enabled: z.boolean().default(true),
  })
  .refine((e) => !(e.recipients.length > 0 && e.passphraseEnv), {
    message: 'use either recipients or passphraseEnv, not both',
  });

export const configSchema = z.strictObject({
  targets: z
    .record(z.string().regex(/^[A-Za-z0-9_.-]+$/, 'target names use letters, digits, _ . -'), targetSchema)
    .default({}),
  defaultTarget: nonEmpty.optional(),
  repositories: z.record(z.string().regex(/^[A-Za-z0-9_.-]+$/), repositorySchema).default({}),
  defaultRepository: nonEmpty.optional(),
  encryption: encryptionSchema.optional(),
  compression: z
    .strictObject({
      algorithm: z.enum(['zstd', 'gzip', 'none']).default('zstd'),
      level: z.number().int().optional(),
    })
    .optional(),
  analyze: analyzeSectionSchema,
  retention: retentionSectionSchema,
  anonymize: anonymizeSectionSchema,
  schedule: scheduleSectionSchema,
  wal: walSectionSchema,
});

export type TlsConfig = z.infer<typeof tlsSchema>;
export type PostgresTargetConfig = z.infer<typeof postgresTargetSchema>;
export type MongodbTargetConfig = z.infer<typeof mongodbTargetSchema>;
export type TargetConfig = z.infer<typeof targetSchema>;
export type LocalRepositoryConfig = z.infer<typeof localRepositorySchema>;
export type S3RepositoryConfig = z.infer<typeof s3RepositorySchema>;
export type RepositoryConfig = z.infer<typeof repositorySchema>;
export type PruneConfig = z.infer<typeof pruneSchema>;
export type EncryptionConfig = z.infer<typeof encryptionSchema>;
export type Config = z.infer<typeof configSchema>;
