import { z } from 'zod';

/** The `anonymize:` section of the config file (filled in by the anonymize command's issue). */
export const anonymizeSectionSchema = z.unknown().optional();
export type AnonymizeSection = z.infer<typeof anonymizeSectionSchema>;
