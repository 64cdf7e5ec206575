import { z } from 'zod';

/** The `retention:` section of the config file (filled in by the retention command's issue). */
export const retentionSectionSchema = z.unknown().optional();
export type RetentionSection = z.infer<typeof retentionSectionSchema>;
