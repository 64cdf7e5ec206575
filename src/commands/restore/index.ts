export { restoreRun, type RestoreRunOptions, type RestoreRunResult } from './run-restore.js';
export { defaultRestoreDatabase } from './postgres/restore.js';
