import type { AnonymizeConfig } from '../../../config/sections/anonymize.js';
import { withMongo, type ResolvedMongodbTarget } from '../../../connections/index.js';
import type { CheckProblem, CheckResult } from '../check-types.js';
import { checkCollectionFields } from './fields.js';

/** `anonymize check` on MongoDB: classifies every field seen in a sample of each collection. */
export async function checkMongo(
  target: ResolvedMongodbTarget,
  config: AnonymizeConfig,
): Promise<CheckResult> {
  return withMongo(target, async (m) => {
    const db = m.client.db();
    const collections = (await db.listCollections({}, { nameOnly: true }).toArray())
      .map((c) => c.name)
      .filter((n) => !n.startsWith('system.') && n !== config.auditTable && !config.exclude.includes(n))
      .sort();
    const problems: CheckProblem[] = [];
    let columns = 0;
    let classified = 0;
    for (const name of collections) {
      const docs = (await db
        .collection(name)
        .aggregate([{ $sample: { size: config.sampleSize } }])
        .toArray()) as Record<string, unknown>[];
      const r = checkCollectionFields(config, name, docs);
      problems.push(...r.problems);
      columns += r.fields;
      classified += r.classified;
    }
    for (const name of Object.keys(config.tables)) {
      if (!collections.includes(name))
        problems.push({
          kind: 'missing-table',
          table: name,
          message: `rules for collection "${name}", which does not exist`,
        });
    }
    return {
      engine: 'mongodb',
      target: m.where,
      ok: problems.length === 0,
      tables: collections.length,
      columns,
      classified,
      problems,
      notes: [],
    };
  });
}
