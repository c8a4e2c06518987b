/**
 * The portable zlib decoder (src/pack/inflate.ts), differentially against node:zlib.
 *
 * - Valid streams: data of many shapes and sizes (0..70000 bytes; random, small alphabets, long
 *   and far repeats, runs) deflated at levels 0, 1, 6, 9 with every strategy must inflate to the
 *   same bytes, and `consumed` must equal zlib's `engine.bytesWritten` with garbage after the stream.
 * - Mutants (bits flipped, bytes set, inserted, deleted, truncated): either `undefined` or exactly
 *   zlib's answer (bytes and consumed); whenever zlib throws, `undefined`.
 * - Prefixes of streams cut anywhere: always a prefix of the true output, at least as long as what
 *   zlib gives for the same cut with Z_SYNC_FLUSH (up to `want`).
 * - A too small `maxOutput` gives `undefined`.
 * - Hand-built edge cases: codes zlib accepts although incomplete, invalid codes, distances too far.
 *
 * Deterministic: a fixed seed (FUZZ_SEED overrides it); FUZZ_RUNS=<n> runs n cases per property.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import * as zlib from 'node:zlib';
import fc from 'fast-check';
import { nodeInflater } from '../src/node/zlib.js';
import { inflateZlib, inflateZlibPrefix } from '../src/pack/inflate.js';

const SEED = Number(process.env.FUZZ_SEED ?? 0x696e666c);
const RUNS = process.env.FUZZ_RUNS ? Number(process.env.FUZZ_RUNS) : undefined;
function runs(n: number): number {
  return RUNS !== undefined && Number.isFinite(RUNS) && RUNS > 0 ? RUNS : n;
}

const LEVELS = [0, 1, 6, 9] as const;
const STRATEGIES = [
  zlib.constants.Z_DEFAULT_STRATEGY,
  zlib.constants.Z_FILTERED,
  zlib.constants.Z_HUFFMAN_ONLY,
  zlib.constants.Z_RLE,
  zlib.constants.Z_FIXED,
] as const;
const GARBAGE = Buffer.from([0x78, 0x9c, 0xde, 0xad, 0xbe, 0xef, 0x00]);

// ---------------------------------------------------------------------------------------------
// Data

/** xorshift32: data generated from a seed keeps fast-check's shrinking cheap. */
function prng(seed: number): () => number {
  let x = seed | 0 || 0x9e3779b9;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return x >>> 0;
  };
}

type Shape = 'random' | 'alphabet' | 'repeats' | 'runs' | 'zeros';
const SHAPES: Shape[] = ['random', 'alphabet', 'repeats', 'runs', 'zeros'];

function makeData(size: number, shape: Shape, seed: number): Buffer {
  const r = prng(seed);
  const b = Buffer.alloc(size);
  switch (shape) {
    case 'random':
      for (let i = 0; i < size; i++) b[i] = r() & 255;
      break;
    case 'alphabet': {
      const k = 2 + (r() % 15);
      for (let i = 0; i < size; i++) b[i] = 97 + (r() % k);
      break;
    }
    case 'repeats': {
      // Copies of earlier slices, near and far (up to the 32 KiB window and beyond), with noise.
      let i = 0;
      while (i < size) {
        if (i < 16 || r() % 4 === 0) {
          b[i++] = 32 + (r() % 64);
          continue;
        }
        const dist = 1 + (r() % 3 === 0 ? r() % Math.min(i, 40000) : r() % Math.min(i, 300));
        const len = Math.min(size - i, 3 + (r() % 300));
        for (let k = 0; k < len; k++, i++) b[i] = b[i - dist];
      }
      break;
    }
    case 'runs': {
      let i = 0;
      while (i < size) {
        const v = r() & 255;
        const len = Math.min(size - i, 1 + (r() % 600));
        b.fill(v, i, i + len);
        i += len;
      }
      break;
    }
    case 'zeros':
      break;
  }
  return b;
}

const sizeArb = fc.oneof(
  { arbitrary: fc.integer({ min: 0, max: 600 }), weight: 6 },
  { arbitrary: fc.integer({ min: 0, max: 6000 }), weight: 3 },
  { arbitrary: fc.integer({ min: 0, max: 70000 }), weight: 1 },
);

const streamArb = fc.record({
  size: sizeArb,
  shape: fc.constantFrom(...SHAPES),
  seed: fc.integer(),
  level: fc.constantFrom(...LEVELS),
  strategy: fc.constantFrom(...STRATEGIES),
});

function deflate(data: Buffer, level: number, strategy: number): Buffer {
  return zlib.deflateSync(data, { level, strategy });
}

interface ZlibAnswer {
  data: Buffer;
  consumed: number;
}

/** zlib's answer for `input`, or undefined when it throws. */
function zlibInflate(input: Uint8Array): ZlibAnswer | undefined {
  try {
    const r = zlib.inflateSync(input, { info: true }) as unknown as {
      buffer: Buffer;
      engine: { bytesWritten: number };
    };
    return { data: r.buffer, consumed: r.engine.bytesWritten };
  } catch {
    return undefined;
  }
}

function assertValid(data: Buffer, compressed: Buffer): void {
  const input = Buffer.concat([compressed, GARBAGE]);
  const z = zlibInflate(input);
  assert.ok(z, 'zlib inflates its own stream');
  assert.deepEqual(z.data, data);
  const ours = inflateZlib(input, data.length + 1);
  assert.ok(ours, `inflateZlib answers (${data.length} bytes from ${compressed.length})`);
  assert.equal(ours.consumed, z.consumed);
  assert.equal(ours.consumed, compressed.length);
  assert.equal(Buffer.compare(ours.data, data), 0);
  // Exactly enough room is enough; the stream alone (no garbage) too.
  assert.equal(inflateZlib(compressed, data.length)?.data.length, data.length);
}

// ---------------------------------------------------------------------------------------------

describe('inflateZlib on valid streams', () => {
  test('every level and strategy, on every shape of data', () => {
    for (const size of [0, 1, 2, 3, 100, 258, 259, 4000, 33000, 70000]) {
      for (const shape of SHAPES) {
        const data = makeData(size, shape, size * 7 + 1);
        for (const level of LEVELS) {
          for (const strategy of STRATEGIES) assertValid(data, deflate(data, level, strategy));
        }
      }
    }
  });

  test('random data, sizes, levels and strategies (fast-check)', () => {
    fc.assert(
      fc.property(streamArb, ({ size, shape, seed, level, strategy }) => {
        const data = makeData(size, shape, seed);
        assertValid(data, deflate(data, level, strategy));
      }),
      { seed: SEED, numRuns: runs(2000) },
    );
  });

  test('an input that is a view into a larger buffer', () => {
    const data = makeData(5000, 'repeats', 3);
    const c = deflate(data, 6, 0);
    const big = new Uint8Array(c.length + 20);
    big.set(c, 10);
    const view = big.subarray(10);
    const ours = inflateZlib(view, data.length + 1);
    assert.equal(ours?.consumed, c.length);
    assert.equal(Buffer.compare(ours.data, data), 0);
  });

  test('outputs stay intact when later calls succeed or fail', () => {
    const kept: [Uint8Array, Buffer][] = [];
    for (let i = 0; i < 3000; i++) {
      const data = makeData(i % 700, SHAPES[i % SHAPES.length], i);
      const c = deflate(data, 6, 0);
      const ours = inflateZlib(c, data.length + 1);
      assert.ok(ours);
      kept.push([ours.data, data]);
      // A failing call (output too long, then a corrupt trailer) in between.
      if (data.length > 0) assert.equal(inflateZlib(c, data.length - 1), undefined);
      const bad = Buffer.from(c);
      bad[bad.length - 1] ^= 1;
      assert.equal(inflateZlib(bad, data.length + 1), undefined);
      inflateZlibPrefix(c, 10);
    }
    for (const [got, data] of kept) assert.equal(Buffer.compare(got, data), 0);
  });

  test('maxOutput smaller than the output gives undefined', () => {
    fc.assert(
      fc.property(streamArb, fc.nat(), ({ size, shape, seed, level, strategy }, k) => {
        fc.pre(size > 0);
        const data = makeData(size, shape, seed);
        const c = deflate(data, level, strategy);
        assert.equal(inflateZlib(c, k % size), undefined);
        assert.equal(inflateZlib(c, size - 1), undefined);
      }),
      { seed: SEED, numRuns: runs(500) },
    );
    assert.equal(inflateZlib(deflate(Buffer.from('x'), 6, 0), 0), undefined);
    assert.equal(inflateZlib(deflate(Buffer.from('x'), 6, 0), -1), undefined);
  });
});

// ---------------------------------------------------------------------------------------------

type Mutation =
  | { kind: 'flip'; at: number; bit: number }
  | { kind: 'set'; at: number; value: number }
  | { kind: 'insert'; at: number; value: number }
  | { kind: 'delete'; at: number }
  | { kind: 'truncate'; at: number };

const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ kind: fc.constant('set' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
);

function mutate(src: Buffer, mutations: Mutation[]): Buffer {
  let b = Buffer.from(src);
  for (const m of mutations) {
    if (b.length === 0) break;
    // Mostly in the first bytes, where the block headers and code tables are.
    const at = m.at % (m.at % 3 === 0 ? b.length : Math.min(b.length, 64));
    switch (m.kind) {
      case 'flip':
        b[at] ^= 1 << m.bit;
        break;
      case 'set':
        b[at] = m.value;
        break;
      case 'insert':
        b = Buffer.concat([b.subarray(0, at), Buffer.from([m.value]), b.subarray(at)]);
        break;
      case 'delete':
        b = Buffer.concat([b.subarray(0, at), b.subarray(at + 1)]);
        break;
      case 'truncate':
        b = b.subarray(0, at);
        break;
    }
  }
  return b;
}

/** Ours is undefined or exactly zlib's answer; when zlib fails, ours is undefined. */
function assertAgrees(input: Buffer, maxOutput: number): void {
  const ours = inflateZlib(input, maxOutput);
  if (ours === undefined) return;
  const z = zlibInflate(input);
  assert.ok(z, `zlib rejects a stream inflateZlib accepts: ${input.toString('hex')}`);
  assert.equal(ours.consumed, z.consumed);
  assert.equal(Buffer.compare(ours.data, z.data), 0);
}

describe('inflateZlib on mutated streams', () => {
  test('undefined, or exactly what zlib answers (fast-check)', () => {
    const small = fc.record({
      size: fc.integer({ min: 0, max: 3000 }),
      shape: fc.constantFrom(...SHAPES),
      seed: fc.integer(),
      level: fc.constantFrom(...LEVELS),
      strategy: fc.constantFrom(...STRATEGIES),
    });
    fc.assert(
      fc.property(
        small,
        fc.array(mutationArb, { minLength: 1, maxLength: 3 }),
        ({ size, shape, seed, level, strategy }, mutations) => {
          const data = makeData(size, shape, seed);
          const mutant = mutate(deflate(data, level, strategy), mutations);
          assertAgrees(mutant, 2 * size + 1000);
          assertAgrees(Buffer.concat([mutant, GARBAGE]), 2 * size + 1000);
        },
      ),
      { seed: SEED, numRuns: runs(5000) },
    );
  });

  test('random bytes after a valid header', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 0, maxLength: 200 }), (tail) => {
        const input = Buffer.concat([Buffer.from([0x78, 0x9c]), tail]);
        assertAgrees(input, 100000);
      }),
      { seed: SEED, numRuns: runs(3000) },
    );
  });
});

// ---------------------------------------------------------------------------------------------

describe('inflateZlibPrefix', () => {
  test('a prefix of the output, as long as zlib gives for the same cut (fast-check)', () => {
    fc.assert(
      fc.property(streamArb, fc.nat(), fc.nat(), (s, cutSeed, wantSeed) => {
        const data = makeData(Math.min(s.size, 8000), s.shape, s.seed);
        const c = deflate(data, s.level, s.strategy);
        const cut = c.subarray(0, cutSeed % (c.length + 2));
        const want = wantSeed % 3 === 0 ? wantSeed % (data.length + 10) : wantSeed % 40;
        const p = inflateZlibPrefix(cut, want);
        assert.ok(p, 'a valid stream cut short is no error');
        assert.equal(Buffer.compare(p, data.subarray(0, p.length)), 0, 'a prefix of the true output');
        const z = zlib.inflateSync(cut, { finishFlush: zlib.constants.Z_SYNC_FLUSH });
        assert.ok(
          p.length >= Math.min(want, z.length),
          `${p.length} bytes, zlib gives ${z.length} of ${data.length} for ${cut.length}/${c.length}`,
        );
        if (cut.length === c.length) assert.equal(p.length, Math.min(want, data.length));
        // With garbage after the whole stream, the stream's end still ends the output.
        const g = inflateZlibPrefix(Buffer.concat([c, GARBAGE]), want);
        assert.equal(g?.length, Math.min(want, data.length));
      }),
      { seed: SEED, numRuns: runs(3000) },
    );
  });

  test('on mutants: undefined, or a prefix of what zlib gives before it stops', () => {
    fc.assert(
      fc.property(
        streamArb,
        fc.array(mutationArb, { minLength: 1, maxLength: 2 }),
        // Half of them short (up to 64 bytes: the delta-header fast path), half up to 300.
        fc.oneof(fc.integer({ min: 0, max: 64 }), fc.integer({ min: 0, max: 300 })),
        (s, mutations, want) => {
          const data = makeData(Math.min(s.size, 3000), s.shape, s.seed);
          const mutant = mutate(deflate(data, s.level, s.strategy), mutations);
          const p = inflateZlibPrefix(mutant, want);
          if (p === undefined) return;
          // What zlib gives before it stops: an error in the first k bytes stays one for every
          // longer cut, so a binary search finds the longest cut it takes without an error.
          const sync = (k: number): Buffer | undefined => {
            try {
              return zlib.inflateSync(mutant.subarray(0, k), { finishFlush: zlib.constants.Z_SYNC_FLUSH });
            } catch {
              return undefined;
            }
          };
          let z = sync(mutant.length);
          const err = z === undefined;
          if (z === undefined) {
            let lo = 0;
            let hi = mutant.length;
            while (hi - lo > 1) {
              const mid = (lo + hi) >>> 1;
              if (sync(mid) === undefined) hi = mid;
              else lo = mid;
            }
            z = sync(lo) ?? Buffer.alloc(0);
          }
          const n = Math.min(p.length, z.length);
          assert.equal(Buffer.compare(p.subarray(0, n), z.subarray(0, n)), 0, 'the same bytes as zlib');
          assert.ok(p.length <= z.length || !err, 'no bytes past the point where zlib fails');
        },
      ),
      { seed: SEED, numRuns: runs(1500) },
    );
  });

  test('a whole short stream with a bad Adler-32 is an error, whatever the block kind', () => {
    // The output fits the prefix exactly, so the stream's end is reached and its checksum read
    // (as zlib does, and Git, which then fails "delta data unpack-initial failed").
    for (const strategy of [zlib.constants.Z_FIXED, zlib.constants.Z_DEFAULT_STRATEGY]) {
      for (const level of [0, 6]) {
        for (const text of ['x', 'hello hello hello', 'abcdefghijklmnopqrstuvwxyz0123456789']) {
          const data = Buffer.from(text);
          const c = deflate(data, level, strategy);
          assert.deepEqual(Buffer.from(inflateZlibPrefix(c, data.length)!), data);
          assert.deepEqual(Buffer.from(inflateZlibPrefix(c, data.length - 1)!), data.subarray(0, -1));
          const bad = Buffer.from(c);
          bad[bad.length - 1] ^= 1;
          assert.equal(inflateZlibPrefix(bad, data.length), undefined, `${text} (level ${level})`);
          assert.equal(inflateZlibPrefix(bad, data.length + 5), undefined);
        }
      }
    }
  });

  test('short inputs', () => {
    assert.deepEqual(inflateZlibPrefix(new Uint8Array(0), 10), new Uint8Array(0));
    assert.deepEqual(inflateZlibPrefix(Uint8Array.of(0x78), 10), new Uint8Array(0));
    assert.equal(inflateZlibPrefix(Uint8Array.of(0x78, 0x9d), 10), undefined);
  });
});

// ---------------------------------------------------------------------------------------------
// Hand-built streams

/** Writes deflate bits: fields least significant bit first, Huffman codes most significant first. */
class BitWriter {
  private bytes: number[] = [];
  private acc = 0;
  private n = 0;
  bits(value: number, count: number): this {
    for (let i = 0; i < count; i++) this.bit((value >>> i) & 1);
    return this;
  }
  code(value: number, length: number): this {
    for (let i = length - 1; i >= 0; i--) this.bit((value >>> i) & 1);
    return this;
  }
  private bit(b: number): void {
    this.acc |= b << this.n;
    if (++this.n === 8) this.flushByte();
  }
  private flushByte(): void {
    this.bytes.push(this.acc);
    this.acc = 0;
    this.n = 0;
  }
  /** Header 78 9c, the bits, then the Adler-32 of `output`. */
  zlib(output: Uint8Array): Buffer {
    if (this.n > 0) this.flushByte();
    let a = 1;
    let s = 0;
    for (const x of output) {
      a = (a + x) % 65521;
      s = (s + a) % 65521;
    }
    const t = ((s << 16) | a) >>> 0;
    return Buffer.from([0x78, 0x9c, ...this.bytes, t >>> 24, (t >>> 16) & 255, (t >>> 8) & 255, t & 255]);
  }
}

/** A fixed-code literal/length symbol. */
function fixedSym(w: BitWriter, s: number): BitWriter {
  if (s < 144) return w.code(0x30 + s, 8);
  if (s < 256) return w.code(0x190 + s - 144, 9);
  if (s < 280) return w.code(s - 256, 7);
  return w.code(0xc0 + s - 280, 8);
}

/**
 * A dynamic block whose literal/length code has 257 → 0, 'a' → 10, 256 → 11 and whose distance
 * code is a single one-bit code (incomplete, which zlib accepts): data bits follow.
 */
function singleDistanceCodeBlock(): BitWriter {
  const w = new BitWriter().bits(1, 1).bits(2, 2).bits(1, 5).bits(0, 5).bits(14, 4);
  // Code length code lengths, in RFC order: 18 → 1 bit; 2 and 1 → 2 bits.
  const cl = new Map([
    [18, 1],
    [2, 2],
    [1, 2],
  ]);
  for (const s of [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1]) w.bits(cl.get(s) ?? 0, 3);
  // Codes: 18 → 0, 1 → 10, 2 → 11.
  w.code(0, 1).bits(97 - 11, 7); // 0..96 unused
  w.code(3, 2); // 'a': 2
  w.code(0, 1).bits(138 - 11, 7); // 98..235
  w.code(0, 1).bits(20 - 11, 7); // 236..255
  w.code(3, 2).code(2, 2); // 256: 2, 257: 1
  w.code(2, 2); // distance 0: 1
  return w;
}

describe('hand-built streams', () => {
  const cases: { name: string; input: Buffer; expect: string | undefined }[] = [
    {
      name: 'fixed block: literals, a match, end',
      input: fixedSym(
        fixedSym(fixedSym(new BitWriter().bits(1, 1).bits(1, 2), 0x61), 257).code(0, 5),
        256,
      ).zlib(Buffer.from('aaaa')),
      expect: 'aaaa',
    },
    {
      name: 'distance too far back',
      input: fixedSym(
        fixedSym(fixedSym(new BitWriter().bits(1, 1).bits(1, 2), 0x61), 257).code(1, 5),
        256,
      ).zlib(Buffer.from('aaaa')),
      expect: undefined,
    },
    {
      name: 'fixed distance code 30',
      input: fixedSym(fixedSym(new BitWriter().bits(1, 1).bits(1, 2), 0x61), 257)
        .code(30, 5)
        .zlib(Buffer.alloc(0)),
      expect: undefined,
    },
    {
      name: 'fixed literal/length code 286',
      input: fixedSym(new BitWriter().bits(1, 1).bits(1, 2), 286).zlib(Buffer.alloc(0)),
      expect: undefined,
    },
    {
      name: 'block type 3',
      input: new BitWriter().bits(1, 1).bits(3, 2).zlib(Buffer.alloc(0)),
      expect: undefined,
    },
    {
      name: 'stored block, empty',
      input: new BitWriter()
        .bits(1, 1)
        .bits(0, 2)
        .bits(0, 5)
        .bits(0, 16)
        .bits(0xffff, 16)
        .zlib(Buffer.alloc(0)),
      expect: '',
    },
    {
      name: 'stored block, LEN and NLEN disagree',
      input: new BitWriter()
        .bits(1, 1)
        .bits(0, 2)
        .bits(0, 5)
        .bits(0, 16)
        .bits(0xfffe, 16)
        .zlib(Buffer.alloc(0)),
      expect: undefined,
    },
    {
      name: 'stored block, then a fixed one',
      input: fixedSym(
        fixedSym(
          new BitWriter()
            .bits(0, 1)
            .bits(0, 2)
            .bits(0, 5)
            .bits(1, 16)
            .bits(0xfffe, 16)
            .bits(0x7a, 8)
            .bits(1, 1)
            .bits(1, 2),
          0x79,
        ),
        256,
      ).zlib(Buffer.from('zy')),
      expect: 'zy',
    },
    {
      name: 'incomplete single distance code, used',
      input: singleDistanceCodeBlock().code(2, 2).code(0, 1).code(0, 1).code(3, 2).zlib(Buffer.from('aaaa')),
      expect: 'aaaa',
    },
    {
      name: 'incomplete single distance code, its unused code',
      input: singleDistanceCodeBlock().code(2, 2).code(0, 1).code(1, 1).code(3, 2).zlib(Buffer.from('aaaa')),
      expect: undefined,
    },
    {
      name: 'preset dictionary flag',
      input: Buffer.from([0x78, 0xbb, 0, 0, 0, 1, 3, 0, 0, 0, 0, 1]),
      expect: undefined,
    },
    { name: 'header check fails', input: Buffer.from([0x78, 0x9d, 3, 0, 0, 0, 0, 1]), expect: undefined },
    { name: 'window of 64 KiB', input: Buffer.from([0x88, 0x1c, 3, 0, 0, 0, 0, 1]), expect: undefined },
    { name: 'window of 256 bytes', input: Buffer.from([0x08, 0x1d, 3, 0, 0, 0, 0, 1]), expect: '' },
    { name: 'wrong Adler-32', input: Buffer.from([0x78, 0x9c, 3, 0, 0, 0, 0, 2]), expect: undefined },
    { name: 'trailer cut short', input: Buffer.from([0x78, 0x9c, 3, 0, 0, 0, 0]), expect: undefined },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const ours = inflateZlib(c.input, 100);
      assert.equal(ours === undefined ? undefined : Buffer.from(ours.data).toString('latin1'), c.expect);
      const z = zlibInflate(c.input);
      if (c.expect !== undefined) {
        assert.equal(z?.data.toString('latin1'), c.expect, 'zlib agrees');
        assert.equal(ours?.consumed, c.input.length);
      }
      assertAgrees(c.input, 100);
    });
  }
});

for (const room of [0, 1, 100]) {
  describe(`nodeInflater.inflateExact (one reused node:zlib handle), output with ${room} bytes of room`, () => {
    const data = Buffer.alloc(50_000);
    for (let i = 0; i < data.length; i++) data[i] = (i * 7 + (i >> 5)) & 0xff;
    const stream = zlib.deflateSync(data);
    // Past our decoder's cold budget, so that node:zlib answers.
    const exact = (input: Uint8Array, size: number, start = 0, end = input.length) => {
      const out = new Uint8Array(size + room);
      const used = nodeInflater.inflateExact!(input, start, end, out, size);
      return { used, out: out.subarray(0, size) };
    };

    test('a whole stream, with bytes after it in the window: its length used, its bytes out', () => {
      const input = Buffer.concat([Buffer.from([9, 9]), stream, Buffer.from('trailing bytes')]);
      const r = exact(input, data.length, 2);
      assert.equal(r.used, stream.length);
      assert.ok(Buffer.from(r.out).equals(data));
    });

    test('a stream longer or shorter than the size, a bad checksum, a cut stream: -1, then the handle still works', () => {
      assert.equal(exact(stream, data.length - 1).used, -1, 'longer than the size');
      assert.equal(exact(stream, data.length + 1).used, -1, 'shorter than the size');
      const bad = Buffer.from(stream);
      bad[bad.length - 1] ^= 1;
      assert.equal(exact(bad, data.length).used, -1, 'checksum');
      assert.equal(
        exact(stream.subarray(0, stream.length - 3), data.length).used,
        -1,
        'cut inside its checksum',
      );
      assert.equal(exact(stream.subarray(0, stream.length - 4), data.length).used, -1, 'checksum cut off');
      assert.equal(exact(stream.subarray(0, stream.length >> 1), data.length).used, -1, 'cut in half');
      const garbage = Buffer.from(stream);
      garbage.fill(0xff, 10, 40);
      assert.equal(exact(garbage, data.length).used, -1, 'corrupt data');
      const r = exact(stream, data.length);
      assert.equal(r.used, stream.length);
      assert.ok(Buffer.from(r.out).equals(data));
    });

    test('small streams (a few bytes to a few hundred), exact and one byte off either way', () => {
      for (const n of [1, 2, 17, 300, 700]) {
        const d = data.subarray(0, n);
        const z = zlib.deflateSync(d);
        const r = exact(z, n);
        assert.equal(r.used, z.length, `${n} bytes`);
        assert.ok(Buffer.from(r.out).equals(d));
        assert.equal(exact(z, n - 1).used, -1, `${n} bytes, size one less`);
        assert.equal(exact(z, n + 1).used, -1, `${n} bytes, size one more`);
      }
    });
  });
}
