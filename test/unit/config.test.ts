import { describe, expect, it } from 'vitest';

import { parseConfigText } from '../../src/config/load.js';
import { ConfigError } from '../../src/errors.js';
import { redactText } from '../../src/connections/redact.js';

function problemsOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return [(err as ConfigError).message, ...(err as ConfigError).problems];
  }
  throw new Error('expected a ConfigError');
}

describe('config', () => {
  it('parses targets and repositories with defaults', () => {
    const config = parseConfigText(
      `
targets:
  main: { engine: postgres, url: "postgresql://app@db:5432/app", replicas: ["postgresql://app@replica/app"] }
  chat: { engine: mongodb, url: "mongodb://localhost/chat" }
repositories:
  default: { type: local, path: ./backups }
  offsite: { type: s3, bucket: acme, prefix: prod/, endpoint: "http://127.0.0.1:9000" }
`,
      'dbops.config.yaml',
      {},
    );
    expect(config.targets.main).toMatchObject({ engine: 'postgres', connectTimeout: 10, production: false });
    expect(config.repositories.offsite).toMatchObject({
      type: 's3',
      region: 'us-east-1',
      checksums: 'when-required',
    });
  });

  it('takes the engine from the URL scheme when it is left out', () => {
    const config = parseConfigText(
      `
targets:
  pg: { url: "postgresql://app@db/app" }
  mongo: { url: "mongodb+srv://cluster.example/chat" }
`,
      'dbops.config.yaml',
      {},
    );
    expect(config.targets.pg?.engine).toBe('postgres');
    expect(config.targets.mongo?.engine).toBe('mongodb');
    let problems: string[] = [];
    try {
      parseConfigText(`targets:\n  x: { url: "mysql://db/app" }\n`, 'dbops.config.yaml', {});
    } catch (err) {
      problems = (err as { problems: string[] }).problems;
    }
    expect(problems).toEqual([
      expect.stringMatching(/^targets\.x\.engine: engine must be postgres or mongodb/),
    ]);
  });

  it('interpolates ${VAR} and ${VAR:-default}, and registers values as secrets', () => {
    const config = parseConfigText(
      'targets:\n  main: { engine: postgres, url: "postgresql://app:${DB_PASS}@${DB_HOST:-localhost}/app" }\n',
      'f.yaml',
      { DB_PASS: 's3cr3t-pass' },
    );
    expect(config.targets.main!.url).toBe('postgresql://app:s3cr3t-pass@localhost/app');
    expect(redactText('failed with s3cr3t-pass inside')).toBe('failed with **** inside');
  });

  it('names a missing environment variable and where it is used', () => {
    const problems = problemsOf(() =>
      parseConfigText('targets:\n  main: { engine: postgres, url: "${NOPE_URL}" }\n', 'f.yaml', {}),
    );
    expect(problems.join('\n')).toContain('targets.main.url: environment variable NOPE_URL is not set');
  });

  it('rejects unknown keys with their path', () => {
    const problems = problemsOf(() =>
      parseConfigText(
        'targets:\n  main: { engine: postgres, url: "postgresql://x/y", replica: [] }\nrepositorys: {}\n',
        'f.yaml',
        {},
      ),
    );
    expect(problems).toContain('targets.main.replica: unknown key');
    expect(problems).toContain('repositorys: unknown key');
  });

  it('reports malformed YAML with file and line', () => {
    const problems = problemsOf(() =>
      parseConfigText('targets:\n  main: { engine: postgres\n  url: [\n', 'bad.yaml', {}),
    );
    expect(problems[0]).toBe('bad.yaml is not valid YAML');
    expect(problems[1]).toMatch(/^bad\.yaml:\d+:\d+: /);
  });

  it('reports every problem at once', () => {
    const problems = problemsOf(() =>
      parseConfigText(
        'targets:\n  a: { engine: oracle, url: x }\nrepositories:\n  r: { type: local }\ndefaultTarget: zzz\n',
        'f.yaml',
        {},
      ),
    );
    expect(problems.length).toBeGreaterThanOrEqual(3);
    expect(problems.some((p) => p.startsWith('targets.a.engine'))).toBe(true);
    expect(problems.some((p) => p.startsWith('repositories.r.path'))).toBe(true);
  });
});
