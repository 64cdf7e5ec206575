import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

let cached: string | undefined;

/** dbops's own version, from the package.json above this file (works from src/ and dist/). */
export function dbopsVersion(): string {
  if (cached) return cached;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as {
        name?: string;
        version?: string;
      };
      if (pkg.name === 'dbops' && pkg.version) return (cached = pkg.version);
    } catch {
      // not here; look one level up
    }
    dir = dirname(dir);
  }
  return (cached = '0.0.0');
}
