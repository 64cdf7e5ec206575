import type { AnonymizeConfig } from '../../../config/sections/anonymize.js';
import type { CheckProblem } from '../check-types.js';
import { ruleProblem } from '../mask.js';
import { guessPii } from '../pii.js';
import { normalizeRule } from '../rules.js';
import type { TypeFamily } from '../types.js';
import { familyOfValue, isObjectId } from './documents.js';

/**
 * Field paths seen in sampled documents, with the value types found at each. Sub-documents are
 * walked (`address.city`); arrays are transparent (`attachments.url` for an array of objects).
 */
export function collectFields(docs: Record<string, unknown>[]): Map<string, Set<TypeFamily>> {
  const out = new Map<string, Set<TypeFamily>>();
  const add = (path: string, family: TypeFamily) => {
    let s = out.get(path);
    if (!s) out.set(path, (s = new Set()));
    s.add(family);
  };
  const walk = (value: unknown, path: string) => {
    if (Array.isArray(value)) {
      for (const v of value) walk(v, path);
      return;
    }
    const family = familyOfValue(value);
    if (family === 'json' && !(value instanceof Date) && !isObjectId(value)) {
      const entries = Object.entries(value as Record<string, unknown>);
      if (entries.length === 0 && path) add(path, 'json');
      for (const [k, v] of entries) walk(v, path ? `${path}.${k}` : k);
      return;
    }
    if (path && value !== null && value !== undefined) add(path, family);
  };
  for (const d of docs) walk(d, '');
  return out;
}

/** The configured rule covering a field: its own, or an ancestor's (a json/null rule covers children). */
export function coveringPath(columns: Record<string, unknown>, path: string): string | undefined {
  const parts = path.split('.');
  for (let i = parts.length; i > 0; i--) {
    const candidate = parts.slice(0, i).join('.');
    if (candidate in columns) return candidate;
  }
  return undefined;
}

/** Check problems of one collection, from its sampled documents. */
export function checkCollectionFields(
  config: AnonymizeConfig,
  collection: string,
  docs: Record<string, unknown>[],
): { problems: CheckProblem[]; fields: number; classified: number } {
  const fields = collectFields(docs);
  const columns = config.tables[collection]?.columns ?? {};
  const problems: CheckProblem[] = [];
  let classified = 0;
  for (const [path, families] of fields) {
    const family = [...families].find((f) => f !== 'other') ?? 'other';
    // The ObjectId primary key is an opaque generated key, never personal data.
    if (path === '_id' && families.size === 1 && families.has('uuid')) {
      classified++;
      continue;
    }
    const covering = coveringPath(columns, path);
    if (covering === undefined) {
      const guess = guessPii(path.split('.').at(-1)!, family === 'uuid' ? 'text' : family);
      problems.push({
        kind: 'unclassified',
        table: collection,
        column: path,
        type: [...families].join('|'),
        message: 'field is not classified',
        suggestion: guess.suggestion,
        ...(guess.category ? { pii: guess.category } : {}),
      });
      continue;
    }
    classified++;
    if (covering === path) {
      try {
        const rule = normalizeRule(config.tables[collection]!.columns[path]!);
        const why = ruleProblem(
          rule,
          { sql: family, family: family === 'uuid' ? 'text' : family },
          { nullable: true, unique: path === '_id' },
        );
        if (why && family !== 'other')
          problems.push({ kind: 'bad-rule', table: collection, column: path, type: family, message: why });
      } catch (err) {
        problems.push({ kind: 'bad-rule', table: collection, column: path, message: (err as Error).message });
      }
    }
  }
  return { problems, fields: fields.size, classified };
}
