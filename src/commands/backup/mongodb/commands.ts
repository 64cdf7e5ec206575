import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * argv for mongodump / mongorestore. The URI (with its password) goes into a 0600 YAML file passed
 * with --config, which both tools read for `uri` and `password`: argv is visible to every user of
 * the host through `ps`.
 */
export interface MongodumpArgsOptions {
  configFile: string;
  /** Replica sets only: a consistent point in time across collections (mongodump refuses --oplog elsewhere). */
  oplog: boolean;
}

export function mongodumpArgs(o: MongodumpArgsOptions): string[] {
  return [`--config=${o.configFile}`, '--archive', ...(o.oplog ? ['--oplog'] : [])];
}

export interface MongorestoreArgsOptions {
  configFile: string;
  /** Replay the oplog captured by `mongodump --oplog`. */
  oplogReplay: boolean;
  /** Drop each collection before restoring it (only when asked). */
  drop: boolean;
  /** Restore database `from` under the name `to`. */
  rename?: { from: string; to: string };
  /** `db.collection` patterns to restore (mongorestore --nsInclude). */
  include?: string[];
  dryRun?: boolean;
}

export function mongorestoreArgs(o: MongorestoreArgsOptions): string[] {
  const args = [`--config=${o.configFile}`, '--archive'];
  if (o.oplogReplay) args.push('--oplogReplay');
  if (o.drop) args.push('--drop');
  for (const ns of o.include ?? []) args.push(`--nsInclude=${ns}`);
  if (o.rename) args.push(`--nsFrom=${o.rename.from}.*`, `--nsTo=${o.rename.to}.*`);
  if (o.dryRun) args.push('--dryRun');
  return args;
}

/** The YAML of the --config file: JSON strings are valid YAML double-quoted scalars. */
export function mongoToolConfigYaml(uri: string): string {
  return `uri: ${JSON.stringify(uri)}\n`;
}

/** Writes the --config file (mode 0600) into a private directory and returns its path. */
export async function writeMongoToolConfig(dir: string, uri: string): Promise<string> {
  const file = join(dir, 'mongo-tool.yaml');
  await writeFile(file, mongoToolConfigYaml(uri), { mode: 0o600, flag: 'wx' });
  return file;
}
