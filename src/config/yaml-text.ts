import { parse, stringify } from 'yaml';

/*
 * yaml for code that loads it lazily. `await import('yaml')` with destructuring breaks once the
 * program is bundled (scripts/bundle.mjs): a bundled CommonJS package imported dynamically offers
 * only a default export. Importing this module instead keeps named exports in every build.
 */
export function parseYaml(text: string): unknown {
  return parse(text) as unknown;
}

export function stringifyYaml(value: unknown): string {
  return stringify(value);
}
