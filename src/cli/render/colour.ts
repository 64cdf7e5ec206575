import { createRequire } from 'node:module';
import type { ChalkInstance } from 'chalk';

// chalk is loaded on first use, not at start-up (`--help` and `wal push` never need it).
// Node ≥ 20.19 can require() an ES module, which keeps colours() synchronous for renderers.
const require = createRequire(import.meta.url);

/** Colour only for a terminal, and never when NO_COLOR is set or --no-color is given. */
export function colours(enabled: boolean, stream: NodeJS.WriteStream = process.stdout): ChalkInstance {
  const on = enabled && !process.env.NO_COLOR && Boolean(stream.isTTY);
  const { Chalk } = require('chalk') as typeof import('chalk');
  return new Chalk({ level: on ? 1 : 0 });
}
