import type { Logger, Progress } from '../../../logger.js';
import type { ResolvedMongodbTarget } from '../../../connections/target.js';
import type { Repository } from '../../../storage/repository.js';
import type { ReadPipelineOptions } from '../../../streams/pipeline.js';
import { findMongoTool } from '../../../tools/find-tool.js';
import { startTool } from '../../../tools/run-tool.js';
import type { BackupManifest } from '../../backup/manifest.js';
import { mongorestoreArgs, writeMongoToolConfig } from '../../backup/mongodb/commands.js';
import { HoldbackSink, checkCanDecrypt, readObject } from '../../backup/read-object.js';
import { withTempDir } from '../../backup/temp-dir.js';

export interface MongoRestoreRunOptions {
  repo: Repository;
  manifest: BackupManifest;
  target: ResolvedMongodbTarget;
  read: ReadPipelineOptions;
  /** Restore the backup's database under this name. */
  database?: string;
  /** mongorestore --drop: only when asked (--clean). */
  drop: boolean;
  /** `db.collection` patterns (from --table); `db.*` for --schema. */
  include: string[];
  dryRun: boolean;
  signal: AbortSignal;
  logger: Logger;
  progress: Progress;
  tempRoot?: string;
}

export interface MongoRestoreRunResult {
  database: string | undefined;
  args: string[];
  storedBytes: number;
  rawBytes: number;
  dryRun: boolean;
}

/** `mongorestore --archive` fed from the repository, with the oplog replayed when the dump has one. */
export async function restoreMongoRun(o: MongoRestoreRunOptions): Promise<MongoRestoreRunResult> {
  const m = o.manifest;
  const object = m.objects[0]!;
  const tool = await findMongoTool('mongorestore');
  await checkCanDecrypt(o.repo, object, o.read);
  const from = m.target.database;
  return withTempDir(
    'mongorestore',
    async (dir) => {
      const configFile = await writeMongoToolConfig(dir, o.target.url);
      const args = mongorestoreArgs({
        configFile,
        oplogReplay: m.method.args.includes('--oplog'),
        drop: o.drop,
        include: o.include,
        ...(o.database && from && o.database !== from ? { rename: { from, to: o.database } } : {}),
        dryRun: o.dryRun,
      });
      const shown = args.map((a) => (a.startsWith('--config=') ? '--config=<file>' : a));
      if (o.dryRun)
        return {
          database: o.database ?? from,
          args: shown,
          storedBytes: object.stored.size,
          rawBytes: object.raw.size,
          dryRun: true,
        };
      const child = startTool('mongorestore', tool.path, args, {
        stdin: 'pipe',
        stdout: 'ignore',
        signal: o.signal,
      });
      o.progress.start(`mongorestore ${m.id}`, object.stored.size);
      try {
        const sink = new HoldbackSink(child.stdin!, () => child.kill());
        const [r, c] = await Promise.allSettled([
          readObject(o.repo, object, sink, {
            read: o.read,
            signal: o.signal,
            beforeFail: () => child.kill(),
            onProgress: (s) => o.progress.update(s, object.stored.size),
          }),
          child.done,
        ]);
        if (r.status === 'rejected') throw r.reason;
        if (c.status === 'rejected') throw c.reason;
        return { database: o.database ?? from, args: shown, ...r.value, dryRun: false };
      } finally {
        o.progress.stop();
      }
    },
    o.tempRoot,
  );
}
