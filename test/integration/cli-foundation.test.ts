import { chmod, mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';

import { DBOPS_BIN, json, runDbops } from '../support/cli.js';
import { freePort } from '../support/ports.js';
import { tempDir } from '../support/temp-dir.js';

let dir: string;
const pgUrl = () => inject('pgUrl');

beforeAll(async () => {
  dir = await tempDir('dbops-cli-');
});

async function writeConfig(name: string, text: string): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, text);
  return path;
}

function withPassword(url: string, password: string): string {
  const u = new URL(url);
  u.password = password;
  return u.toString();
}

describe('program', () => {
  it('prints its version and help', async () => {
    const pkg = JSON.parse(await readFile(new URL('../../package.json', import.meta.url), 'utf8')) as {
      version: string;
    };
    const v = await runDbops(['--version']);
    expect(v.exitCode).toBe(0);
    expect(v.stdout.trim()).toBe(pkg.version);
    const h = await runDbops(['--help']);
    expect(h.exitCode).toBe(0);
    expect(h.stdout).toContain('doctor');
    expect(h.stdout).toContain('sandbox');
    expect(h.stdout).toContain('Exit codes');
  });

  it('output into a pipe whose reader left (`| head`): no stack trace, the exit code of the command', async () => {
    // `true` exits before Node has started, so the first write meets a closed pipe (EPIPE).
    const r = await execa(
      'bash',
      ['-c', `"${process.execPath}" "${DBOPS_BIN}" --help | true; echo "rc=\${PIPESTATUS[0]}"`],
      {
        reject: false,
      },
    );
    expect(r.stdout.trim()).toBe('rc=0');
    expect(r.stderr).toBe('');
  });

  it('keeps a private code cache per command, and none where others could write it', async () => {
    const tmp = await tempDir('dbops-code-cache-');
    const cacheDir = join(tmp, `dbops-${process.getuid?.() ?? 'user'}`);
    const codeFiles = async () => (await readdir(cacheDir)).filter((f) => f.startsWith('code-')).sort();
    const first = await runDbops(['config', 'show', '--help'], { env: { TMPDIR: tmp } });
    expect(first.exitCode).toBe(0);
    const written = await codeFiles();
    expect(written).toEqual([expect.stringMatching(/^code-config-show-v[\d.]+-\d+-\d+\.bin$/)]);
    expect((await stat(join(cacheDir, written[0]!))).mode & 0o777).toBe(0o600);
    // The second run reads it (same output), and writes nothing new.
    const second = await runDbops(['config', 'show', '--help'], { env: { TMPDIR: tmp } });
    expect(second.stdout).toBe(first.stdout);
    expect(await codeFiles()).toEqual(written);
    // A directory others may write into could hold planted code: not used, nothing written.
    await rm(cacheDir, { recursive: true });
    await mkdir(cacheDir, { mode: 0o777 });
    await chmod(cacheDir, 0o777);
    expect((await runDbops(['config', 'show', '--help'], { env: { TMPDIR: tmp } })).exitCode).toBe(0);
    expect(await codeFiles()).toEqual([]);
  });

  it('exits 2 on an unknown option or command', async () => {
    expect((await runDbops(['doctor', '--nope'])).exitCode).toBe(2);
    expect((await runDbops(['frobnicate'])).exitCode).toBe(2);
  });
});

describe('config check / show', () => {
  it('accepts a valid file and shows it with secrets redacted', async () => {
    const path = await writeConfig(
      'ok.yaml',
      'targets:\n  main: { engine: postgres, url: "postgresql://app:${APP_DB_PASSWORD}@db.internal/app" }\nrepositories:\n  offsite: { type: s3, bucket: b, secretAccessKey: "${S3_SECRET}", accessKeyId: AKIAEXAMPLE }\n',
    );
    const env = { APP_DB_PASSWORD: 'pw-never-shown-1', S3_SECRET: 'secret-never-shown-2' };
    const check = await runDbops(['config', 'check', '--config', path], { env });
    expect(check.exitCode).toBe(0);
    const show = await runDbops(['config', 'show', '--config', path, '--format', 'json'], { env });
    expect(show.exitCode).toBe(0);
    expect(show.stdout).not.toContain('pw-never-shown-1');
    expect(show.stdout).not.toContain('secret-never-shown-2');
    expect(json<{ config: { targets: { main: { url: string } } } }>(show).config.targets.main.url).toBe(
      'postgresql://app:****@db.internal/app',
    );
  });

  it('malformed YAML: exit 2 with file and line', async () => {
    const path = await writeConfig(
      'bad.yaml',
      'targets:\n  main: { engine: postgres, url: "x"\nrepositories: [\n',
    );
    const r = await runDbops(['config', 'check', '--config', path]);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(new RegExp(`${path.replaceAll('.', '\\.')}:\\d+:\\d+`));
  });

  it('unknown key: exit 2 naming its path', async () => {
    const path = await writeConfig(
      'unknown.yaml',
      'targets:\n  main: { engine: postgres, url: "postgresql://x/y", passwrd: z }\n',
    );
    const r = await runDbops(['config', 'check', '--config', path]);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain('targets.main.passwrd: unknown key');
  });

  it('missing environment variable: exit 2 naming it', async () => {
    const path = await writeConfig(
      'env.yaml',
      'targets:\n  main: { engine: postgres, url: "${MISSING_DB_URL}" }\n',
    );
    const r = await runDbops(['config', 'check', '--config', path]);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain('MISSING_DB_URL');
    expect(r.stderr).toContain('targets.main.url');
  });

  it('a named config file that does not exist: exit 2', async () => {
    const r = await runDbops(['config', 'check', '--config', join(dir, 'nope.yaml')]);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain('does not exist');
  });
});

describe('doctor', () => {
  let silent: Server;
  let silentPort: number;
  const sockets: Socket[] = [];

  beforeAll(async () => {
    // A server that accepts connections and never answers: the connect timeout must fire.
    silent = createServer((socket) => sockets.push(socket));
    silentPort = await freePort();
    await new Promise<void>((resolve) => silent.listen(silentPort, '127.0.0.1', resolve));
  });
  afterAll(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => silent.close(() => resolve()));
  });

  it('passes on a healthy target and repository', async () => {
    const path = await writeConfig(
      'doctor.yaml',
      `targets:\n  main: { engine: postgres, url: "${pgUrl()}" }\nrepositories:\n  default: { type: local, path: ${join(dir, 'repo')} }\n`,
    );
    const r = await runDbops(['doctor', '--config', path, '--format', 'json']);
    expect(r.exitCode, r.stderr + r.stdout).toBe(0);
    const report = json<{ ok: boolean; targets: { checks: { id: string; status: string }[] }[] }>(r);
    expect(report.ok).toBe(true);
    const ids = report.targets[0]!.checks.map((c) => `${c.id}:${c.status}`);
    expect(ids).toContain('connect.primary:ok');
    expect(ids).toContain('tool.pg_dump:ok');
    expect(r.stdout).not.toContain(new URL(pgUrl()).password);
  });

  it('unreachable host: exit 3 within the connect timeout, host named', async () => {
    const path = await writeConfig(
      'silent.yaml',
      `targets:\n  main: { engine: postgres, url: "postgresql://u:pw-silent-9@127.0.0.1:${silentPort}/db", connectTimeout: 2 }\n`,
    );
    const started = Date.now();
    const r = await runDbops(['doctor', '--config', path], { cwd: dir });
    expect(r.exitCode).toBe(3);
    expect(Date.now() - started).toBeLessThan(15_000);
    expect(r.stdout + r.stderr).toContain(`127.0.0.1:${silentPort}`);
    expect(r.stdout + r.stderr).not.toContain('pw-silent-9');
  });

  it('wrong password: exit 3, the password never printed', async () => {
    const r = await runDbops(['doctor', '--url', withPassword(pgUrl(), 'wrong-pass-7731')], { cwd: dir });
    expect(r.exitCode).toBe(3);
    expect(r.stdout + r.stderr).toMatch(/authentication failed/);
    expect(r.stdout + r.stderr).not.toContain('wrong-pass-7731');
  });

  it('missing pg_dump: exit 4 with an install hint', async () => {
    const empty = await tempDir('dbops-nobin-');
    const r = await runDbops(['doctor', '--url', pgUrl()], { cwd: dir, env: { DBOPS_PG_BINDIR: empty } });
    expect(r.exitCode).toBe(4);
    expect(r.stdout).toMatch(/pg_dump not found/);
    expect(r.stdout).toMatch(/apt-get install postgresql-client/);
  });

  it('pg_dump older than the server: exit 4 naming both versions', async () => {
    const old = await tempDir('dbops-oldbin-');
    for (const tool of ['pg_dump', 'pg_restore', 'psql', 'pg_basebackup']) {
      await writeFile(join(old, tool), `#!/bin/sh\necho "${tool} (PostgreSQL) 12.22"\n`);
      await chmod(join(old, tool), 0o755);
    }
    const r = await runDbops(['doctor', '--url', pgUrl()], { cwd: dir, env: { DBOPS_PG_BINDIR: old } });
    expect(r.exitCode).toBe(4);
    expect(r.stdout).toContain('pg_dump 12.22');
    expect(r.stdout).toContain(`major ${inject('pgMajor')}`);
  });

  it('unwritable local repository: exit 5', async () => {
    const path = await writeConfig(
      'ro.yaml',
      `targets:\n  main: { engine: postgres, url: "${pgUrl()}" }\nrepositories:\n  default: { type: local, path: /dev/null/backups }\n`,
    );
    const r = await runDbops(['doctor', '--config', path]);
    expect(r.exitCode).toBe(5);
    expect(r.stdout).toContain('/dev/null/backups');
  });

  it('S3 endpoint down: exit 5', async () => {
    const closed = await freePort();
    const path = await writeConfig(
      's3down.yaml',
      `targets:\n  main: { engine: postgres, url: "${pgUrl()}" }\nrepositories:\n  offsite: { type: s3, bucket: b, endpoint: "http://127.0.0.1:${closed}", accessKeyId: AKIAEXAMPLE, secretAccessKey: s3-secret-never-shown, maxAttempts: 1 }\n`,
    );
    const r = await runDbops(['doctor', '--config', path]);
    expect(r.exitCode).toBe(5);
    expect(r.stdout + r.stderr).toContain(`127.0.0.1:${closed}`);
    expect(r.stdout + r.stderr).not.toContain('s3-secret-never-shown');
    expect(r.stderr).not.toMatch(/NodeDeprecationWarning|no longer support/i);
  });
});
