import { z } from 'zod';

/** The `wal:` section of the config file (filled in by the wal command's issue). */
export const walSectionSchema = z.unknown().optional();
export type WalSection = z.infer<typeof walSectionSchema>;
