import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

import { ZstdLanes } from '../../src/commands/wal/zstd-lanes.js';
import { ToolError } from '../../src/errors.js';
import { findZstdBinary } from '../../src/streams/index.js';
import { tempDir } from '../support/temp-dir.js';

const zstd = findZstdBinary();

describe.skipIf(!zstd)('zstd lanes (the background worker compresses through long-lived shells)', () => {
  it('compresses files concurrently, reports a failure, and keeps working after it', async () => {
    const dir = await tempDir('dbops-lanes-');
    const inputs = await Promise.all(
      [0, 1, 2, 3, 4].map(async (i) => {
        const data = Buffer.concat([Buffer.alloc(200_000, i), randomBytes(1000)]);
        await writeFile(join(dir, `in${i}`), data);
        return data;
      }),
    );
    const lanes = new ZstdLanes(zstd!, 2);
    try {
      await Promise.all(
        inputs.map((_, i) => lanes.run(join(dir, `in${i}`), join(dir, `out${i}`), i % 2 ? -1 : 1)),
      );
      for (const [i, data] of inputs.entries()) {
        const back = spawnSync(zstd!, ['-d', '-c', '-q'], { input: await readFile(join(dir, `out${i}`)) });
        expect(back.stdout.equals(data)).toBe(true);
      }
      await expect(lanes.run(join(dir, 'missing'), join(dir, 'outx'), 1)).rejects.toThrow(ToolError);
      await lanes.run(join(dir, 'in0'), join(dir, 'again'), 1);
      expect((await readFile(join(dir, 'again'))).length).toBeGreaterThan(0);
    } finally {
      lanes.close();
    }
  });
});
