/**
 * `${VAR}` interpolation over the parsed YAML tree (never over the raw text, so a value can
 * never inject YAML structure). `${VAR:-default}` gives a fallback; `$${` is a literal `${`.
 * A missing variable is an error that names it and where it is used.
 */
export interface InterpolationResult {
  value: unknown;
  /** Values that came from the environment: redacted wherever they would be printed. */
  substituted: string[];
  problems: string[];
}

const pattern = /\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

export function interpolateEnv(tree: unknown, env: NodeJS.ProcessEnv): InterpolationResult {
  const substituted: string[] = [];
  const problems: string[] = [];

  const visit = (node: unknown, path: string): unknown => {
    if (typeof node === 'string') {
      return node.replace(pattern, (match, name: string | undefined, fallback: string | undefined) => {
        if (match === '$${') return '${';
        const found = env[name!];
        if (found !== undefined && found !== '') {
          substituted.push(found);
          return found;
        }
        if (fallback !== undefined) return fallback;
        problems.push(`${path || '(root)'}: environment variable ${name} is not set`);
        return '';
      });
    }
    if (Array.isArray(node)) return node.map((item, i) => visit(item, `${path}[${i}]`));
    if (node !== null && typeof node === 'object') {
      const out: Record<string, unknown> = {};
      for (const [key, value] of Object.entries(node)) out[key] = visit(value, path ? `${path}.${key}` : key);
      return out;
    }
    return node;
  };

  return { value: visit(tree, ''), substituted, problems };
}
