import type { AnonymizeConfig, SubjectConfig } from '../../config/sections/anonymize.js';
import { ConfigError } from '../../errors.js';
import { configTableKey } from './names.js';

/** One table (collection) of a subject, with every column (field) that can hold the subject key. */
export interface SubjectTable {
  /** Canonical key (`public.messages`) for PostgreSQL; the collection name for MongoDB. */
  key: string;
  /** As written in the config. */
  name: string;
  keys: string[];
  root: boolean;
}

export function subjectConfig(
  config: AnonymizeConfig,
  kind: string | undefined,
): { kind: string; subject: SubjectConfig } {
  const names = Object.keys(config.subjects);
  const wanted = kind ?? config.defaultSubject ?? (names.length === 1 ? names[0] : undefined);
  if (!wanted) {
    throw new ConfigError(
      names.length
        ? 'several subjects are configured; choose one with --subject'
        : 'no anonymize subjects are configured',
      {
        hint: names.length
          ? `configured subjects: ${names.join(', ')}`
          : 'add anonymize.subjects to the config (see docs/anonymize.md)',
      },
    );
  }
  const subject = config.subjects[wanted];
  if (!subject) {
    throw new ConfigError(`no anonymize subject named "${wanted}"`, {
      hint: names.length
        ? `configured subjects: ${names.join(', ')}`
        : 'add anonymize.subjects to the config',
    });
  }
  return { kind: wanted, subject };
}

/**
 * The tables of one subject in the order they are processed: related tables first (in config
 * order, so children can be deleted before the parents they reference), the root last. A table
 * named twice is processed once, with all its key columns.
 */
export function subjectTables(subject: SubjectConfig, engine: 'postgres' | 'mongodb'): SubjectTable[] {
  const keyOf = (name: string) => (engine === 'postgres' ? configTableKey(name) : name);
  const out: SubjectTable[] = [];
  const add = (name: string, key: string | string[], root: boolean) => {
    const k = keyOf(name);
    const keys = Array.isArray(key) ? key : [key];
    const existing = out.find((t) => t.key === k);
    if (existing) {
      for (const c of keys) if (!existing.keys.includes(c)) existing.keys.push(c);
      existing.root ||= root;
      return;
    }
    out.push({ key: k, name, keys: [...keys], root });
  };
  for (const r of subject.related) add(r.table, r.key, false);
  add(subject.root.table, subject.root.key, true);
  const rootIndex = out.findIndex((t) => t.root);
  const [root] = out.splice(rootIndex, 1);
  out.push(root!);
  return out;
}
