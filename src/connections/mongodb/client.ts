import type { MongoClient } from 'mongodb';

import { ConnectionError } from '../../errors.js';
import { redactText, redactUrl } from '../redact.js';
import type { ResolvedMongodbTarget } from '../target.js';

export interface MongoHandle {
  readonly target: ResolvedMongodbTarget;
  readonly client: MongoClient;
  readonly where: string;
  /** The database named in the URL (or 'test', as the driver does). */
  readonly databaseName: string;
}

/** The mongodb driver is heavy: it is imported only when a MongoDB target is used. */
export async function withMongo<T>(
  target: ResolvedMongodbTarget,
  fn: (m: MongoHandle) => Promise<T>,
): Promise<T> {
  const { MongoClient } = await import('mongodb');
  const where = redactUrl(target.url);
  const client = new MongoClient(target.url, {
    appName: 'dbops',
    serverSelectionTimeoutMS: target.connectTimeout * 1000,
    connectTimeoutMS: target.connectTimeout * 1000,
    ...(target.tls?.caFile ? { tls: true, tlsCAFile: target.tls.caFile } : {}),
    ...(target.tls?.mode === 'require' ? { tls: true, tlsAllowInvalidCertificates: true } : {}),
  });
  try {
    try {
      await client.connect();
    } catch (err) {
      throw new ConnectionError(`cannot connect to ${where}: ${redactText((err as Error).message)}`, {
        hint: 'check the URL, credentials and that mongod is reachable',
        cause: err,
      });
    }
    return await fn({ target, client, where, databaseName: client.db().databaseName });
  } finally {
    await client.close().catch(() => {});
  }
}
