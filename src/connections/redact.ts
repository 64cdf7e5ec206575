/**
 * Secrets never reach output, logs or errors. Every secret dbops learns (interpolated env values,
 * URL passwords) is registered here, and everything printed goes through redactText().
 */
const secrets = new Set<string>();

export function registerSecret(value: string | undefined): void {
  // Very short values would redact ordinary words; a real secret is never that short.
  if (value && value.length >= 4) secrets.add(value);
}

export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) {
      registerSecret(decodeURIComponent(parsed.password));
      parsed.password = '****';
    }
    for (const key of [...parsed.searchParams.keys()]) {
      if (/pass|secret|token|key/i.test(key)) parsed.searchParams.set(key, '****');
    }
    return parsed.toString();
  } catch {
    // Not a URL we can parse: strip anything that looks like user:password@.
    return url.replace(/\/\/([^:/@]+):([^@]*)@/, '//$1:****@');
  }
}

export function redactText(text: string): string {
  let out = text.replace(/\b(postgres(?:ql)?|mongodb(?:\+srv)?):\/\/[^\s'"]+/g, (m) => redactUrl(m));
  for (const secret of secrets) out = out.split(secret).join('****');
  return out;
}

/** Keys whose values are secrets wherever they appear in config or results. */
export const SECRET_KEY_PATTERN = /password|secret|token|passphrase|privatekey|hmacKey/i;

/** Deep copy of a config-like value with secrets replaced, for `dbops config show`. */
export function redactTree(value: unknown, key = ''): unknown {
  if (typeof value === 'string') {
    if (SECRET_KEY_PATTERN.test(key)) return '****';
    return redactText(value);
  }
  if (Array.isArray(value)) return value.map((v) => redactTree(v, key));
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, redactTree(v, k)]));
  }
  return value;
}
