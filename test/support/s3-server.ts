import { rmSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import type { Server } from 'node:http';
import { createRequire } from 'node:module';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';

/** A real S3-compatible HTTP server (s3rver) on 127.0.0.1 for integration tests. */
export interface S3TestServer {
  /** `http://127.0.0.1:<port>` */
  endpoint: string;
  port: number;
  bucket: string;
  accessKeyId: string;
  secretAccessKey: string;
  /** Where s3rver keeps the objects (removed by stop()). */
  directory: string;
  /** Stops the server, cutting open connections (simulates "S3 is down"); data is kept for restart(). */
  stop(): Promise<void>;
  /** Starts it again on the same port with the same data. */
  restart(): Promise<void>;
  /** Stops it and removes its directory. */
  dispose(): Promise<void>;
}

interface S3rverInstance {
  run(): Promise<AddressInfo>;
  close(): Promise<void>;
  httpServer?: Server;
}
type S3rverConstructor = new (options: Record<string, unknown>) => S3rverInstance;

// s3rver is CommonJS without types.
const S3rver = createRequire(import.meta.url)('s3rver') as S3rverConstructor;

export const TEST_BUCKET = 'dbops-test';
/** s3rver's built-in account. */
const ACCESS_KEY_ID = 'S3RVER';
const SECRET_ACCESS_KEY = 'S3RVER';

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

export async function startS3Server(opts: { port?: number } = {}): Promise<S3TestServer> {
  const directory = await mkdtemp(path.join(tmpdir(), 'dbops-s3rver-'));
  const port = opts.port ?? (await freePort());
  let instance: S3rverInstance | undefined;

  const start = async (): Promise<void> => {
    const server = new S3rver({
      address: '127.0.0.1',
      port,
      directory,
      silent: true,
      // Path-style only: no <bucket>.localhost virtual hosts.
      vhostBuckets: false,
      configureBuckets: [{ name: TEST_BUCKET }],
    });
    await server.run();
    instance = server;
  };

  const stop = async (): Promise<void> => {
    const current = instance;
    instance = undefined;
    if (current === undefined) return;
    const closed = current.close();
    // close() alone waits for keep-alive and in-flight connections; an outage cuts them.
    current.httpServer?.closeAllConnections();
    await closed;
  };

  await start();
  // stop() keeps the data for restart(); callers that only stop() still leave no temp directory.
  const removeOnExit = (): void => rmSync(directory, { recursive: true, force: true });
  process.once('exit', removeOnExit);
  return {
    endpoint: `http://127.0.0.1:${port}`,
    port,
    bucket: TEST_BUCKET,
    accessKeyId: ACCESS_KEY_ID,
    secretAccessKey: SECRET_ACCESS_KEY,
    directory,
    stop,
    restart: async () => {
      await stop();
      await start();
    },
    dispose: async () => {
      process.removeListener('exit', removeOnExit);
      await stop();
      await rm(directory, { recursive: true, force: true });
    },
  };
}
