export {
  scheduleExport,
  scheduleList,
  scheduleRun,
  type ScheduleDeps,
  type ScheduleListEntry,
  type ScheduleRunResult,
} from './run-schedule.js';
export { Scheduler, type JobRunner, type RunLine } from './scheduler.js';
export { resolveSchedule, splitArgs, type ScheduledJob } from './jobs.js';
export { dstTransitions, dstWarnings, nextRun, nextRuns } from './timing.js';
