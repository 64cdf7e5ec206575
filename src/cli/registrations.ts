import type { Command } from 'commander';

import { register as registerAnalyze } from '../commands/analyze/command.js';
import { register as registerConfig } from '../commands/config/command.js';
import { register as registerDoctor } from '../commands/doctor/command.js';
import { register as registerSandbox } from '../commands/sandbox/command.js';
import { register as registerBackup } from '../commands/backup/command.js';
import { register as registerRestore } from '../commands/restore/command.js';
import { register as registerRetention } from '../commands/retention/command.js';
import { register as registerSchedule } from '../commands/schedule/command.js';
import { register as registerAnonymize } from '../commands/anonymize/command.js';
import { register as registerWal } from '../commands/wal/command.js';

/**
 * Every command, in help order. A command.ts imports only commander and src/cli: its core is
 * loaded with import() when it runs, so start-up (one `wal push` per WAL segment) stays fast.
 */
export const commandRegistrations: ((program: Command) => void)[] = [
  registerSandbox,
  registerBackup,
  registerRestore,
  registerWal,
  registerDoctor,
  registerConfig,
  registerAnalyze,
  registerRetention,
  registerSchedule,
  registerAnonymize,
];
