import { createCipheriv, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';

import { Aes128 } from '../../../src/commands/anonymize/aes.js';

/**
 * The Feistel round function runs a JavaScript AES-128 for speed; it must be bit-for-bit Node's
 * aes-128-ecb, or masked values would silently change between versions. (No server needed; kept
 * next to the copy tests it protects.)
 */
describe('JavaScript AES-128', () => {
  it('matches aes-128-ecb on random keys and blocks', () => {
    for (let k = 0; k < 20; k++) {
      const key = randomBytes(16);
      const aes = new Aes128(key);
      const cipher = createCipheriv('aes-128-ecb', key, null);
      cipher.setAutoPadding(false);
      for (let i = 0; i < 200; i++) {
        const block = randomBytes(16);
        const expected = cipher.update(block);
        const out = aes.encryptWords(
          block.readUInt32BE(0),
          block.readUInt32BE(4),
          block.readUInt32BE(8),
          block.readUInt32BE(12),
        );
        const got = Buffer.alloc(16);
        for (let w = 0; w < 4; w++) got.writeUInt32BE(out[w]! >>> 0, w * 4);
        expect(got.toString('hex')).toBe(expected.toString('hex'));
      }
    }
  });
});
