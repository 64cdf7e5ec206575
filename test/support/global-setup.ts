import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';

import { sandboxDown, sandboxUp } from '../../src/sandbox/cluster.js';
import { startS3Server } from './s3-server.js';

export interface ProvidedS3 {
  endpoint: string;
  port: number;
  bucket: string;
  accessKeyId: string;
  secretAccessKey: string;
}

declare module 'vitest' {
  export interface ProvidedContext {
    /** Superuser URL (with password) of the shared throwaway cluster, database `postgres`. */
    pgUrl: string;
    pgPort: number;
    /** Directory of the shared sandbox (data, socket, log). */
    pgDir: string;
    pgMajor: number;
    s3: ProvidedS3;
  }
}

/**
 * Once per test run: a throwaway PostgreSQL cluster and an S3-compatible server on 127.0.0.1
 * with free ports. Both are stopped at the end, also when tests fail.
 */
export default async function setup(project: TestProject) {
  const dir = await mkdtemp(join(tmpdir(), 'dbops-test-pg-'));
  const stops: (() => Promise<unknown>)[] = [];
  try {
    const pg = await sandboxUp({ dir });
    stops.push(() => sandboxDown(dir, { remove: true }));
    const s3 = await startS3Server();
    stops.push(() => s3.stop());
    project.provide('pgUrl', pg.url);
    project.provide('pgPort', pg.port);
    project.provide('pgDir', dir);
    project.provide('pgMajor', pg.major);
    project.provide('s3', {
      endpoint: s3.endpoint,
      port: s3.port,
      bucket: s3.bucket,
      accessKeyId: s3.accessKeyId,
      secretAccessKey: s3.secretAccessKey,
    });
  } catch (err) {
    for (const stop of stops.reverse()) await stop().catch(() => {});
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
  return async () => {
    for (const stop of stops.reverse()) await stop().catch(() => {});
    await rm(dir, { recursive: true, force: true });
  };
}
