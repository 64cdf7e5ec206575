import { InvalidArgumentError } from 'commander';

/** Commander argument parsers shared by every command (bad values exit 2 with the option named). */
export function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('must be a positive integer');
  return n;
}

export function nonNegativeInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('must be a non-negative integer');
  return n;
}

/** For repeatable options: `--label a=1 --label b=2` → ['a=1', 'b=2']. */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}
