export {
  retentionPlan,
  retentionRun,
  retentionStatus,
  type RetentionDeps,
  type RetentionRunOptions,
} from './run-retention.js';
export { selectPolicies, resolvePolicy, DEFAULT_LIMITS, type RetentionPolicy } from './policy.js';
export { parseAge, parseDuration, cutoffFor } from '../../config/duration.js';
export type * from './types.js';
