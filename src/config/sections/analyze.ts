import { z } from 'zod';

/** The `analyze:` section of the config file (filled in by the analyze command's issue). */
export const analyzeSectionSchema = z.unknown().optional();
export type AnalyzeSection = z.infer<typeof analyzeSectionSchema>;
