import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { ConfigError, ToolError } from '../../src/errors.js';
import {
  CorruptDataError,
  DecryptionError,
  buildReadPipeline,
  buildWritePipeline,
  findZstdBinary,
  generateIdentity,
  hashStage,
  identityToRecipient,
  runPipeline,
  type EncryptOptions,
  type PipelineDescription,
} from '../../src/streams/index.js';

const MiB = 1024 * 1024;

/** ~10 MB: half incompressible, half dump-like text. */
function sample(): Buffer {
  const lines: string[] = [];
  for (let i = 0, n = 0; n < 5 * MiB; i++) {
    const line = `${i}\tuser_${i % 977}\tmessage body number ${i % 31}\t2024-06-${(i % 28) + 1}\n`;
    lines.push(line);
    n += line.length;
  }
  return Buffer.concat([randomBytes(5 * MiB), Buffer.from(lines.join(''))]);
}

function collector(): { sink: Writable; bytes: () => Buffer } {
  const parts: Buffer[] = [];
  return {
    sink: new Writable({
      write(chunk: Buffer, _e, cb) {
        parts.push(chunk);
        cb();
      },
    }),
    bytes: () => Buffer.concat(parts),
  };
}

function chunked(data: Buffer, size = 200_000): Readable {
  const chunks: Buffer[] = [];
  for (let off = 0; off < data.length; off += size) chunks.push(data.subarray(off, off + size));
  return Readable.from(chunks);
}

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const hasZstd = findZstdBinary() !== undefined;
const ageCli = spawnSync('age', ['--version']).status === 0;
if (!ageCli)
  console.warn('NOTICE: the `age` CLI is not installed (apt-get install age): real-CLI checks are skipped');

let data: Buffer;
let identity: string;
let recipient: string;
let dir: string;
let keyFile: string;

beforeAll(async () => {
  data = sample();
  identity = await generateIdentity();
  recipient = await identityToRecipient(identity);
  dir = mkdtempSync(join(tmpdir(), 'dbops-pipeline-'));
  keyFile = join(dir, 'key.txt');
  writeFileSync(keyFile, `${identity}\n`, { mode: 0o600 });
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const compressions = ['none', 'gzip', ...(hasZstd ? ['zstd'] : [])] as const;
const encryptions = ['plain', 'recipients', 'passphrase'] as const;
const PASSPHRASE = 'tr0ub4dor&3-but-longer';

describe.each(compressions)('compression %s', (compression) => {
  it.each(encryptions)(
    '× %s: byte-identical round trip, standard tools read it',
    async (mode) => {
      const encryption: EncryptOptions | null =
        mode === 'plain'
          ? null
          : mode === 'recipients'
            ? { recipients: [recipient] }
            : // A low work factor keeps the matrix fast; streams-encrypt tests the default (18).
              { passphrase: PASSPHRASE, scryptLogN: 12 };
      const write = await buildWritePipeline({ compression, encryption, preferZstdBinary: true });
      const stored = collector();
      const written = await runPipeline(chunked(data), write.stages, stored.sink);
      const storedBytes = stored.bytes();
      expect(written.bytesIn).toBe(data.length);
      expect(written.bytesOut).toBe(storedBytes.length);
      expect(written.sha256).toBe(sha256(storedBytes));

      // The description survives JSON (it goes into manifest.json).
      const description = JSON.parse(JSON.stringify(write.describe())) as PipelineDescription;
      expect(description.compression.algorithm).toBe(compression);
      expect(description.encryption).toEqual(
        mode === 'plain'
          ? null
          : mode === 'recipients'
            ? { format: 'age', recipients: [recipient] }
            : { format: 'age', passphrase: true },
      );

      const read = buildReadPipeline(description, { identities: [identity], passphrase: PASSPHRASE });
      const restored = collector();
      const readBack = await runPipeline(Readable.from([storedBytes]), read.stages, restored.sink);
      expect(readBack.bytesOut).toBe(data.length);
      expect(readBack.sha256).toBe(sha256(data));
      expect(restored.bytes().equals(data)).toBe(true);

      // No dbops needed: age -d -i KEY | zstd -d / gzip -d.
      if (mode === 'passphrase') return; // the age CLI reads passphrases from a terminal only
      let bytes = storedBytes;
      if (mode === 'recipients') {
        if (!ageCli) return;
        const age = spawnSync('age', ['-d', '-i', keyFile], { input: bytes, maxBuffer: 64 * MiB });
        expect(age.status).toBe(0);
        bytes = age.stdout;
      }
      if (compression !== 'none') {
        const tool = spawnSync(compression, ['-d', '-c'], { input: bytes, maxBuffer: 64 * MiB });
        expect(tool.status).toBe(0);
        bytes = tool.stdout;
      }
      expect(bytes.equals(data)).toBe(true);
    },
    60_000,
  );
});

describe('pipeline behaviour', () => {
  it('describes the zstd implementation for the manifest', async () => {
    if (!hasZstd) return;
    const p = await buildWritePipeline({ compression: 'zstd:3', encryption: null, preferZstdBinary: true });
    expect(p.describe().compression).toMatchObject({
      algorithm: 'zstd',
      level: 3,
      implementation: 'zstd-binary',
      binary: expect.stringMatching(/zstd$/),
      version: expect.stringMatching(/^\d+\.\d+\.\d+$/),
    });
    for (const s of p.stages) s.destroy();
  });

  it('a read pipeline needs the right secrets', async () => {
    const keyed: PipelineDescription = {
      compression: { algorithm: 'gzip', level: 1, implementation: 'node:zlib' },
      encryption: { format: 'age', recipients: [recipient] },
    };
    expect(() => buildReadPipeline(keyed, {})).toThrow(ConfigError);
    expect(() =>
      buildReadPipeline({ ...keyed, encryption: { format: 'age', passphrase: true } }, {}),
    ).toThrow(ConfigError);
  });

  it('wrong identity through the read pipeline → DecryptionError', async () => {
    const write = await buildWritePipeline({ compression: 'gzip', encryption: { recipients: [recipient] } });
    const stored = collector();
    await runPipeline(Readable.from([Buffer.from('hello')]), write.stages, stored.sink);
    const other = await generateIdentity();
    const read = buildReadPipeline(write.describe(), { identities: [other] });
    await expect(runPipeline(Readable.from([stored.bytes()]), read.stages, collector().sink)).rejects.toThrow(
      DecryptionError,
    );
  });

  it('a flipped byte in a stored object is caught on read', async () => {
    const write = await buildWritePipeline({ compression: 'none', encryption: { recipients: [recipient] } });
    const stored = collector();
    await runPipeline(chunked(data.subarray(0, MiB)), write.stages, stored.sink);
    const bad = stored.bytes();
    bad[bad.length >> 1]! ^= 0x80;
    const read = buildReadPipeline(write.describe(), { identities: [identity] });
    await expect(runPipeline(Readable.from([bad]), read.stages, collector().sink)).rejects.toThrow(
      CorruptDataError,
    );
  });

  it('damaged gzip data → CorruptDataError', async () => {
    const write = await buildWritePipeline({ compression: 'gzip', encryption: null });
    const stored = collector();
    await runPipeline(chunked(data.subarray(0, MiB)), write.stages, stored.sink);
    const bad = stored.bytes().subarray(0, 50_000);
    const read = buildReadPipeline(write.describe());
    await expect(runPipeline(Readable.from([bad]), read.stages, collector().sink)).rejects.toThrow(
      CorruptDataError,
    );
  });

  it.skipIf(!hasZstd)('a failing sink tears down every stage and kills zstd', async () => {
    const write = await buildWritePipeline({
      compression: 'zstd',
      encryption: { recipients: [recipient] },
      preferZstdBinary: true,
    });
    const pid = (write.stages[0] as unknown as { pid: number }).pid;
    let seen = 0;
    const sink = new Writable({
      write(chunk: Buffer, _e, cb) {
        seen += chunk.length;
        cb(seen > 100_000 ? new Error('disk full') : null);
      },
    });
    const endless = new Readable({
      read() {
        this.push(randomBytes(64 * 1024));
      },
    });
    await expect(runPipeline(endless, write.stages, sink)).rejects.toThrow('disk full');
    await new Promise((r) => setTimeout(r, 100));
    expect(() => process.kill(pid, 0)).toThrow();
    expect(endless.destroyed).toBe(true);
  });

  it('missing zstd is reported before any data flows', async () => {
    await expect(
      buildWritePipeline({ compression: 'zstd', encryption: null, preferZstdBinary: true }).then(
        async (p) => {
          for (const s of p.stages) s.destroy();
          const prev = process.env.PATH;
          process.env.PATH = '/nonexistent-dir';
          try {
            return await buildWritePipeline({
              compression: 'zstd',
              encryption: null,
              preferZstdBinary: true,
            });
          } finally {
            process.env.PATH = prev;
          }
        },
      ),
    ).rejects.toThrow(ToolError);
  });

  it.skipIf(!hasZstd)(
    '200 MB through zstd + age streams with flat memory',
    async () => {
      const total = 200 * MiB;
      const block = Buffer.concat([randomBytes(512 * 1024), Buffer.alloc(512 * 1024, 'row data ')]);
      let produced = 0;
      let producedAtFirstOutput = -1;
      const source = new Readable({
        read() {
          if (produced >= total) return void this.push(null);
          produced += block.length;
          this.push(block);
        },
      });
      global.gc?.();
      const rssBefore = process.memoryUsage().rss;
      let rssPeak = rssBefore;
      const timer = setInterval(() => {
        rssPeak = Math.max(rssPeak, process.memoryUsage().rss);
      }, 20);
      const hash = hashStage();
      const sink = new Writable({
        highWaterMark: 256 * 1024,
        write(_chunk: Buffer, _e, cb) {
          if (producedAtFirstOutput < 0) producedAtFirstOutput = produced;
          setImmediate(cb);
        },
      });
      const write = await buildWritePipeline({
        compression: 'zstd',
        encryption: { recipients: [recipient] },
        preferZstdBinary: true,
      });
      const started = performance.now();
      const result = await runPipeline(source, [...write.stages, hash], sink);
      clearInterval(timer);
      const seconds = (performance.now() - started) / 1000;
      console.log(
        `200 MB zstd-1 + age: ${(total / MiB / seconds).toFixed(0)} MB/s in, ${(result.bytesOut / MiB).toFixed(0)} MB out, RSS +${((rssPeak - rssBefore) / MiB).toFixed(0)} MB`,
      );
      expect(result.bytesIn).toBe(total);
      expect((await hash.digest()).bytes).toBe(result.bytesOut);
      // Output starts long before the input ends, and memory does not follow the input size.
      expect(producedAtFirstOutput).toBeGreaterThan(0);
      expect(producedAtFirstOutput).toBeLessThan(32 * MiB);
      expect(rssPeak - rssBefore).toBeLessThan(100 * MiB);
    },
    120_000,
  );
});
