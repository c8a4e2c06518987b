// sortByOffset (src/store/packs.ts), which orders a pack's entries for the batch reads and the
// entry extents: on random groups of every size class (below and above the radix sort's threshold,
// offsets under 2^22, under 2^32 and past it, many equal offsets), the result equals a plain stable
// sort of the same indexes by offset.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { sortByOffset } from '../src/store/packs.js';
import { prng } from './helpers/prng.js';

function expected(group: Uint32Array, offsets: Float64Array): number[] {
  return [...group]
    .map((g, j) => ({ g, j }))
    .sort((a, b) => offsets[a.g] - offsets[b.g] || a.j - b.j)
    .map((e) => e.g);
}

test('sortByOffset equals a stable sort by offset, in every size and offset range', () => {
  const rnd = prng(7);
  const cases: [number, number][] = [
    [2, 1000],
    [100, 2 ** 20],
    [511, 2 ** 32 - 1],
    [512, 2 ** 11],
    [3000, 2 ** 22],
    [5000, 2 ** 32 - 1],
    [4000, 2 ** 40],
    [20000, 50],
  ];
  for (const [n, range] of cases) {
    const offsets = new Float64Array(n + 10);
    for (let i = 0; i < offsets.length; i++) offsets[i] = Math.floor(rnd() * range);
    // Indexes into `offsets` in a shuffled order, not all of them, each once.
    const all = Array.from({ length: offsets.length }, (_, i) => i);
    for (let i = all.length - 1; i > 0; i--) {
      const k = Math.floor(rnd() * (i + 1));
      [all[i], all[k]] = [all[k], all[i]];
    }
    const group = Uint32Array.from(all.slice(0, n));
    const want = expected(group, offsets);
    sortByOffset(group, offsets);
    assert.deepEqual([...group], want, `${n} entries, offsets below ${range}`);
    const signed = Int32Array.from(want.slice().reverse());
    sortByOffset(signed, offsets);
    assert.deepEqual(
      [...signed],
      expected(Uint32Array.from(want.slice().reverse()), offsets),
      `${n} entries as Int32Array`,
    );
  }
});
