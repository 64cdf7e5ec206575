import type { RetentionPolicy } from '../policy.js';

/**
 * MongoDB batch commands, built as plain objects so they are unit-tested without a server.
 * Batches walk (ageField, _id) through an index on the age field: each batch seeks past the last
 * (age, _id) seen, never re-reading the deleted range from the start, and deletes by `_id $in`.
 */

export type Filter = Record<string, unknown>;

/** Documents past the policy: age < cutoff, and the policy's extra filter. */
export function eligibilityFilter(policy: RetentionPolicy, cutoff: Date | undefined): Filter {
  const parts: Filter[] = [];
  if (policy.ageColumn && cutoff) parts.push({ [policy.ageColumn]: { $lt: cutoff } });
  if (policy.filter) parts.push(policy.filter);
  if (parts.length === 0) throw new Error(`retention policy ${policy.name}: no condition`);
  return parts.length === 1 ? parts[0]! : { $and: parts };
}

export interface WalkPosition {
  age?: unknown;
  id: unknown;
}

/** Seeks strictly after the last position of the walk order. */
export function afterFilter(policy: RetentionPolicy, last: WalkPosition | undefined): Filter | undefined {
  if (!last) return undefined;
  if (!policy.ageColumn) return { _id: { $gt: last.id } };
  const age = policy.ageColumn;
  return { $or: [{ [age]: { $gt: last.age } }, { [age]: last.age, _id: { $gt: last.id } }] };
}

export interface FindCommand {
  filter: Filter;
  sort: Record<string, 1>;
  limit: number;
  projection?: Record<string, 1>;
  hint?: Record<string, 1>;
}

export function batchFind(
  policy: RetentionPolicy,
  cutoff: Date | undefined,
  last: WalkPosition | undefined,
  limit: number,
  options: { fullDocuments: boolean; ageIndexed: boolean },
): FindCommand {
  const elig = eligibilityFilter(policy, cutoff);
  const after = afterFilter(policy, last);
  const filter = after ? { $and: [elig, after] } : elig;
  const sort: Record<string, 1> = policy.ageColumn ? { [policy.ageColumn]: 1, _id: 1 } : { _id: 1 };
  return {
    filter,
    sort,
    limit,
    ...(options.fullDocuments
      ? {}
      : { projection: policy.ageColumn ? { _id: 1, [policy.ageColumn]: 1 } : { _id: 1 } }),
    ...(policy.ageColumn && options.ageIndexed ? { hint: { [policy.ageColumn]: 1 } } : {}),
  };
}

/**
 * Deletes exactly the batch, and only documents still eligible (one updated meanwhile to be kept
 * survives). `w: majority` waits for a majority of the replica set: a natural replica-lag throttle.
 */
export function batchDelete(
  policy: RetentionPolicy,
  cutoff: Date | undefined,
  ids: unknown[],
): { filter: Filter; options: { writeConcern: { w: 'majority' } } } {
  return {
    filter: { $and: [{ _id: { $in: ids } }, eligibilityFilter(policy, cutoff)] },
    options: { writeConcern: { w: 'majority' } },
  };
}

/** The lock document that keeps two runs of a policy apart (MongoDB has no advisory locks). */
export function lockClaim(
  policy: string,
  holder: string,
  now: Date,
  ttlMs: number,
): { filter: Filter; update: Filter; options: { upsert: true } } {
  return {
    filter: { _id: `retention:${policy}`, $or: [{ expiresAt: { $lt: now } }, { holder }] },
    update: { $set: { holder, expiresAt: new Date(now.getTime() + ttlMs), since: now } },
    options: { upsert: true },
  };
}
