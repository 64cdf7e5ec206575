import { describe, expect, it } from 'vitest';

import { commandKey } from '../../src/cli/code-cache.js';

describe('the code cache key', () => {
  it('is the command words, whatever options come around them', () => {
    expect(commandKey(['node', 'dbops', 'backup', 'run', '--target', 'tiny'])).toBe('backup-run');
    expect(
      commandKey(['node', 'dbops', '-c', 'dbops.config.yaml', 'restore', 'run', '20240502T031500Z-7f3a9c']),
    ).toBe('restore-run');
    expect(commandKey(['node', 'dbops', '--format', 'json', 'doctor'])).toBe('json-doctor');
    expect(commandKey(['node', 'dbops', '--help'])).toBe('none');
  });
});
