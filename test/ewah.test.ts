/**
 * EWAH (src/bitmap/ewah.ts): the word count of an XOR found without building it equals the built
 * XOR's, and the built XOR holds the XOR of the bits, over bitmaps with long runs of zeros and
 * ones, literal words, and different lengths.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Bitset, decodeEwah, Ewah } from '../src/bitmap/ewah.js';
import { prng } from './helpers/prng.js';

/** A bitset of `n` bits made of stretches: all zeros, all ones, or random bits. */
function stretches(n: number, rand: () => number): Bitset {
  const b = new Bitset(n);
  let i = 0;
  while (i < n) {
    const len = Math.floor(rand() * (rand() < 0.3 ? 5000 : 200)) + 1;
    const kind = rand();
    for (let k = i; k < Math.min(n, i + len); k++) {
      if (kind < 0.4 || (kind >= 0.7 && rand() < 0.5)) continue;
      b.set(k);
    }
    i += len;
  }
  return b;
}

test('xorSize equals the size of the built XOR, whose bits are the XOR of the bits', () => {
  const rand = prng(20261204);
  for (let round = 0; round < 300; round++) {
    const na = 1 + Math.floor(rand() * 40000);
    const nb = rand() < 0.5 ? na : 1 + Math.floor(rand() * 40000);
    const a = stretches(na, rand);
    const b = stretches(nb, rand);
    const ea = Ewah.fromBitset(a);
    const eb = Ewah.fromBitset(b);
    const x = Ewah.xor(ea, eb);
    assert.equal(Ewah.xorSize(ea, eb), x.size, `round ${round}`);
    // And chained, as a bitmap write tries each selected bitmap against XORs of the ones before.
    assert.equal(Ewah.xorSize(x, ea), Ewah.xor(x, ea).size, `round ${round}, chained`);
    const bits = decodeEwah(x.serialize(), 0).bits;
    const n = Math.max(na, nb);
    for (let k = 0; k < n; k++) {
      const want = (k < na && a.has(k)) !== (k < nb && b.has(k));
      if (bits.has(k) !== want) assert.fail(`round ${round}: bit ${k}`);
    }
  }
});
