import type { ColumnRuleInput, FakeKind } from '../../config/sections/anonymize.js';
import { normalizeFakeKind } from '../../config/sections/anonymize.js';
import { ConfigError } from '../../errors.js';

/** A column rule after normalisation: shorthands expanded, defaults filled. */
export type Rule =
  | { kind: 'keep' }
  | { kind: 'null' }
  | { kind: 'redact'; text: string }
  | { kind: 'hash'; length: number }
  | { kind: 'permute' }
  | { kind: 'fake'; fake: FakeKind }
  | { kind: 'partial'; keep: number; keepStart: number; mask: string }
  | { kind: 'noise'; range: number; unit: 'number' | 'ms' }
  | { kind: 'generalize'; to: 'day' | 'month' | 'year' | 'decade' | number }
  | { kind: 'json'; keys: Map<string, Rule>; default: 'keep' | 'null' | 'drop' };

export type RuleKind = Rule['kind'];

const UNIT_MS: Record<string, number> = {
  second: 1000,
  minute: 60_000,
  hour: 3_600_000,
  day: 86_400_000,
  week: 7 * 86_400_000,
};

export function intervalMs(text: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(second|minute|hour|day|week)s?$/.exec(text.trim());
  if (!m)
    throw new ConfigError(`cannot read the interval "${text}"`, { hint: 'write e.g. 30 days or 12 hours' });
  return Number(m[1]) * UNIT_MS[m[2]!]!;
}

export function normalizeRule(input: ColumnRuleInput): Rule {
  const name = typeof input === 'string' ? input : input.rule;
  if (name.startsWith('fake.')) {
    const fake = normalizeFakeKind(name.slice(5));
    if (!fake) throw new ConfigError(`unknown fake kind in ${name}`);
    return { kind: 'fake', fake };
  }
  const o = (typeof input === 'string' ? {} : input) as Record<string, unknown>;
  switch (name) {
    case 'keep':
    case 'null':
    case 'permute':
      return { kind: name };
    case 'redact':
      return { kind: 'redact', text: (o.text as string | undefined) ?? '[redacted]' };
    case 'hash':
      return { kind: 'hash', length: (o.length as number | undefined) ?? 64 };
    case 'partial':
      return {
        kind: 'partial',
        keep: (o.keep as number | undefined) ?? 4,
        keepStart: (o.keepStart as number | undefined) ?? 0,
        mask: (o.mask as string | undefined) ?? '*',
      };
    case 'noise': {
      const range = o.range as number | string | undefined;
      if (range === undefined)
        throw new ConfigError('noise needs a range (e.g. range: 10 or range: 30 days)');
      return typeof range === 'number'
        ? { kind: 'noise', range, unit: 'number' }
        : { kind: 'noise', range: intervalMs(range), unit: 'ms' };
    }
    case 'generalize': {
      const to = o.to as 'day' | 'month' | 'year' | 'decade' | number | undefined;
      if (to === undefined)
        throw new ConfigError('generalize needs `to` (month, year, decade or a bucket width)');
      return { kind: 'generalize', to };
    }
    case 'json': {
      const keys = new Map<string, Rule>();
      for (const [k, v] of Object.entries((o.keys as Record<string, ColumnRuleInput>) ?? {}))
        keys.set(k, normalizeRule(v));
      return { kind: 'json', keys, default: (o.default as 'keep' | 'null' | 'drop' | undefined) ?? 'keep' };
    }
    default:
      throw new ConfigError(`unknown anonymize rule "${name}"`, {
        hint: 'use keep, null, redact, hash, permute, fake.<kind>, partial, noise, generalize or json',
      });
  }
}

/** Printable rule (receipts, check output). */
export function describeRule(rule: Rule): string {
  switch (rule.kind) {
    case 'fake':
      return `fake.${rule.fake}`;
    case 'redact':
      return `redact(${JSON.stringify(rule.text)})`;
    case 'partial':
      return `partial(keep ${rule.keepStart ? `${rule.keepStart}+` : ''}${rule.keep})`;
    case 'noise':
      return `noise(±${rule.unit === 'ms' ? `${rule.range / 1000}s` : rule.range})`;
    case 'generalize':
      return `generalize(${rule.to})`;
    case 'json':
      return `json(${[...rule.keys].map(([k, r]) => `${k}: ${describeRule(r)}`).join(', ')})`;
    case 'hash':
      return rule.length === 64 ? 'hash' : `hash(${rule.length})`;
    default:
      return rule.kind;
  }
}

/** Stable JSON of a rule, for hashing the rules that an operation applied. */
export function ruleForHash(rule: Rule): unknown {
  if (rule.kind === 'json') {
    return {
      kind: 'json',
      default: rule.default,
      keys: [...rule.keys].sort(([a], [b]) => a.localeCompare(b)).map(([k, r]) => [k, ruleForHash(r)]),
    };
  }
  return rule;
}
