import type { Command } from 'commander';

import type { LoadedConfig } from '../config/load.js';
import type { RepositoryConfig } from '../config/schema.js';
import type { ResolvedTarget } from '../connections/target.js';
import { ConfigError } from '../errors.js';
import type { Logger, Progress } from '../logger.js';
import { colours } from './render/colour.js';
import { globalOptionsOf, type GlobalOptions, type OutputFormat } from './global-options.js';
import { stderrLogger } from './render/logger.js';
import { stderrProgress } from './render/progress.js';
import { processSignal } from './signals.js';

export const DEFAULT_REPOSITORY_PATH = './backups';

/**
 * What a command handler needs from the command line: the global options, the loaded config,
 * the selected target and repository, a logger, progress, the abort signal. Config is loaded
 * lazily (and its heavy modules with it) so `--help` and `--version` stay fast.
 */
export class CliContext {
  readonly options: GlobalOptions;
  readonly logger: Logger;
  readonly signal: AbortSignal;
  private loaded: Promise<LoadedConfig> | undefined;

  constructor(command: Command) {
    this.options = globalOptionsOf(command);
    this.logger = stderrLogger(this.options);
    this.signal = processSignal();
  }

  /** The output format, checked against what this command can render. */
  format(allowed: OutputFormat[] = ['table', 'json']): OutputFormat {
    const f = this.options.format;
    if (!allowed.includes(f)) {
      throw new ConfigError(`--format ${f} is not available here`, {
        hint: `use one of: ${allowed.join(', ')}`,
      });
    }
    return f;
  }

  loadConfig(): Promise<LoadedConfig> {
    return (this.loaded ??= import('../config/load.js').then((m) =>
      m.loadConfig(this.options.config !== undefined ? { path: this.options.config } : {}),
    ));
  }

  async target(name?: string): Promise<ResolvedTarget> {
    const { config } = await this.loadConfig();
    const { resolveTarget } = await import('../connections/target.js');
    const selection = name !== undefined ? { target: name } : this.options;
    return resolveTarget(config, {
      ...(selection.target !== undefined ? { target: selection.target } : {}),
      ...(name === undefined && this.options.url !== undefined ? { url: this.options.url } : {}),
    });
  }

  /**
   * The repository to use: `--repo`, else `defaultRepository`, else the only one configured,
   * else a local directory ./backups (the embedded default).
   */
  async repository(name = this.options.repo): Promise<{ name: string; config: RepositoryConfig }> {
    const { config } = await this.loadConfig();
    const names = Object.keys(config.repositories);
    const wanted = name ?? config.defaultRepository ?? (names.length === 1 ? names[0] : undefined);
    if (wanted) {
      const repo = config.repositories[wanted];
      if (!repo) {
        throw new ConfigError(`no repository named "${wanted}"`, {
          hint: names.length
            ? `configured repositories: ${names.join(', ')}`
            : 'no repositories are configured',
        });
      }
      return { name: wanted, config: repo };
    }
    if (names.length > 1) {
      throw new ConfigError('several repositories are configured; choose one with --repo', {
        hint: `configured repositories: ${names.join(', ')}`,
      });
    }
    return { name: 'default', config: { type: 'local', path: DEFAULT_REPOSITORY_PATH } };
  }

  /** Chalk for stdout (or another stream), honouring --no-color, NO_COLOR and TTY. */
  colours(stream: NodeJS.WriteStream = process.stdout) {
    return colours(this.options.color, stream);
  }

  progress(unit: 'bytes' | 'rows' = 'bytes'): Progress {
    return stderrProgress(!this.options.quiet, unit);
  }

  /**
   * Asks before destructive work. `--yes` answers for scripts; without a terminal and without
   * `--yes` the answer is no, so cron never hangs on a prompt.
   */
  async confirm(question: string): Promise<void> {
    if (this.options.yes) return;
    if (!process.stdin.isTTY || !process.stderr.isTTY) {
      throw new ConfigError(`${question} — refusing without confirmation`, {
        hint: 'pass --yes to confirm in scripts, or use --dry-run to see the plan',
      });
    }
    const { createInterface } = await import('node:readline/promises');
    const rl = createInterface({ input: process.stdin, output: process.stderr });
    try {
      const answer = await rl.question(`${question} [y/N] `);
      if (!/^y(es)?$/i.test(answer.trim())) throw new ConfigError('cancelled');
    } finally {
      rl.close();
    }
  }
}
