import { withMongo } from '../../../connections/mongodb/client.js';
import { redactUrl } from '../../../connections/redact.js';
import type { ResolvedMongodbTarget } from '../../../connections/target.js';
import { findMongoTool } from '../../../tools/find-tool.js';
import { startTool } from '../../../tools/run-tool.js';
import type { EngineBackupInput, EngineBackupResult } from '../engine.js';
import { storeStream } from '../store-stream.js';
import { withTempDir } from '../temp-dir.js';
import { mongodumpArgs, writeMongoToolConfig } from './commands.js';

export const MONGO_CONTENT = 'mongodump/archive';

/** `mongodump --archive` (with --oplog on a replica set) streamed into the repository. */
export async function mongodbBackup(
  target: ResolvedMongodbTarget,
  input: EngineBackupInput,
): Promise<EngineBackupResult> {
  const facts = await withMongo(target, async (m) => {
    const admin = m.client.db('admin');
    const hello = (await admin.command({ hello: 1 })) as { setName?: string };
    const build = (await admin.command({ buildInfo: 1 })) as { version?: string };
    return { setName: hello.setName, version: build.version ?? 'unknown', database: m.databaseName };
  });
  const tool = await findMongoTool('mongodump');
  await input.storageReady;
  return withTempDir(
    'mongodump',
    async (dir) => {
      const configFile = await writeMongoToolConfig(dir, target.url);
      const args = mongodumpArgs({ configFile, oplog: facts.setName !== undefined });
      const dump = startTool('mongodump', tool.path, args, { stdout: 'pipe', signal: input.signal });
      input.progress.start('mongodump');
      try {
        const storing = storeStream(input.repo, dump.stdout!, {
          key: input.keyFor(`db.archive${input.suffix}`),
          content: MONGO_CONTENT,
          pipeline: input.pipeline,
          signal: input.signal,
          onProgress: (raw) => input.progress.update(raw),
        });
        const [stored, dumped] = await Promise.allSettled([storing, dump.done]);
        if (stored.status === 'rejected') {
          dump.kill();
          throw stored.reason;
        }
        if (dumped.status === 'rejected') throw dumped.reason;
        return {
          objects: [stored.value],
          target: { name: target.name, where: redactUrl(target.url), database: facts.database },
          method: {
            tool: 'mongodump',
            format: 'archive' as const,
            args: args.map((a) => (a.startsWith('--config=') ? '--config=<file>' : a)),
          },
          server: { version: facts.version, ...(facts.setName ? { replicaSet: facts.setName } : {}) },
          tool: { name: 'mongodump', version: tool.version, path: tool.path },
          rowCounts: null,
        };
      } finally {
        input.progress.stop();
      }
    },
    input.tempRoot,
  );
}
