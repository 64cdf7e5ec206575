import type { AnalyzeCheckId } from '../../../../config/sections/analyze.js';
import type { PgCheck } from '../context.js';
import { idleInTransactionCheck, blockedCheck, connectionsCheck, longRunningCheck } from './activity.js';
import { indexBloatCheck, tableBloatCheck } from './bloat.js';
import { fkMissingIndexCheck } from './fk-missing-index.js';
import { invalidIndexCheck } from './invalid-index.js';
import { noPrimaryKeyCheck } from './no-primary-key.js';
import { notValidConstraintCheck } from './not-valid-constraint.js';
import { redundantIndexCheck } from './redundant-index.js';
import { inactiveSlotCheck, replicaUnreachableCheck, replicationLagCheck } from './replication.js';
import { riskySettingsCheck } from './risky-settings.js';
import { sequenceOverflowCheck } from './sequence-overflow.js';
import { slowQueriesCheck } from './slow-queries.js';
import { cacheHitCheck, deadTuplesCheck, seqScanCheck, staleStatsCheck } from './table-stats.js';
import { unusedIndexCheck } from './unused-index.js';
import { wraparoundCheck } from './wraparound.js';

export const postgresChecks: Partial<Record<AnalyzeCheckId, PgCheck>> = Object.fromEntries(
  [
    invalidIndexCheck,
    redundantIndexCheck,
    unusedIndexCheck,
    indexBloatCheck,
    fkMissingIndexCheck,
    noPrimaryKeyCheck,
    seqScanCheck,
    deadTuplesCheck,
    staleStatsCheck,
    tableBloatCheck,
    cacheHitCheck,
    notValidConstraintCheck,
    sequenceOverflowCheck,
    wraparoundCheck,
    slowQueriesCheck,
    longRunningCheck,
    idleInTransactionCheck,
    blockedCheck,
    connectionsCheck,
    replicationLagCheck,
    inactiveSlotCheck,
    replicaUnreachableCheck,
    riskySettingsCheck,
  ].map((c) => [c.id, c]),
);
