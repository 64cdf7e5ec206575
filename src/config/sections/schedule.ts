import { z } from 'zod';

/** The `schedule:` section of the config file (filled in by the schedule command's issue). */
export const scheduleSectionSchema = z.unknown().optional();
export type ScheduleSection = z.infer<typeof scheduleSectionSchema>;
