import { Command, CommanderError } from 'commander';

import { dbopsVersion } from '../version.js';
import { addGlobalOptions } from './global-options.js';
import { commandRegistrations } from './registrations.js';

export function buildProgram(): Command {
  const program = new Command('dbops')
    .description(
      'Backups, WAL archiving and point-in-time recovery, checks, GDPR anonymization and retention for PostgreSQL and MongoDB.',
    )
    .version(dbopsVersion(), '-V, --version', 'print the dbops version')
    .showHelpAfterError('(run with --help for usage)')
    .configureHelp({ showGlobalOptions: true, sortSubcommands: false })
    .addHelpText(
      'after',
      `
Exit codes: 0 ok · 1 checks failed · 2 usage/config error · 3 cannot connect · 4 external tool
failed or missing · 5 storage error · 130 interrupted.

Config: ./dbops.config.yaml (or --config, or $DBOPS_CONFIG). Without one, the target comes from
--url, DATABASE_URL or PG* variables, and backups go to ./backups.

Quick start:  dbops sandbox up --seed demo --write-config && dbops doctor`,
    );
  addGlobalOptions(program);
  program.exitOverride();
  for (const register of commandRegistrations) register(program);
  // Subcommands inherit exitOverride so usage errors come back here as exit code 2.
  for (const sub of program.commands) applyExitOverride(sub);
  return program;
}

function applyExitOverride(cmd: Command): void {
  cmd.exitOverride();
  for (const sub of cmd.commands) applyExitOverride(sub);
}

export async function main(argv: string[]): Promise<void> {
  const program = buildProgram();
  let active: Command = program;
  program.hook('preAction', (_program, actionCommand) => {
    active = actionCommand;
  });
  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      // Help and version "errors" are successes; commander has already printed the message.
      process.exitCode = err.exitCode === 0 ? 0 : 2;
      return;
    }
    // The error printer (and chalk with it) is loaded only when there is an error to print.
    const { reportError } = await import('./exit.js');
    const merged = active.optsWithGlobals<{ format?: string; color?: boolean; verbose?: boolean }>();
    reportError(err, {
      color: merged.color !== false && !process.env.NO_COLOR,
      json: merged.format === 'json',
      verbose: Boolean(merged.verbose),
    });
  }
}
