import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { isMap, LineCounter, parseDocument } from 'yaml';
import type { ZodError } from 'zod';

import { ConfigError } from '../errors.js';
import { registerSecret } from '../connections/redact.js';
import { interpolateEnv } from './interpolate.js';
import { configSchema, type Config } from './schema.js';

export const DEFAULT_CONFIG_FILE = 'dbops.config.yaml';

export interface LoadedConfig {
  config: Config;
  /** Absolute path of the file read, or undefined when no file exists (flags and env only). */
  path: string | undefined;
}

export interface LoadConfigOptions {
  /** `--config PATH`; an explicitly named file must exist. */
  path?: string;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

/** Which file to read: `--config`, else `DBOPS_CONFIG`, else ./dbops.config.yaml if present. */
export function configPath(options: LoadConfigOptions): { path: string; explicit: boolean } {
  const env = options.env ?? process.env;
  const cwd = options.cwd ?? process.cwd();
  if (options.path) return { path: resolve(cwd, options.path), explicit: true };
  if (env.DBOPS_CONFIG) return { path: resolve(cwd, env.DBOPS_CONFIG), explicit: true };
  return { path: resolve(cwd, DEFAULT_CONFIG_FILE), explicit: false };
}

export function loadConfig(options: LoadConfigOptions = {}): LoadedConfig {
  const { path, explicit } = configPath(options);
  if (!existsSync(path)) {
    if (explicit) {
      throw new ConfigError(`config file ${path} does not exist`, {
        hint: 'check --config / DBOPS_CONFIG, or run `dbops sandbox up --write-config` to create one',
      });
    }
    return { config: parseConfig({}, undefined), path: undefined };
  }
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read config file ${path}: ${(err as Error).message}`, { cause: err });
  }
  return { config: parseConfigText(text, path, options.env ?? process.env), path };
}

/** Parses YAML text, interpolates `${VAR}` and validates; every problem is reported at once. */
export function parseConfigText(text: string, file: string, env: NodeJS.ProcessEnv = process.env): Config {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    const problems = doc.errors.map((e) => {
      const pos = e.linePos?.[0] ?? lineCounter.linePos(e.pos[0]);
      return `${file}:${pos.line}:${pos.col}: ${e.message.split('\n')[0]}`;
    });
    throw new ConfigError(`${file} is not valid YAML`, { problems });
  }
  if (doc.contents !== null && !isMap(doc.contents)) {
    throw new ConfigError(`${file} must be a YAML mapping (targets:, repositories:, …)`);
  }
  const raw: unknown = doc.toJS() ?? {};
  const interpolated = interpolateEnv(raw, env);
  for (const secret of interpolated.substituted) registerSecret(secret);
  if (interpolated.problems.length > 0) {
    throw new ConfigError(`${file}: missing environment variables`, { problems: interpolated.problems });
  }
  return parseConfig(interpolated.value, file);
}

export function parseConfig(value: unknown, file: string | undefined): Config {
  const result = configSchema.safeParse(value);
  if (!result.success) {
    throw new ConfigError(`${file ?? 'config'} has ${plural(result.error.issues.length, 'problem')}`, {
      problems: formatZodIssues(result.error),
    });
  }
  const config = result.data;
  const problems: string[] = [];
  if (config.defaultTarget && !config.targets[config.defaultTarget]) {
    problems.push(`defaultTarget: no target named "${config.defaultTarget}"`);
  }
  if (config.defaultRepository && !config.repositories[config.defaultRepository]) {
    problems.push(`defaultRepository: no repository named "${config.defaultRepository}"`);
  }
  if (problems.length > 0)
    throw new ConfigError(`${file ?? 'config'} has ${plural(problems.length, 'problem')}`, { problems });
  return config;
}

export function formatZodIssues(error: ZodError): string[] {
  return error.issues.flatMap((issue) => {
    const path = issue.path.map(String).join('.');
    if (issue.code === 'unrecognized_keys') {
      return issue.keys.map((key) => `${path ? `${path}.` : ''}${key}: unknown key`);
    }
    return [`${path || '(root)'}: ${issue.message}`];
  });
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}
