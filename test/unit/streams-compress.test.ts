import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, expect, it } from 'vitest';

import { ConfigError, ToolError } from '../../src/errors.js';
import {
  ChildProcessStage,
  compressStage,
  compressionImplementation,
  compressionInfo,
  decompressStage,
  findZstdBinary,
  formatCompression,
  parseCompression,
  runPipeline,
} from '../../src/streams/index.js';

function compressible(bytes: number): Buffer {
  const words = ['INSERT', 'alpha', 'beta', 'gamma', '2024-06-01', 'message', 'user_id', 'NULL'];
  const parts: string[] = [];
  let n = 0;
  let i = 0;
  while (n < bytes) {
    const line = `${i++}\t${words[i % 8]} ${words[(i * 7) % 8]}\t${(i * 2654435761) % 1000003}\n`;
    parts.push(line);
    n += line.length;
  }
  return Buffer.from(parts.join('')).subarray(0, bytes);
}

async function through(input: Buffer, ...stages: NodeJS.ReadWriteStream[]): Promise<Buffer> {
  const out: Buffer[] = [];
  await pipeline([
    Readable.from([input.subarray(0, 1000), input.subarray(1000)]),
    ...stages,
    new Writable({
      write(chunk: Buffer, _e, cb) {
        out.push(chunk);
        cb();
      },
    }),
  ] as NodeJS.ReadWriteStream[]);
  return Buffer.concat(out);
}

const hasZstd = findZstdBinary() !== undefined;

describe('parseCompression', () => {
  it.each([
    ['zstd', { algorithm: 'zstd', level: 1 }],
    ['zstd:3', { algorithm: 'zstd', level: 3 }],
    ['gzip', { algorithm: 'gzip', level: 1 }],
    ['gzip:6', { algorithm: 'gzip', level: 6 }],
    ['none', { algorithm: 'none', level: 0 }],
    [' ZSTD:19 ', { algorithm: 'zstd', level: 19 }],
    ['zstd:-3', { algorithm: 'zstd', level: -3 }],
  ])('%s', (input, expected) => {
    expect(parseCompression(input)).toEqual(expected);
  });

  it('accepts the config object', () => {
    expect(parseCompression({ algorithm: 'gzip' })).toEqual({ algorithm: 'gzip', level: 1 });
    expect(parseCompression({ algorithm: 'zstd', level: 5 })).toEqual({ algorithm: 'zstd', level: 5 });
  });

  it.each(['lz4', 'zstd:0', 'zstd:20', 'zstd:-8', 'gzip:10', 'none:3', 'zstd:', 'zstd:x', '', 'gzip:-1'])(
    'rejects %j with a ConfigError',
    (input) => {
      expect(() => parseCompression(input)).toThrow(ConfigError);
    },
  );

  it('formats back', () => {
    expect(formatCompression(parseCompression('zstd'))).toBe('zstd:1');
    expect(formatCompression(parseCompression('none'))).toBe('none');
  });
});

describe('compress / decompress stages', () => {
  const data = Buffer.concat([compressible(3 * 1024 * 1024), randomBytes(512 * 1024)]);

  it('gzip round trip, readable by gzip -d', async () => {
    const packed = await through(data, compressStage('gzip'));
    expect(packed.length).toBeLessThan(data.length);
    expect((await through(packed, decompressStage('gzip'))).equals(data)).toBe(true);
    const tool = spawnSync('gzip', ['-d', '-c'], { input: packed, maxBuffer: 64 * 1024 * 1024 });
    expect(tool.status).toBe(0);
    expect(tool.stdout.equals(data)).toBe(true);
  });

  it('none is a pass-through', async () => {
    expect((await through(data, compressStage('none'), decompressStage('none'))).equals(data)).toBe(true);
  });

  it.skipIf(!hasZstd)('zstd (binary) round trip, readable by zstd -d', async () => {
    const packed = await through(data, compressStage('zstd:3', { preferBinary: true }));
    expect(packed.length).toBeLessThan(data.length);
    const back = await through(packed, decompressStage('zstd', { preferBinary: true }));
    expect(back.equals(data)).toBe(true);
    const tool = spawnSync('zstd', ['-d', '-c', '-q'], { input: packed, maxBuffer: 64 * 1024 * 1024 });
    expect(tool.status).toBe(0);
    expect(tool.stdout.equals(data)).toBe(true);
  });

  it.skipIf(!hasZstd)('zstd fast mode (level -3 → --fast=3) round trip, readable by zstd -d', async () => {
    const packed = await through(data, compressStage('zstd:-3', { preferBinary: true }));
    expect(packed.length).toBeLessThan(data.length);
    const tool = spawnSync('zstd', ['-d', '-c', '-q'], { input: packed, maxBuffer: 64 * 1024 * 1024 });
    expect(tool.stdout.equals(data)).toBe(true);
  });

  it.skipIf(!hasZstd)('zstd of an empty input is a valid empty frame', async () => {
    const packed = await through(Buffer.alloc(0), compressStage('zstd', { preferBinary: true }));
    expect(packed.length).toBeGreaterThan(0);
    expect((await through(packed, decompressStage('zstd', { preferBinary: true }))).length).toBe(0);
  });

  it('zstd binary missing from PATH → ToolError with an install hint', () => {
    const env = { ...process.env, PATH: '/nonexistent-dir' };
    let caught: unknown;
    try {
      compressStage('zstd', { preferBinary: true, env });
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(ToolError);
    expect((caught as ToolError).exitCode).toBe(4);
    expect((caught as ToolError).hint).toMatch(/apt-get install zstd/);
    expect(() => decompressStage('zstd', { preferBinary: true, env })).toThrow(ToolError);
    return expect(compressionImplementation('zstd', { preferBinary: true, env })).rejects.toThrow(ToolError);
  });

  it('a binary that cannot be started → ToolError', async () => {
    const stage = new ChildProcessStage({
      tool: 'zstd',
      binary: '/nonexistent/zstd',
      args: [],
      installHint: 'x',
    });
    await expect(through(Buffer.from('abc'), stage)).rejects.toThrow(ToolError);
  });

  it.skipIf(!hasZstd)('corrupt zstd input → ToolError carrying zstd stderr', async () => {
    const err = await through(randomBytes(100_000), decompressStage('zstd', { preferBinary: true })).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ToolError);
    expect((err as ToolError).toolExitCode).not.toBe(0);
    expect((err as ToolError).stderrTail.length).toBeGreaterThan(0);
  });

  it.skipIf(!hasZstd)('an aborted pipeline kills the zstd child', async () => {
    const stage = compressStage('zstd', { preferBinary: true }) as ChildProcessStage;
    const pid = stage.pid!;
    const endless = new Readable({
      read() {
        this.push(randomBytes(64 * 1024));
      },
    });
    const controller = new AbortController();
    const sink = new Writable({
      write(_c, _e, cb) {
        setTimeout(cb, 5);
      },
    });
    setTimeout(() => controller.abort(), 200);
    await expect(runPipeline(endless, [stage], sink, { signal: controller.signal })).rejects.toMatchObject({
      exitCode: 130,
    });
    await new Promise((r) => setTimeout(r, 100));
    expect(() => process.kill(pid, 0)).toThrow();
  });

  it('reports implementations for doctor and the manifest', async () => {
    const info = await compressionInfo({ preferBinary: true });
    expect(info.gzip).toMatchObject({ available: true, implementation: 'node:zlib' });
    expect(info.none).toMatchObject({ available: true, implementation: 'passthrough' });
    if (hasZstd) {
      expect(info.zstd).toMatchObject({ available: true, implementation: 'zstd-binary' });
      expect(info.zstd.binary).toMatch(/zstd$/);
      expect(info.zstd.version).toMatch(/^\d+\.\d+\.\d+$/);
    }
    const missing = await compressionInfo({ preferBinary: true, env: { PATH: '/nonexistent-dir' } });
    expect(missing.zstd).toMatchObject({ available: false, implementation: 'missing' });
  });
});
