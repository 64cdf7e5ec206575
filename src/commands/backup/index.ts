export { backupRun, parseLabels, type BackupRunOptions, type BackupRunResult } from './run-backup.js';
export { backupList, backupInfo, type BackupListResult, type BackupInfoResult } from './run-catalogue.js';
export { backupVerify, type BackupVerifyOptions, type BackupVerifyResult } from './run-verify.js';
export { backupPrune, type BackupPruneOptions, type BackupPruneResult } from './run-prune.js';
export { backupRekey, type BackupRekeyOptions, type BackupRekeyResult } from './run-rekey.js';
export {
  scanCatalogue,
  findBackup,
  summarize,
  type BackupSummary,
  type CatalogueEntry,
  type VerificationRecord,
} from './catalogue.js';
export {
  manifestSchema,
  readManifest,
  writeManifest,
  type BackupManifest,
  type StoredObject,
} from './manifest.js';
export { newBackupId, backupIdTime, isBackupId } from './ids.js';
export * from './layout.js';
export { selectPrune, isoWeek, type PruneCandidate, type PruneDecision } from './prune-policy.js';
export { withWriterLease, RepositoryBusyError, type LeaseRecord, type HeldLease } from './lease.js';
export { resolveEncryptOptions, resolveReadOptions } from './encryption.js';
