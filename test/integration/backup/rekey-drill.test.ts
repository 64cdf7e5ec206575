import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { generateIdentity, identityToRecipient } from '../../../src/streams/encrypt.js';
import {
  backupWorld,
  dropDatabase,
  expectExit,
  json,
  restoredUrl,
  tableFingerprints,
  type BackupWorld,
} from './helpers.js';

describe('key rotation and restore drills', () => {
  let w: BackupWorld;
  const restored: string[] = [];
  beforeAll(async () => {
    w = await backupWorld();
  });
  afterAll(async () => {
    for (const d of restored) await dropDatabase(d).catch(() => {});
    await w?.cleanup();
  });

  it('rekey: an old backup restores with the new key only', async () => {
    const { id } = json<{ id: string }>(
      expectExit(await w.dbops(['-f', 'json', 'backup', 'run', '--encrypt']), 0),
    );
    const before = json<{ manifest: { objects: { key: string; stored: { sha256: string } }[] } }>(
      await w.dbops(['-f', 'json', 'backup', 'info', id]),
    );
    const newIdentity = await generateIdentity();
    const newKey = join(w.dir, 'new-key.txt');
    await writeFile(newKey, `${newIdentity}\n`, { mode: 0o600 });
    const newRecipient = await identityToRecipient(newIdentity);

    const r = json<{ rekeyed: number }>(
      expectExit(
        await w.dbops([
          '-f',
          'json',
          'backup',
          'rekey',
          '--add-recipient',
          newRecipient,
          '--remove-recipient',
          w.recipient,
        ]),
        0,
      ),
    );
    expect(r.rekeyed).toBe(1);
    const after = json<{
      encryption: string;
      manifest: { objects: { key: string; pipeline: { encryption: { recipients: string[] } } }[] };
    }>(await w.dbops(['-f', 'json', 'backup', 'info', id]));
    expect(after.manifest.objects[0]!.key).not.toBe(before.manifest.objects[0]!.key);
    expect(after.manifest.objects[0]!.pipeline.encryption.recipients).toEqual([newRecipient]);

    // The old key no longer opens it; the new one alone does.
    expect((await w.dbops(['backup', 'verify', id])).exitCode).toBe(2);
    expectExit(await w.dbops(['backup', 'verify', id, '--identity', newKey]), 0);
    const database = `rekey_${randomBytes(4).toString('hex')}`;
    restored.push(database);
    expectExit(
      await w.dbops(['restore', 'run', id, '--identity', newKey, '--database', database, '--create']),
      0,
    );
    expect(await tableFingerprints(restoredUrl(database))).toEqual(await tableFingerprints(w.db.url));
  });

  it('verify --restore restores into a throwaway cluster and compares row counts', async () => {
    const { id } = json<{ id: string }>(
      expectExit(await w.dbops(['-f', 'json', 'backup', 'run', '--no-encrypt']), 0),
    );
    const v = json<{ ok: boolean; level: string; checks: { name: string; ok: boolean; detail: string }[] }>(
      expectExit(await w.dbops(['-f', 'json', 'backup', 'verify', id, '--restore']), 0),
    );
    expect(v.ok).toBe(true);
    expect(v.level).toBe('restore');
    expect(v.checks.find((c) => c.name.startsWith('restore'))?.detail).toMatch(
      /7 table\(s\) with the recorded row counts/,
    );
    const list = json<{ backups: { id: string; status: string }[] }>(
      await w.dbops(['-f', 'json', 'backup', 'list']),
    );
    expect(list.backups.find((b) => b.id === id)?.status).toBe('verified');
  });
});
