/**
 * src/sha.ts against node:crypto: SHA-1 and SHA-256 of random inputs of every length from 0 to 300
 * bytes (around the 55/56/64-byte padding boundaries) and of 1 MiB, each fed whole, byte by byte,
 * and in random-sized pieces.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, test } from 'node:test';
import { SHA1, SHA256 } from '../src/hash.js';
import { jsHash } from '../src/sha.js';
import { prng } from './helpers/prng.js';

function bytes(rand: () => number, n: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = Math.floor(rand() * 256);
  return b;
}

/** Hex digest of `data` fed in pieces whose sizes `piece` chooses. */
function jsHex(name: 'sha1' | 'sha256', data: Uint8Array, piece: () => number): string {
  const h = jsHash(name === 'sha1' ? SHA1 : SHA256);
  for (let at = 0; at < data.length; ) {
    const n = Math.min(data.length - at, piece());
    h.update(data.subarray(at, at + n));
    at += n;
  }
  return Buffer.from(h.digest()).toString('hex');
}

for (const name of ['sha1', 'sha256'] as const) {
  describe(`jsHash ${name}`, () => {
    const rand = prng(name === 'sha1' ? 1 : 256);
    const node = (d: Uint8Array) => createHash(name).update(d).digest('hex');

    test('lengths 0..300, whole, byte by byte and in random pieces', () => {
      for (let n = 0; n <= 300; n++) {
        const d = bytes(rand, n);
        const want = node(d);
        assert.equal(
          jsHex(name, d, () => n),
          want,
          `length ${n} whole`,
        );
        assert.equal(
          jsHex(name, d, () => 1),
          want,
          `length ${n} byte by byte`,
        );
        assert.equal(
          jsHex(name, d, () => Math.floor(rand() * 130)),
          want,
          `length ${n} in pieces`,
        );
      }
    });

    test('1 MiB in random pieces, and empty updates', () => {
      const d = bytes(rand, 1 << 20);
      const want = node(d);
      assert.equal(
        jsHex(name, d, () => d.length),
        want,
      );
      assert.equal(
        jsHex(name, d, () => Math.floor(rand() * 5000)),
        want,
      );
      assert.equal(
        jsHex(name, d, () => 4096),
        want,
      );
    });

    test('digest sizes, and no use after digest()', () => {
      const h = jsHash(name === 'sha1' ? SHA1 : SHA256);
      h.update(new Uint8Array(3));
      assert.equal(h.digest().length, name === 'sha1' ? 20 : 32);
      assert.throws(() => h.update(new Uint8Array(1)));
      assert.throws(() => h.digest());
    });
  });
}
