/**
 * The delta encoder (src/pack/delta-encode.ts): every delta it writes must rebuild its target through
 * `applyDelta`, stay within the size bounds of the format, and respect the caller's size limit.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { applyDelta, deltaHeader } from '../src/pack/delta.js';
import { createDelta, DeltaIndex, diffDelta, sampleMatches } from '../src/pack/delta-encode.js';

/** A small deterministic generator (xorshift32). */
function rng(seed: number): () => number {
  let x = seed | 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 4294967296;
  };
}

function randomBytes(r: () => number, n: number, alphabet = 256): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = Math.floor(r() * alphabet);
  return b;
}

/** A copy of `src` with some spans replaced, inserted or removed. */
function mutate(r: () => number, src: Uint8Array, edits: number): Uint8Array {
  let cur = src;
  for (let e = 0; e < edits; e++) {
    const at = Math.floor(r() * (cur.length + 1));
    const kind = Math.floor(r() * 3);
    const n = 1 + Math.floor(r() * 40);
    if (kind === 0) {
      const ins = randomBytes(r, n);
      const next = new Uint8Array(cur.length + n);
      next.set(cur.subarray(0, at));
      next.set(ins, at);
      next.set(cur.subarray(at), at + n);
      cur = next;
    } else if (kind === 1) {
      const end = Math.min(cur.length, at + n);
      const next = new Uint8Array(cur.length - (end - at));
      next.set(cur.subarray(0, at));
      next.set(cur.subarray(end), at);
      cur = next;
    } else {
      const next = cur.slice();
      for (let i = at; i < Math.min(next.length, at + n); i++) next[i] = Math.floor(r() * 256);
      cur = next;
    }
  }
  return cur;
}

/** Checks the instruction stream: inserts of 1..127, copies of at most 0x10000, no opcode 0. */
function checkInstructions(delta: Uint8Array): void {
  const h = deltaHeader(delta);
  let pos = h.offset;
  while (pos < delta.length) {
    const cmd = delta[pos++];
    assert.notEqual(cmd, 0);
    if (cmd & 0x80) {
      for (let bit = 1; bit <= 0x40; bit <<= 1) if (cmd & bit) pos++;
    } else {
      assert.ok(cmd >= 1 && cmd <= 127);
      pos += cmd;
    }
  }
  assert.equal(pos, delta.length);
}

function roundTrip(base: Uint8Array, target: Uint8Array): Uint8Array {
  const d = diffDelta(base, target);
  assert.ok(d, 'an unlimited delta is always produced');
  checkInstructions(d);
  assert.deepEqual(applyDelta(base, d), target);
  // Never more than the header, one insert opcode per 127 bytes, and the bytes themselves.
  assert.ok(d.length <= 20 + target.length + Math.ceil(target.length / 127), `${d.length} bytes`);
  return d;
}

test('random bases and edited targets round-trip through applyDelta', () => {
  const r = rng(7);
  for (let k = 0; k < 200; k++) {
    const n = Math.floor(r() * (k < 150 ? 3000 : 70000));
    const base = randomBytes(r, n, k % 3 === 0 ? 4 : 256);
    const target = mutate(r, base, Math.floor(r() * 12));
    const d = roundTrip(base, target);
    if (n > 2000 && k % 3 !== 0) {
      // Few edits of a random base: the delta is a small fraction of the target.
      assert.ok(d.length < target.length / 4 + 600, `delta ${d.length} for a target of ${target.length}`);
    }
  }
});

test('unrelated, empty and tiny inputs', () => {
  const r = rng(11);
  const empty = new Uint8Array(0);
  const some = randomBytes(r, 1000);
  // Under Git's 4-byte minimum: no delta.
  assert.equal(diffDelta(empty, empty), undefined);
  assert.equal(diffDelta(some, empty), undefined);
  roundTrip(empty, some);
  roundTrip(new Uint8Array(20000), empty);
  roundTrip(some, randomBytes(r, 1000));
  for (let n = 2; n < 40; n++) roundTrip(randomBytes(r, n), randomBytes(r, n));
  roundTrip(some.subarray(0, 15), some.subarray(0, 15));
});

test('structured inputs: repeated runs, long copies, text', () => {
  const zeros = new Uint8Array(300000);
  const d = roundTrip(zeros, zeros);
  // 300000 bytes of copy in pieces of 0x10000: five copy instructions.
  assert.ok(d.length < 40, `${d.length}`);
  const shifted = new Uint8Array(300001);
  shifted.set(zeros, 1);
  shifted[0] = 9;
  roundTrip(zeros, shifted);
  const lines: string[] = [];
  for (let i = 0; i < 4000; i++) lines.push(`line ${i}: ${(i * 2654435761) % 1000003}`);
  const a = new TextEncoder().encode(lines.join('\n'));
  const b = new TextEncoder().encode(lines.filter((_, i) => i % 97 !== 3).join('\n'));
  const dd = roundTrip(a, b);
  assert.ok(dd.length < b.length / 10, `${dd.length} of ${b.length}`);
  // A base with periodic content and a target assembled from pieces of it, out of order.
  const r = rng(3);
  const base = randomBytes(r, 100000);
  const parts = [
    base.subarray(50000, 70000),
    base.subarray(0, 20000),
    base.subarray(99990),
    randomBytes(r, 5),
  ];
  const target = new Uint8Array(parts.reduce((a2, p) => a2 + p.length, 0));
  let o = 0;
  for (const p of parts) {
    target.set(p, o);
    o += p.length;
  }
  const dp = roundTrip(base, target);
  assert.ok(dp.length < 60, `${dp.length}`);
});

test('the size limit stops an encoding early; one index serves many targets', () => {
  const r = rng(5);
  const base = randomBytes(r, 20000);
  const index = new DeltaIndex(base);
  assert.equal(createDelta(index, randomBytes(r, 20000), 1000), undefined);
  for (let k = 0; k < 10; k++) {
    const target = mutate(r, base, 5);
    const d = createDelta(index, target, 10000);
    assert.ok(d);
    assert.deepEqual(applyDelta(base, d), target);
    assert.equal(createDelta(index, target, d.length - 1), undefined);
    // Literals are counted against the limit as they accumulate, before a match found later can
    // take some back: a limit a little above the size found is enough.
    assert.deepEqual(createDelta(index, target, d.length + 32), d);
  }
  assert.ok(index.indexBytes > 0);
});

test('sampleMatches: most spots of an edited copy hit, few of an unrelated target', () => {
  const r = rng(9);
  const base = randomBytes(r, 50000);
  const index = new DeltaIndex(base);
  assert.ok(sampleMatches(index, mutate(r, base, 20), 16) >= 14);
  assert.ok(sampleMatches(index, base.subarray(1234, 9999), 16) === 16);
  assert.equal(sampleMatches(index, randomBytes(r, 50000), 16), 0);
  assert.equal(sampleMatches(index, randomBytes(r, 40), 16), 16, 'too small to sample');
});

test('the index has four buckets per block of a base, one per block past 16 MiB of buckets; deltas round-trip either way', () => {
  const r = rng(77);
  const small = randomBytes(r, 4000);
  const smallIndex = new DeltaIndex(small);
  const blocks = Math.floor(small.length / 16);
  assert.ok(smallIndex.heads.length >= 4 * blocks, `${smallIndex.heads.length} buckets for ${blocks} blocks`);
  assert.ok(smallIndex.heads.length < 8 * blocks);
  const edited = small.slice();
  edited.set(randomBytes(r, 50), 1000);
  const d = createDelta(smallIndex, edited);
  assert.ok(d !== undefined);
  assert.deepEqual(applyDelta(small, d), edited);

  // 20 MiB: four buckets per block would be 5.2 million; the cap keeps 2^22, still one per block or more.
  const big = randomBytes(r, 20 << 20);
  const bigIndex = new DeltaIndex(big);
  assert.equal(bigIndex.heads.length, 1 << 22);
  const target = big.subarray(3 << 20, 5 << 20).slice();
  target.set(randomBytes(r, 100), 12345);
  const bd = createDelta(bigIndex, target);
  assert.ok(bd !== undefined && bd.length < 1000, `${bd?.length} bytes`);
  assert.deepEqual(applyDelta(big, bd), target);
});
