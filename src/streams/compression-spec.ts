import * as zlib from 'node:zlib';

import { ConfigError } from '../errors.js';
import { findExecutables, pathDirs } from '../tools/search-path.js';

/*
 * The compression choice and where the zstd binary is: what `wal push` needs before it spawns
 * zstd, kept apart from the stream stages (compress.ts) so that path loads no zlib or stream code.
 */

export type CompressionAlgorithm = 'zstd' | 'gzip' | 'none';

export interface CompressionSpec {
  algorithm: CompressionAlgorithm;
  /** 0 for `none`. */
  level: number;
}

/**
 * Defaults chosen for throughput, since compression sits in the middle of pg_dump → storage:
 * - zstd 1: the issue-3 reference pipeline (`pg_dump -Fc -Z0 | zstd -1`), ~400 MB/s here with -T0.
 * - gzip 1: on a 200 MB dump-like file on the 2-core build machine, node:zlib level 1 ran at
 *   ~56 MB/s vs ~26 MB/s at level 6, for an output only ~13 % larger. gzip is the fallback people
 *   pick for compatibility, not for ratio; whoever wants ratio asks for `zstd:N`.
 */
export const DEFAULT_LEVELS: Record<CompressionAlgorithm, number> = { zstd: 1, gzip: 1, none: 0 };

// zstd's negative levels are its `--fast=N` modes: faster than level 1, for a lower ratio.
const LEVEL_RANGE: Record<Exclude<CompressionAlgorithm, 'none'>, [number, number]> = {
  zstd: [-7, 19],
  gzip: [1, 9],
};

/** The zstd command-line flag for a level: `-3`, or `--fast=3` for level -3. */
export function zstdLevelFlag(level: number): string {
  return level < 0 ? `--fast=${-level}` : `-${level}`;
}

export const ZSTD_INSTALL_HINT =
  'install zstd: apt-get install zstd (Debian/Ubuntu), brew install zstd (macOS)';

/**
 * `zstd`, `zstd:3`, `gzip:6`, `none` (also the config object `{ algorithm, level? }`) →
 * `{ algorithm, level }` with the default level filled in.
 */
export function parseCompression(
  input: string | { algorithm: CompressionAlgorithm | string; level?: number | undefined },
): CompressionSpec {
  let algorithm: string;
  let level: number | undefined;
  if (typeof input === 'string') {
    const m = /^([a-z]+)(?::(-?\d+))?$/.exec(input.trim().toLowerCase());
    if (!m) throw badCompression(input, 'expected ALGORITHM or ALGORITHM:LEVEL');
    algorithm = m[1]!;
    level = m[2] === undefined ? undefined : Number(m[2]);
  } else {
    algorithm = input.algorithm;
    level = input.level;
  }
  if (algorithm === 'none') {
    if (level !== undefined && level !== 0) throw badCompression(String(input), '`none` takes no level');
    return { algorithm: 'none', level: 0 };
  }
  if (algorithm !== 'zstd' && algorithm !== 'gzip') {
    throw badCompression(typeof input === 'string' ? input : algorithm, `unknown algorithm "${algorithm}"`);
  }
  const [min, max] = LEVEL_RANGE[algorithm];
  if (level === undefined) level = DEFAULT_LEVELS[algorithm];
  if (!Number.isInteger(level) || level < min || level > max || level === 0) {
    throw badCompression(
      typeof input === 'string' ? input : `${algorithm}:${level}`,
      algorithm === 'zstd'
        ? 'zstd level must be 1..19, or -1..-7 for its fast modes'
        : `${algorithm} level must be ${min}..${max}`,
    );
  }
  return { algorithm, level };
}

function badCompression(input: string, why: string): ConfigError {
  return new ConfigError(`invalid compression "${input}": ${why}`, {
    hint: 'use zstd, zstd:LEVEL (1-19, or -1..-7: fast modes), gzip, gzip:LEVEL (1-9) or none',
  });
}

/** `zstd:1`, `gzip:6`, `none`. */
export function formatCompression(spec: CompressionSpec): string {
  return spec.algorithm === 'none' ? 'none' : `${spec.algorithm}:${spec.level}`;
}

/** Where the `zstd` binary is, or undefined. Cheap: a stat per PATH entry. */
export function findZstdBinary(env: NodeJS.ProcessEnv = process.env): string | undefined {
  return findExecutables('zstd', pathDirs(env))[0];
}

/**
 * Whether node:zlib has zstd (Node 22.15 / 23.8 and later; @types/node 20 does not know it, hence
 * the probe). Where it has, zstd runs in-process; elsewhere the zstd binary does.
 */
export function zlibHasZstd(): boolean {
  const z = zlib as unknown as { createZstdCompress?: unknown; createZstdDecompress?: unknown };
  return typeof z.createZstdCompress === 'function' && typeof z.createZstdDecompress === 'function';
}
