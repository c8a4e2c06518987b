/**
 * src/pack/js-inflater.ts against src/node/zlib.ts: the same bytes, consumed input and errors
 * (`InflateError`, its `truncated` flag and zlib's message) for streams node:zlib wrote at several
 * levels and strategies, stored blocks, empty, truncated, bit-flipped and garbage input, and
 * trailing bytes; and every object of git-written packs (SHA-1 and SHA-256, OFS_DELTA and
 * REF_DELTA, a blob above PackFile's 4 MiB streaming size) read alike with jsInflater + jsHash and
 * with nodeInflater + nodeHash.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, describe, test } from 'node:test';
import * as zlib from 'node:zlib';
import { SHA1, SHA256 } from '../src/hash.js';
import { bufferReader } from '../src/io.js';
import { nodeHash } from '../src/node/hash.js';
import { nodeInflater } from '../src/node/zlib.js';
import { PackIndex } from '../src/pack/idx.js';
import { jsInflater } from '../src/pack/js-inflater.js';
import { InflateError, type Inflater, PackFile } from '../src/pack/pack.js';
import { jsHash } from '../src/sha.js';
import { TestRepo } from './helpers/git.js';
import { prng } from './helpers/prng.js';

const rand = prng(0x6a73);

/** Bytes that compress somewhat: runs of a few symbols mixed with random ones. */
function sample(n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) {
    b[i] =
      rand() < 0.3 ? Math.floor(rand() * 256) : i > 8 && rand() < 0.6 ? b[i - 1 - (i % 7)] : 97 + (i % 5);
  }
  return b;
}

type Outcome = { data: string; consumed: number } | { error: string; truncated: boolean };

function outcome(f: () => { data: Uint8Array; consumed: number } | Uint8Array): Outcome {
  try {
    const r = f();
    if (r instanceof Uint8Array) return { data: Buffer.from(r).toString('hex'), consumed: -1 };
    return { data: Buffer.from(r.data).toString('hex'), consumed: r.consumed };
  } catch (e) {
    assert.ok(e instanceof InflateError, `not an InflateError: ${String(e)}`);
    return { error: /more than/.test(e.message) ? 'too long' : e.message, truncated: e.truncated };
  }
}

/**
 * The same outcome from both. A stream that goes on past `expectedSize` is an error for both, but
 * node:zlib decodes a whole output chunk before it checks the size, so it may report a problem
 * found further on (corrupt or truncated data) instead.
 */
function same(input: Uint8Array, expectedSize: number, what: string): Outcome {
  const js = outcome(() => jsInflater.inflate(input, expectedSize));
  const node = outcome(() => nodeInflater.inflate(input, expectedSize));
  if ('error' in js && 'error' in node && (js.error === 'too long' || node.error === 'too long')) return js;
  assert.deepEqual(js, node, what);
  return js;
}

const SIZES = [0, 1, 2, 31, 100, 511, 512, 513, 4095, 4097, 40_000, 300_000];
const OPTIONS: [string, zlib.ZlibOptions][] = [
  ['level 0 (stored)', { level: 0 }],
  ['level 1', { level: 1 }],
  ['level 6', { level: 6 }],
  ['level 9', { level: 9 }],
  ['fixed Huffman', { level: 6, strategy: zlib.constants.Z_FIXED }],
  ['Huffman only', { strategy: zlib.constants.Z_HUFFMAN_ONLY }],
  ['RLE', { strategy: zlib.constants.Z_RLE }],
];

describe('jsInflater matches nodeInflater', () => {
  test('whole streams, exact, larger and smaller expected sizes, trailing bytes', () => {
    for (const n of SIZES) {
      const data = sample(n);
      for (const [name, opts] of OPTIONS) {
        const z = zlib.deflateSync(data, opts);
        const what = `${n} bytes, ${name}`;
        const r = same(z, n, what);
        assert.deepEqual(r, { data: data.toString('hex'), consumed: z.length }, what);
        same(z, n + 1000, `${what}, larger expected size`);
        if (n > 0) same(z, n - 1, `${what}, smaller expected size`);
        same(Buffer.concat([z, sample(20)]), n, `${what}, trailing bytes`);
      }
    }
  });

  test('empty, truncated at every length, and cut large streams', () => {
    same(new Uint8Array(0), 0, 'empty input');
    same(new Uint8Array(0), 10, 'empty input');
    for (const [name, opts] of OPTIONS) {
      const data = sample(700);
      const z = zlib.deflateSync(data, opts);
      for (let cut = 0; cut < z.length; cut++) {
        const r = same(z.subarray(0, cut), data.length, `${name} cut at ${cut}`);
        assert.ok('error' in r && r.truncated, `${name} cut at ${cut}: ${JSON.stringify(r)}`);
      }
      const big = sample(200_000);
      const zb = zlib.deflateSync(big, opts);
      for (const cut of [zb.length >> 1, zb.length - 5, zb.length - 1]) {
        same(zb.subarray(0, cut), big.length, `${name} 200 KB cut at ${cut}`);
      }
    }
  });

  test('preset dictionary, bad headers, flipped bits and garbage', () => {
    const dict = zlib.deflateSync(sample(50), { dictionary: Buffer.from('abcdef') });
    for (let cut = 0; cut <= dict.length; cut++) same(dict.subarray(0, cut), 50, `FDICT cut at ${cut}`);
    for (let i = 0; i < 2000; i++) {
      const n = Math.floor(rand() * 200);
      const g = Buffer.from(sample(n).map(() => Math.floor(rand() * 256)));
      // Half with a valid header, so that the deflate data itself is garbage.
      if (i % 2 === 0 && n >= 2) g.set([0x78, 0x9c]);
      same(g, 1000, `garbage #${i}`);
    }
    for (const [name, opts] of OPTIONS) {
      const data = sample(3000);
      const z = zlib.deflateSync(data, opts);
      for (let i = 0; i < 300; i++) {
        const f = Buffer.from(z);
        const bit = Math.floor(rand() * f.length * 8);
        f[bit >> 3] ^= 1 << (bit & 7);
        same(f, data.length, `${name}, bit ${bit} flipped`);
      }
    }
  });

  test('inflatePrefix: the same first bytes', () => {
    for (const n of SIZES) {
      const data = sample(n);
      for (const [name, opts] of OPTIONS) {
        const z = zlib.deflateSync(data, opts);
        for (const want of [0, 1, 20, 700, n]) {
          for (const input of [z, z.subarray(0, z.length >> 1)]) {
            const js = jsInflater.inflatePrefix!(input, want);
            const node = nodeInflater.inflatePrefix!(input, want);
            const what = `${n} bytes, ${name}, want ${want}, input ${input.length}/${z.length}`;
            const k = Math.min(js.length, node.length);
            assert.ok(Buffer.from(js.subarray(0, k)).equals(data.subarray(0, k)), what);
            assert.ok(Buffer.from(node.subarray(0, k)).equals(data.subarray(0, k)), what);
            if (input === z) assert.ok(js.length >= Math.min(want, n), what);
          }
        }
      }
    }
  });
});

// ---------------------------------------------------------------------------------------------
// Packs written by git

const repos: TestRepo[] = [];
after(() => {
  for (const r of repos) r.cleanup();
});

for (const objectFormat of ['sha1', 'sha256'] as const) {
  test(`a git pack (${objectFormat}) reads alike with jsInflater + jsHash`, () => {
    const hash = objectFormat === 'sha1' ? SHA1 : SHA256;
    const repo = TestRepo.create({ objectFormat, bare: true });
    repos.push(repo);
    // One growing file in 40 versions (delta chains), random and empty blobs, and 5 MB of text.
    const blobs: Buffer[] = [Buffer.alloc(0), sample(70_000)];
    let text = '';
    for (let v = 0; v < 40; v++) {
      text += `version ${v}: ${'lorem ipsum '.repeat(v % 9)}\n`;
      blobs.push(Buffer.from(text.repeat(3)));
    }
    let big = '';
    for (let r = 0; big.length < 5_000_000; r++) big += `row ${r} ${(r * 7919) % 10007}\n`;
    blobs.push(Buffer.from(big));
    const oids = repo.writeBlobs(blobs);
    for (const deltaBaseOffset of [true, false]) {
      const stem = repo.packObjects(oids, { deltaBaseOffset, prefix: deltaBaseOffset ? 'ofs' : 'ref' });
      const packBytes = fs.readFileSync(path.join(repo.packDir, `${stem}.pack`));
      const idx = PackIndex.fromBytes(fs.readFileSync(path.join(repo.packDir, `${stem}.idx`)), { hash });
      const open = (inflate: Inflater, hashFn: typeof jsHash) =>
        PackFile.open(bufferReader(packBytes), idx, { hash, inflate, hashFn, file: stem });
      const js = open(jsInflater, jsHash);
      const node = open(nodeInflater, nodeHash);
      let deltas = 0;
      for (let i = 0; i < idx.numObjects; i++) {
        const oid = idx.oidAt(i);
        const off = idx.offsetAt(i);
        if (js.entryAt(off).type >= 6) deltas++;
        assert.deepEqual(js.infoAt(off), node.infoAt(off));
        const a = js.verifyObject(oid);
        const b = node.verifyObject(oid);
        assert.ok(a !== undefined && b !== undefined);
        assert.equal(a.type, b.type);
        assert.ok(Buffer.from(a.data).equals(b.data), `object ${i} of ${stem}`);
      }
      assert.ok(deltas > 10, `${stem}: ${deltas} deltas`);
      assert.equal(js.openStream(idx.offsetAt(0)), undefined);
      js.close();
      node.close();
    }
  });
}
