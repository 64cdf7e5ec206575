export { walPush, WalConflictError, type WalPushOptions, type WalPushResult } from './push.js';
export { walFetch, type WalFetchOptions, type WalFetchResult } from './fetch.js';
export { walStatus, segmentsForBackup, type WalStatusOptions, type WalStatusResult } from './status.js';
export { walSetup, type WalSetupOptions, type WalSetupResult } from './setup.js';
export { walContextFromConfig, loadWalContext, type WalContext } from './context.js';
export { readArchiveInfo, WrongClusterError, type ArchiveInfo } from './archive-info.js';
export { WalChecksumError } from './codec.js';
export * from './segment.js';
export { walFileKey, archiveInfoKey } from './layout.js';
