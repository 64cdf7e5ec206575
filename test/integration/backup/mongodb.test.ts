import { findExecutables, pathDirs } from '../../../src/tools/search-path.js';
import { describe, expect, it } from 'vitest';

import { runDbops, json } from '../../support/cli.js';

const uri = process.env.DBOPS_TEST_MONGODB_URI;
const hasTools =
  findExecutables('mongodump', pathDirs(process.env)).length > 0 &&
  findExecutables('mongorestore', pathDirs(process.env)).length > 0;
const enabled = Boolean(uri) && hasTools;
if (!enabled) {
  console.warn(
    `[dbops] MongoDB backup round trip SKIPPED: ${uri ? '' : 'DBOPS_TEST_MONGODB_URI is not set'}${!uri && !hasTools ? '; ' : ''}${hasTools ? '' : 'mongodump/mongorestore not on PATH'}`,
  );
}

describe.skipIf(!enabled)('MongoDB backup → restore round trip', () => {
  it('mongodump --archive through the pipeline and back with mongorestore', async () => {
    const { mkdtemp, writeFile, rm } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const { MongoClient } = await import('mongodb');
    const dir = await mkdtemp(join(tmpdir(), 'dbops-mongo-it-'));
    const source = `dbops_it_${Date.now()}`;
    const copy = `${source}_copy`;
    const u = new URL(uri!);
    u.pathname = `/${source}`;
    const client = new MongoClient(uri!);
    await client.connect();
    try {
      await client
        .db(source)
        .collection('users')
        .insertMany(Array.from({ length: 500 }, (_, i) => ({ n: i, name: `u${i}` })));
      const config = join(dir, 'dbops.config.yaml');
      await writeFile(
        config,
        `targets:\n  chat:\n    engine: mongodb\n    url: ${JSON.stringify(u.toString())}\nrepositories:\n  local:\n    type: local\n    path: ${JSON.stringify(join(dir, 'repo'))}\n`,
      );
      const run = await runDbops(['--config', config, '-f', 'json', 'backup', 'run'], { cwd: dir });
      expect(run.exitCode, run.stderr).toBe(0);
      const { id } = json<{ id: string }>(run);
      const restore = await runDbops(['--config', config, 'restore', 'run', id, '--database', copy], {
        cwd: dir,
      });
      expect(restore.exitCode, restore.stderr).toBe(0);
      expect(await client.db(copy).collection('users').countDocuments()).toBe(500);
    } finally {
      await client
        .db(source)
        .dropDatabase()
        .catch(() => {});
      await client
        .db(copy)
        .dropDatabase()
        .catch(() => {});
      await client.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
