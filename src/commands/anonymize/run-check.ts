import type { AnonymizeConfig } from '../../config/sections/anonymize.js';
import { withPostgres, type ResolvedTarget } from '../../connections/index.js';
import { silentLogger, type Logger } from '../../logger.js';
import type { CheckResult } from './check-types.js';
import { checkMongo } from './mongodb/check.js';
import { checkPostgres } from './postgres/check.js';

export interface AnonymizeCheckOptions {
  target: ResolvedTarget;
  config: AnonymizeConfig | undefined;
}

/**
 * `dbops anonymize check`: the CI gate. Every column (field) must be classified, `keep`
 * included; a new column without a rule fails with a suggested rule, so it cannot ship into a
 * staging copy unnoticed. An absent anonymize section counts as "nothing classified".
 */
export async function anonymizeCheck(
  options: AnonymizeCheckOptions,
  deps: { logger?: Logger } = {},
): Promise<CheckResult> {
  const config: AnonymizeConfig = options.config ?? {
    secretEnv: 'DBOPS_ANONYMIZE_SECRET',
    auditTable: 'dbops_anonymize_audit',
    subjects: {},
    tables: {},
    exclude: [],
    ledger: { enabled: true },
    sampleSize: 200,
  };
  if (options.target.engine === 'mongodb') return checkMongo(options.target, config);
  return withPostgres(options.target, (pg) => checkPostgres(pg, config), {
    logger: deps.logger ?? silentLogger,
  });
}
