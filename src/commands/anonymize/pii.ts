import type { TypeFamily } from './types.js';

/** A likely-PII category guessed from a column's name and type, with the rule to suggest. */
export interface PiiGuess {
  category: string | undefined;
  /** A YAML-ready rule (`fake.email`, `{ rule: partial, keep: 4 }`, `keep`). */
  suggestion: string;
}

const PATTERNS: { category: string; test: RegExp; rule: (family: TypeFamily) => string }[] = [
  { category: 'password', test: /pass(word|wd|phrase)?($|_)|pwd|passwd/, rule: () => 'hash' },
  { category: 'token', test: /token|secret|api_?key|access_?key|otp|nonce|salt|refresh/, rule: () => 'hash' },
  { category: 'email', test: /e_?mail/, rule: () => 'fake.email' },
  { category: 'phone', test: /phone|mobile|msisdn|(^|_)tel($|_|ephone)|fax|cell/, rule: () => 'fake.phone' },
  {
    category: 'ip',
    test: /(^|_)ip($|_|v4|v6|addr)|ip_?address|remote_?addr|client_?ip/,
    rule: () => 'fake.ip',
  },
  {
    category: 'ssn',
    test: /ssn|social_?security|national_?id|tax_?(id|number)|passport|nin($|_)/,
    rule: () => 'hash',
  },
  {
    category: 'birth',
    test: /birth|(^|_)dob($|_)|birthday/,
    rule: (f) => (f === 'text' ? 'fake.date-of-birth' : '{ rule: generalize, to: year }'),
  },
  {
    category: 'iban',
    test: /iban|bank_?account|account_?(no|number)|(^|_)bic($|_)|swift|routing/,
    rule: () => '{ rule: partial, keep: 4 }',
  },
  {
    category: 'card',
    test: /card|(^|_)pan($|_)|cc_?(num|number)|credit|cvv|cvc/,
    rule: () => '{ rule: partial, keep: 4 }',
  },
  {
    category: 'address',
    test: /address|street|addr($|_)|(^|_)zip|postal|postcode|house_?(no|number)/,
    rule: () => 'fake.address',
  },
  { category: 'address', test: /(^|_)city($|_)|town/, rule: () => 'fake.city' },
  { category: 'name', test: /user_?name|login|handle|nick/, rule: () => 'fake.username' },
  { category: 'name', test: /first_?name|given_?name|forename/, rule: () => 'fake.first-name' },
  { category: 'name', test: /last_?name|family_?name|surname/, rule: () => 'fake.last-name' },
  {
    category: 'name',
    test: /full_?name|display_?name|(^|_)name$|contact_?name|maiden/,
    rule: () => 'fake.name',
  },
];

/** Splits camelCase so `phoneNumber` reads like `phone_number`. */
function normalize(name: string): string {
  return name
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .replace(/[\s.-]+/g, '_')
    .toLowerCase();
}

/** Suggests a rule for an unclassified column; `category` set means "looks like personal data". */
export function guessPii(columnName: string, family: TypeFamily): PiiGuess {
  const n = normalize(columnName);
  if (family === 'inet') return { category: 'ip', suggestion: 'fake.ip' };
  for (const p of PATTERNS) {
    if (p.test.test(n)) {
      // A "name" that is not text (e.g. a number) is not a person's name.
      if (family !== 'text' && !['birth', 'ip'].includes(p.category) && family !== 'json') continue;
      return { category: p.category, suggestion: p.rule(family) };
    }
  }
  if (family === 'json') return { category: undefined, suggestion: '{ rule: json, keys: { … } }' };
  return { category: undefined, suggestion: 'keep' };
}
