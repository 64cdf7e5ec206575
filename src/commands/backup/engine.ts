import type { Logger, Progress } from '../../logger.js';
import type { Repository } from '../../storage/repository.js';
import type { WritePipelineOptions } from '../../streams/pipeline.js';
import type { BackupManifest, StoredObject } from './manifest.js';

/** What an engine (postgres/, mongodb/) needs to make one logical backup. */
export interface EngineBackupInput {
  repo: Repository;
  /** Key for a data object of this backup (`db.dump.zst.age`). */
  keyFor(baseName: string): string;
  pipeline: WritePipelineOptions;
  /** `.zst.age` etc., appended to every data object's name. */
  suffix: string;
  signal: AbortSignal;
  /**
   * Resolves once the repository may be written (writer lease held, in-progress marker stored);
   * rejects when it never may. An engine connects and reads what it needs meanwhile, and starts
   * its dump only after this: the two waits overlap instead of adding up.
   */
  storageReady: Promise<void>;
  logger: Logger;
  progress: Progress;
  tempRoot?: string;
}

/** What an engine returns for the manifest. */
export interface EngineBackupResult {
  objects: StoredObject[];
  target: BackupManifest['target'];
  method: BackupManifest['method'];
  server: BackupManifest['server'];
  tool: BackupManifest['tool'];
  rowCounts: BackupManifest['rowCounts'];
  tableBytes?: Record<string, number>;
}
