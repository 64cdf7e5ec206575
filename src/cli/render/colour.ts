import { Chalk, type ChalkInstance } from 'chalk';

/** Colour only for a terminal, and never when NO_COLOR is set or --no-color is given. */
export function colours(enabled: boolean, stream: NodeJS.WriteStream = process.stdout): ChalkInstance {
  const on = enabled && !process.env.NO_COLOR && Boolean(stream.isTTY);
  return new Chalk({ level: on ? 1 : 0 });
}
