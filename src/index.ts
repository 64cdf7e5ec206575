/**
 * dbops as a library: the core of every command, usable without the CLI. Nothing exported here
 * prints, exits or imports the terminal layer.
 */
export * from './errors.js';
export type { Logger, Progress } from './logger.js';
export { loadConfig, parseConfig, parseConfigText } from './config/load.js';
export type * from './config/schema.js';
export * from './connections/index.js';
export * from './tools/index.js';
export * from './commands/config/index.js';
export * from './commands/doctor/index.js';
export * from './commands/backup/index.js';
export * from './commands/restore/index.js';
export * from './commands/wal/index.js';
export * from './commands/retention/index.js';
export * from './commands/anonymize/index.js';
export * from './commands/analyze/index.js';
export * from './commands/schedule/index.js';
