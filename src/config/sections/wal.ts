import { lazySection, once, z } from '../zod.js';

/**
 * The `wal:` section: continuous WAL archiving (archive_command / restore_command) and its
 * monitoring thresholds. Every key is optional; the defaults are in src/commands/wal/settings.ts.
 */

/** The zod schemas of this section, built on first use (see lazySection in ../zod.js). */
const walSchemas = once(() => {
  const section = z
    .strictObject({
      /** Repository the WAL goes to (default: the repository every other command uses). */
      repository: z.string().min(1).optional(),
      /** Target name the WAL is filed under (`<target>/wal/…`; default: the default target). */
      target: z.string().min(1).optional(),
      /** Compression of archived segments (default zstd:1, as backups). */
      compression: z
        .strictObject({ algorithm: z.enum(['zstd', 'gzip', 'none']), level: z.number().int().optional() })
        .optional(),
      /** Encrypt WAL with the `encryption:` settings (default: whenever backups are encrypted). */
      encrypt: z.boolean().optional(),
      /** Segments the background worker archives at once, picking up other `.ready` ones (1 = off). */
      parallel: z.number().int().min(1).max(64).optional(),
      /** Segments one `wal fetch` downloads ahead into the spool (0 = off). */
      prefetch: z.number().int().min(0).max(64).optional(),
      /** Spool directory for pick-up and prefetch state (default `<pg_wal>/.dbops`). */
      spoolDir: z.string().min(1).optional(),
      /** `wal status` exits 1 when more `.ready` segments than this wait. */
      maxBacklog: z.number().int().positive().optional(),
      /** RPO gate: `wal status` exits 1 when the newest archived segment is older (e.g. `15m`). */
      maxAge: z.string().min(1).optional(),
      /**
       * Drop valve, OFF by default: when a push fails while more than this many `.ready` segments
       * wait, report success and drop the segment (loudly) rather than let pg_wal fill the disk.
       */
      dropReadyAbove: z.number().int().positive().optional(),
      /** Refuse WAL whose page header carries another system identifier. */
      systemIdentifier: z.string().regex(/^\d+$/, 'a decimal system identifier').optional(),
      /** Seconds `backup run --physical` waits for its WAL to be archived. */
      archiveTimeout: z.number().positive().optional(),
    })
    .optional();
  return { section };
});

export const walSectionSchema = lazySection(() => walSchemas().section);

type Built = ReturnType<typeof walSchemas>;
export type WalSection = z.infer<Built['section']>;
