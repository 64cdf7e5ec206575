import { randomBytes, randomUUID, createHash } from 'node:crypto';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, request as httpRequest, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { crc32 } from 'node:zlib';
import { execa } from 'execa';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { S3RepositoryConfig } from '../../src/config/schema.js';
import { StorageError } from '../../src/errors.js';
import { RepositoryError, openRepository } from '../../src/storage/index.js';
import { startS3Server, type S3TestServer } from '../support/s3-server.js';
import { tempDir } from '../support/temp-dir.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const SDK_WARNING_ENV = 'AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED';

let s3: S3TestServer;
beforeAll(async () => {
  s3 = await startS3Server();
});
afterAll(async () => {
  await s3?.dispose();
});

function s3Config(overrides: Partial<S3RepositoryConfig> = {}): S3RepositoryConfig {
  return {
    type: 's3',
    bucket: s3.bucket,
    prefix: `s3-tests/${randomUUID()}`,
    region: 'us-east-1',
    endpoint: s3.endpoint,
    accessKeyId: s3.accessKeyId,
    secretAccessKey: s3.secretAccessKey,
    checksums: 'when-required',
    maxAttempts: 2,
    ...overrides,
  };
}

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks);
}

async function failure(promise: Promise<unknown>): Promise<{ err: RepositoryError; ms: number }> {
  const started = Date.now();
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, 'the operation should have failed').toBeInstanceOf(RepositoryError);
  return { err: err as RepositoryError, ms: Date.now() - started };
}

/** A stream that yields `total` bytes in 256 KiB chunks, slowly enough to be interrupted. */
function slowStream(total: number, onProgress: (sent: number) => void): Readable {
  let sent = 0;
  return new Readable({
    read() {
      if (sent >= total) {
        this.push(null);
        return;
      }
      setTimeout(() => {
        const chunk = randomBytes(256 * 1024);
        sent += chunk.length;
        onProgress(sent);
        this.push(chunk);
      }, 2);
    },
  });
}

describe('S3 repository against an unavailable endpoint', () => {
  it('fails fast with a StorageError naming the endpoint when nothing listens', async () => {
    const closed = await new Promise<number>((resolve) => {
      const server = createServer().listen(0, '127.0.0.1', () => {
        const { port } = server.address() as AddressInfo;
        server.close(() => resolve(port));
      });
    });
    const repo = await openRepository('down', s3Config({ endpoint: `http://127.0.0.1:${closed}` }));
    try {
      for (const op of [
        () => repo.put('x', Buffer.from('x')),
        () => repo.get('x'),
        () => repo.head('x'),
        () => repo.delete(['x']),
      ]) {
        const { err, ms } = await failure(op());
        expect(err).toBeInstanceOf(StorageError);
        expect(err.exitCode).toBe(5);
        expect(err.code).toBe('unavailable');
        expect(err.message).toContain(`http://127.0.0.1:${closed}`);
        expect(err.message).not.toContain(s3.secretAccessKey);
        expect(err.hint).toBeTruthy();
        expect(ms).toBeLessThan(5000);
      }
    } finally {
      await repo.close();
    }
  });

  it('fails an upload cut by an outage, leaves no object and no part files, and works again after restart', async () => {
    // The stream's parts are staged on disk (see 'S3 repository with parts staged on disk').
    const spoolDir = await tempDir('dbops-s3-outage-');
    const repo = await openRepository('flaky', s3Config({ spoolDir }));
    try {
      let cut = false;
      const body = slowStream(64 * 1024 * 1024, (sent) => {
        if (!cut && sent >= 20 * 1024 * 1024) {
          cut = true;
          void s3.stop();
        }
      });
      const { err, ms } = await failure(repo.put('outage/dump.bin', body));
      expect(cut).toBe(true);
      expect(err.code).toBe('unavailable');
      expect(err.message).toContain(s3.endpoint);
      expect(ms).toBeLessThan(30_000);
      expect(body.destroyed).toBe(true);
      expect(await readdir(spoolDir)).toEqual([]);

      await s3.restart();
      expect(await repo.head('outage/dump.bin')).toBeUndefined();
      await repo.put('outage/after', Buffer.from('back'));
      expect((await readAll(await repo.get('outage/after'))).toString()).toBe('back');
    } finally {
      await repo.close();
    }
  });

  it('reports wrong credentials as a permission error without printing them', async () => {
    // s3rver checks the access key id, not every signature.
    const repo = await openRepository(
      'badcreds',
      s3Config({ accessKeyId: 'UNKNOWNKEY', secretAccessKey: 'not-the-secret-42' }),
    );
    try {
      const { err } = await failure(repo.put('x', Buffer.from('x')));
      expect(err.code).toBe('permission');
      expect(`${err.message} ${err.hint ?? ''}`).not.toContain('not-the-secret-42');
    } finally {
      await repo.close();
    }
  });
});

describe('S3 repository protocol details', () => {
  it('stores exact bytes with checksums: when-supported as well', async () => {
    // s3rver ignores checksum headers; the point is that the body is not stored with
    // aws-chunked framing, the failure S3-compatible servers showed with new SDK defaults.
    const repo = await openRepository('crc', s3Config({ checksums: 'when-supported' }));
    try {
      const small = randomBytes(1000);
      await repo.put('crc/small', Readable.from([small]));
      expect((await readAll(await repo.get('crc/small'))).equals(small)).toBe(true);
      const big = randomBytes(18 * 1024 * 1024);
      await repo.put('crc/big', Readable.from([big.subarray(0, 5_000_000), big.subarray(5_000_000)]));
      expect((await readAll(await repo.get('crc/big'))).equals(big)).toBe(true);
      await repo.delete(['crc/small', 'crc/big']);
      expect(await repo.head('crc/small')).toBeUndefined();
    } finally {
      await repo.close();
    }
  });

  it('sends Content-MD5 with DeleteObjects, for servers that require it', async () => {
    const seen: { headers: IncomingHttpHeaders; body: string }[] = [];
    const server: Server = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        seen.push({ headers: req.headers, body });
        res.setHeader('content-type', 'application/xml');
        res.end('<?xml version="1.0" encoding="UTF-8"?><DeleteResult></DeleteResult>');
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    const repo = await openRepository('md5', s3Config({ endpoint: `http://127.0.0.1:${port}` }));
    try {
      await repo.delete(Array.from({ length: 1001 }, (_, i) => `k/${i}`));
      expect(seen).toHaveLength(2); // batches of 1000
      for (const { headers, body } of seen) {
        expect(headers['content-md5']).toBe(createHash('md5').update(body).digest('base64'));
      }
    } finally {
      await repo.close();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});

describe('S3 repository with parts staged on disk', () => {
  // A stream's parts are staged in files (memory stays flat whatever the part size).
  let spoolDir: string;
  beforeAll(async () => {
    spoolDir = await tempDir('dbops-s3-spool-');
  });
  const leftovers = async () => (await readdir(spoolDir)).length;
  /** A pass-through proxy in front of s3rver that notes each request: method, query, length. */
  async function recordingProxy(
    failOncePart?: number,
  ): Promise<{ endpoint: string; seen: string[]; crcs: string[]; close(): Promise<void> }> {
    const seen: string[] = [];
    const crcs: string[] = [];
    let failed = false;
    const target = new URL(s3.endpoint);
    const server = createServer((req, res) => {
      const query = (req.url ?? '').split('?')[1] ?? '';
      const kind = query.includes('partNumber=')
        ? `part ${/partNumber=(\d+)/.exec(query)![1]} ${req.headers['content-length']}`
        : query.includes('uploads')
          ? 'create'
          : query.includes('uploadId=')
            ? req.method === 'DELETE'
              ? 'abort'
              : 'complete'
            : `${req.method}`;
      seen.push(kind);
      const crc = req.headers['x-amz-checksum-crc32'];
      if (typeof crc === 'string') crcs.push(`${kind.split(' ').slice(0, 2).join(' ')} ${crc}`);
      if (!failed && kind.startsWith(`part ${failOncePart} `)) {
        // The server refusing a part once (throttling): read the body, answer 503 SlowDown.
        failed = true;
        req.resume();
        req.on('end', () => {
          res.writeHead(503, { 'content-type': 'application/xml' });
          res.end(
            '<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code><Message>slow down</Message></Error>',
          );
        });
        return;
      }
      const upstream = httpRequest(
        { host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers },
        (up) => {
          res.writeHead(up.statusCode ?? 502, up.headers);
          up.pipe(res);
        },
      );
      upstream.on('error', () => res.destroy());
      req.pipe(upstream);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    return {
      endpoint: `http://127.0.0.1:${port}`,
      seen,
      crcs,
      close: () => new Promise((resolve) => server.close(() => resolve())),
    };
  }

  it('stores exact bytes in equal parts, a short body as one PUT, and leaves no part files', async () => {
    const proxy = await recordingProxy();
    const repo = await openRepository('spool', s3Config({ spoolDir, endpoint: proxy.endpoint }));
    try {
      // 20 MiB + 123 bytes announced: 8 MiB parts (S3's floor), so 8 + 8 + 4 MiB, in odd chunks.
      const big = randomBytes(20 * 1024 * 1024 + 123);
      const chunks = [
        big.subarray(0, 3_000_001),
        big.subarray(3_000_001, 9_999_999),
        big.subarray(9_999_999),
      ];
      const info = await repo.put('spool/big', Readable.from(chunks), {
        contentLength: big.length,
        metadata: { sha256: createHash('sha256').update(big).digest('hex') },
      });
      expect(info.size).toBe(big.length);
      expect((await readAll(await repo.get('spool/big'))).equals(big)).toBe(true);
      const MiB = 1024 * 1024;
      expect(proxy.seen.filter((r) => r !== 'HEAD' && r !== 'GET')).toEqual([
        'create',
        `part 1 ${8 * MiB}`,
        `part 2 ${8 * MiB}`,
        `part 3 ${4 * MiB + 123}`,
        'complete',
      ]);
      proxy.seen.length = 0;
      expect((await repo.head('spool/big'))?.metadata.sha256).toBe(
        createHash('sha256').update(big).digest('hex'),
      );

      const small = randomBytes(1000);
      await repo.put('spool/small', Readable.from([small]), { ifAbsent: true });
      expect((await readAll(await repo.get('spool/small'))).equals(small)).toBe(true);
      expect(proxy.seen.filter((r) => r !== 'HEAD' && r !== 'GET')).toEqual(['PUT']);
      await expect(repo.put('spool/small', Readable.from([small]), { ifAbsent: true })).rejects.toThrow(
        /already exists/,
      );

      await repo.put('spool/empty', Readable.from([]));
      expect((await repo.head('spool/empty'))?.size).toBe(0);
      expect(await leftovers()).toBe(0);
    } finally {
      await repo.close();
      await proxy.close();
    }
  });

  it("with checksums: when-supported, sends each part's CRC32 as a header, not as a trailer", async () => {
    const proxy = await recordingProxy();
    const repo = await openRepository(
      'spool-crc',
      s3Config({ spoolDir, endpoint: proxy.endpoint, checksums: 'when-supported' }),
    );
    try {
      const big = randomBytes(17 * 1024 * 1024);
      await repo.put('spool/crc', Readable.from([big]), { contentLength: big.length });
      expect((await readAll(await repo.get('spool/crc'))).equals(big)).toBe(true);
      const b64 = (data: Buffer) => {
        const out = Buffer.alloc(4);
        out.writeUInt32BE(crc32(data));
        return out.toString('base64');
      };
      const MiB = 1024 * 1024;
      expect(proxy.crcs).toEqual([
        `part 1 ${b64(big.subarray(0, 8 * MiB))}`,
        `part 2 ${b64(big.subarray(8 * MiB, 16 * MiB))}`,
        `part 3 ${b64(big.subarray(16 * MiB))}`,
      ]);
    } finally {
      await repo.close();
      await proxy.close();
    }
  });

  it('sends a part again, from its file, when the server refused it once', async () => {
    const proxy = await recordingProxy(2);
    const repo = await openRepository('spool-retry', s3Config({ spoolDir, endpoint: proxy.endpoint }));
    try {
      const big = randomBytes(17 * 1024 * 1024);
      await repo.put('spool/retried', Readable.from([big]), { contentLength: big.length });
      expect((await readAll(await repo.get('spool/retried'))).equals(big)).toBe(true);
      expect(proxy.seen.filter((r) => r.startsWith('part 2 '))).toHaveLength(2);
      expect(await leftovers()).toBe(0);
    } finally {
      await repo.close();
      await proxy.close();
    }
  });

  it('without a usable spool directory: 16 MiB parts go from memory with a warning, larger ones fail naming it', async () => {
    const warnings: string[] = [];
    const logger = { debug() {}, info() {}, error() {}, warn: (m: string) => void warnings.push(m) };
    const repo = await openRepository('spool-none', s3Config({ spoolDir: '/dev/null/nowhere' }), logger);
    try {
      const big = randomBytes(20 * 1024 * 1024);
      await repo.put('spool-none/fallback', Readable.from([big]));
      expect((await readAll(await repo.get('spool-none/fallback'))).equals(big)).toBe(true);
      expect(warnings).toEqual(['cannot stage upload parts on disk; keeping them in memory']);
      // A 1 TB database's parts (~200 MiB each) would not fit in memory: refused before reading.
      const body = Readable.from([randomBytes(1000)]);
      const { err } = await failure(repo.put('spool-none/large', body, { sizeHint: 1e12 }));
      expect(err.message).toContain('cannot stage a part of spool-none/large in /dev/null/nowhere');
      expect(err.hint).toMatch(/4 parts of 191 MiB.*spoolDir/);
      expect(await repo.head('spool-none/large')).toBeUndefined();
    } finally {
      await repo.close();
    }
  });
});

/**
 * Child processes run the storage modules as plain JavaScript, transpiled here (Node 20 cannot
 * run TypeScript), so that the test sees exactly what a `dbops` process prints.
 */
describe('S3 repository in a separate process', () => {
  let outDir: string;
  beforeAll(async () => {
    outDir = path.join(ROOT, 'node_modules/.cache/dbops-storage-test', randomUUID());
    const sources = [
      'src/errors.ts',
      'src/logger.ts',
      ...['errors', 'keys', 'local', 'open', 'probe', 'repository', 's3', 'stream-util', 'index'].map(
        (name) => `src/storage/${name}.ts`,
      ),
    ];
    for (const rel of sources) {
      const { outputText } = ts.transpileModule(await readFile(path.join(ROOT, rel), 'utf8'), {
        compilerOptions: {
          module: ts.ModuleKind.ESNext,
          target: ts.ScriptTarget.ES2022,
          verbatimModuleSyntax: true,
        },
      });
      const target = path.join(outDir, rel.replace(/\.ts$/, '.js'));
      await mkdir(path.dirname(target), { recursive: true });
      await writeFile(target, outputText);
    }
    await writeFile(path.join(outDir, 'package.json'), '{ "type": "module" }\n');
  });
  afterAll(async () => {
    if (outDir) await rm(outDir, { recursive: true, force: true });
  });

  const runNode = async (script: string) => {
    const env: Record<string, string | undefined> = { ...process.env, NODE_OPTIONS: undefined };
    env[SDK_WARNING_ENV] = undefined; // this test process may have set it
    return execa(process.execPath, ['--input-type=module', '-e', script], {
      env,
      extendEnv: false,
      reject: false,
      cwd: ROOT,
      timeout: 60_000,
    });
  };

  it('never prints the AWS SDK Node-version warning', async () => {
    const config = JSON.stringify(s3Config());
    const open = pathToFileURL(path.join(outDir, 'src/storage/open.js')).href;
    const result = await runNode(`
      const { openRepository } = await import(${JSON.stringify(open)});
      const repo = await openRepository('child', ${config});
      await repo.put('child/obj', Buffer.from('from a child'), { metadata: { a: 'b' } });
      const chunks = [];
      for await (const c of await repo.get('child/obj')) chunks.push(c);
      for await (const o of repo.list('child/')) {}
      await repo.delete(['child/obj']);
      await repo.close();
      console.log(Buffer.concat(chunks).toString());
    `);
    expect(result.stderr).toBe('');
    expect(result.stdout).toBe('from a child');
    expect(result.exitCode).toBe(0);
  });

  it.runIf(Number(process.versions.node.split('.')[0]) < 22)(
    '(control) the SDK does print that warning on this Node without dbops',
    async () => {
      const result = await runNode(`
        const { S3Client } = await import('@aws-sdk/client-s3');
        new S3Client({ region: 'us-east-1' }).destroy();
      `);
      expect(result.stderr).toContain('NodeVersionSupportWarning');
    },
  );

  it('does not load the AWS SDK for a local repository', async () => {
    const open = pathToFileURL(path.join(outDir, 'src/storage/index.js')).href;
    const dir = path.join(outDir, 'local-repo');
    const result = await runNode(`
      import { createRequire } from 'node:module';
      const { openRepository } = await import(${JSON.stringify(open)});
      const repo = await openRepository('local', { type: 'local', path: ${JSON.stringify(dir)} });
      await repo.put('wal/000000010000000000000001', Buffer.from('segment'), { ifAbsent: true });
      await repo.close();
      const loaded = Object.keys(createRequire(import.meta.url).cache).filter((k) => k.includes('@aws-sdk') || k.includes('@smithy'));
      console.log(JSON.stringify(loaded));
    `);
    expect(result.stderr).toBe('');
    expect(JSON.parse(result.stdout)).toEqual([]);
  });
});
