import type { Command } from 'commander';

export type OutputFormat = 'table' | 'json' | 'junit' | 'sarif' | 'markdown' | 'github';

/** Options every command understands, wherever they stand on the command line. */
export interface GlobalOptions {
  config?: string;
  target?: string;
  url?: string;
  repo?: string;
  format: OutputFormat;
  quiet: boolean;
  verbose: boolean;
  color: boolean;
  yes: boolean;
}

export function addGlobalOptions(program: Command): Command {
  return program
    .option('-c, --config <path>', 'config file (default: ./dbops.config.yaml, or $DBOPS_CONFIG)')
    .option('-t, --target <name>', 'target database from the config')
    .option('--url <url>', 'ad-hoc target URL instead of a config target (postgresql://… or mongodb://…)')
    .option('-r, --repo <name>', 'repository from the config (default: defaultRepository, or ./backups)')
    .option(
      '-f, --format <format>',
      'output: table or json (analyze also: junit, sarif, markdown, github)',
      'table',
    )
    .option('-q, --quiet', 'only errors on stderr')
    .option('-v, --verbose', 'debug logging on stderr')
    .option('--no-color', 'no colours (also when NO_COLOR is set or output is not a terminal)')
    .option('-y, --yes', 'do not ask for confirmation of destructive work');
}

/** Commander keeps options per command; merge them with the program's. */
export function globalOptionsOf(command: Command): GlobalOptions {
  const o = command.optsWithGlobals() as Partial<GlobalOptions> & { format?: string };
  return {
    ...(o.config !== undefined ? { config: o.config } : {}),
    ...(o.target !== undefined ? { target: o.target } : {}),
    ...(o.url !== undefined ? { url: o.url } : {}),
    ...(o.repo !== undefined ? { repo: o.repo } : {}),
    format: (o.format ?? 'table') as OutputFormat,
    quiet: Boolean(o.quiet),
    verbose: Boolean(o.verbose),
    color: o.color !== false && !process.env.NO_COLOR,
    yes: Boolean(o.yes),
  };
}
