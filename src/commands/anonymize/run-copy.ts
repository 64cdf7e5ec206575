import type { AnonymizeConfig } from '../../config/sections/anonymize.js';
import type { ResolvedTarget } from '../../connections/index.js';
import { ConfigError } from '../../errors.js';
import type { Logger, Progress } from '../../logger.js';
import { maskKeyFromEnv } from './keyed.js';
import { maskedCopy, type CopyResult } from './postgres/copy.js';

export interface AnonymizeCopyOptions {
  from: ResolvedTarget;
  to: ResolvedTarget;
  config: AnonymizeConfig | undefined;
  /** Tables copied in parallel (default 2). */
  jobs?: number;
  env?: NodeJS.ProcessEnv;
}

/** `dbops anonymize copy --from T --to T2`: a masked copy into a fresh database. */
export async function anonymizeCopy(
  options: AnonymizeCopyOptions,
  deps: { logger?: Logger; progress?: Progress; signal?: AbortSignal } = {},
): Promise<CopyResult> {
  if (!options.config)
    throw new ConfigError('the config has no anonymize section', { hint: 'see docs/anonymize.md' });
  if (options.from.engine !== 'postgres' || options.to.engine !== 'postgres') {
    throw new ConfigError('anonymize copy supports PostgreSQL targets only', {
      hint: 'for MongoDB, use anonymize check and subject; masked MongoDB copies are not implemented',
    });
  }
  if (options.from.name === options.to.name && options.from.url === options.to.url) {
    throw new ConfigError('refusing to copy a database onto itself: --to is the same target as --from');
  }
  const key = maskKeyFromEnv(options.config.secretEnv, options.env);
  const result = await maskedCopy({
    source: options.from,
    dest: options.to,
    config: options.config,
    key,
    jobs: options.jobs ?? 2,
    ...(deps.logger ? { logger: deps.logger } : {}),
    ...(deps.progress ? { progress: deps.progress } : {}),
    ...(deps.signal ? { signal: deps.signal } : {}),
  });
  if (!key.deterministic) {
    result.warnings.push(
      `${options.config.secretEnv} is not set: masked values are random per run (consistent within this copy)`,
    );
  }
  return result;
}
