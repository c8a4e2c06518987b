/**
 * Reading: pack indexes v1 and v2 against `git show-index`, a MIDX version 2 (unsorted pack names,
 * Git 2.54+), and the chunk-file writer's own guarantees.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, test } from 'node:test';
import { fromHex, readU32, toHex, writeU32 } from '../src/bytes.js';
import { chunkId, parseToc, writeChunkFile } from '../src/chunkfile/chunkfile.js';
import { isGitMidxError } from '../src/errors.js';
import { SHA1, SHA256 } from '../src/hash.js';
import type { ByteSink } from '../src/io.js';
import { CHUNK_OIDF, CHUNK_OIDL, CHUNK_OOFF, CHUNK_PNAM, encodePnam } from '../src/midx/chunks.js';
import { MultiPackIndex } from '../src/midx/reader.js';
import { writeMidxFile } from '../src/node/midx.js';
import { PackIndex } from '../src/pack/idx.js';
import { makeManyPacks, TestRepo } from './helpers/git.js';

const repos: TestRepo[] = [];
after(() => {
  for (const r of repos) r.cleanup();
});

function newRepo(format: 'sha1' | 'sha256'): TestRepo {
  const r = TestRepo.create({ objectFormat: format, bare: true });
  repos.push(r);
  return r;
}

for (const format of ['sha1', 'sha256'] as const) {
  test(`pack index v1 and v2, ${format}: ids, offsets and CRCs equal git show-index`, () => {
    const r = newRepo(format);
    const hash = format === 'sha1' ? SHA1 : SHA256;
    const blobs = r.writeBlobs(Array.from({ length: 40 }, (_, i) => `idx test ${i}\n`.repeat(i * 7 + 1)));
    const v1 = r.packObjects(blobs.slice(0, 25), { indexVersion: '1' });
    const v2 = r.packObjects(blobs.slice(10), { indexVersion: '2,0x100' }); // some offsets in the 64-bit table
    for (const [stem, version] of [
      [v1, 1],
      [v2, 2],
    ] as const) {
      const bytes = fs.readFileSync(path.join(r.packDir, `${stem}.idx`));
      const idx = PackIndex.fromBytes(bytes, { hash, file: `${stem}.idx` });
      assert.equal(idx.version, version);
      const shown = r
        .git(['show-index', `--object-format=${format}`], { input: bytes })
        .stdout.toString()
        .trim()
        .split('\n');
      assert.equal(idx.numObjects, shown.length);
      shown.forEach((line, i) => {
        const [off, oid, crc] = line.split(' ');
        assert.equal(toHex(idx.oidAt(i)), oid);
        assert.equal(idx.offsetAt(i), Number(off));
        assert.equal(idx.findPosition(fromHex(oid)!), i);
        assert.equal(idx.lookup(fromHex(oid)!), Number(off));
        if (version === 2) assert.equal(`(${idx.crcAt(i)!.toString(16).padStart(8, '0')})`, crc);
        else assert.equal(idx.crcAt(i), undefined);
      });
      assert.equal(idx.lookup(new Uint8Array(hash.size).fill(0xfe)), undefined);
      const packBytes = fs.readFileSync(path.join(r.packDir, `${stem}.pack`));
      assert.equal(toHex(idx.packChecksum()), toHex(packBytes.subarray(packBytes.length - hash.size)));
      idx.close();
    }
    // A MIDX over a v1 and a v2 index is still git's, byte for byte.
    r.git(['multi-pack-index', 'write']);
    const gitBytes = r.readMidx()!;
    fs.rmSync(r.midxPath);
    writeMidxFile({ objectDir: r.objectDir, hash });
    assert.ok(r.readMidx()!.equals(gitBytes));
  });
}

test('MIDX version 2: pack names in any order are read (Git 2.54+); version 1 must be sorted', () => {
  const r = newRepo('sha1');
  makeManyPacks(r, 3, 6, { duplicateEvery: 2 });
  r.git(['multi-pack-index', 'write']);
  const v1 = MultiPackIndex.fromBytes(r.readMidx()!, { hash: SHA1 });
  const P = v1.numPacks;
  // Rebuild the file with the names reversed, the pack ids remapped and version 2.
  const names = [...v1.packNames].reverse().map((n) => Buffer.from(n));
  const ooff = Buffer.from(v1.readChunk(CHUNK_OOFF)!);
  for (let i = 0; i < v1.numObjects; i++) writeU32(ooff, i * 8, P - 1 - readU32(ooff, i * 8));
  const pnam = encodePnam(names);
  const chunks = [
    { id: CHUNK_PNAM, size: pnam.length, write: (s: ByteSink) => s.write(pnam) },
    { id: CHUNK_OIDF, size: 1024, write: (s: ByteSink) => s.write(v1.readChunk(CHUNK_OIDF)!) },
    { id: CHUNK_OIDL, size: v1.numObjects * 20, write: (s: ByteSink) => s.write(v1.readChunk(CHUNK_OIDL)!) },
    { id: CHUNK_OOFF, size: ooff.length, write: (s: ByteSink) => s.write(ooff) },
  ];
  const build = (version: number) => {
    const parts: Uint8Array[] = [];
    const header = Buffer.from([0x4d, 0x49, 0x44, 0x58, version, 1, 4, 0, 0, 0, 0, P]);
    writeChunkFile({ write: (b) => parts.push(Buffer.from(b)) }, header, chunks);
    const body = Buffer.concat(parts);
    return Buffer.concat([body, createHash('sha1').update(body).digest()]);
  };
  const v2 = MultiPackIndex.fromBytes(build(2), { hash: SHA1 });
  assert.equal(v2.version, 2);
  for (let i = 0; i < v1.numObjects; i++) {
    const a = v1.lookup(v1.oidAt(i))!;
    const b = v2.lookup(v1.oidAt(i))!;
    assert.equal(b.packName, a.packName);
    assert.equal(b.offset, a.offset);
  }
  for (const n of v1.packNames)
    assert.ok(v2.containsPack(n) && v2.containsPack(n.replace(/\.idx$/, '.pack')));
  assert.throws(
    () => MultiPackIndex.fromBytes(build(1), { hash: SHA1 }),
    (e) => isGitMidxError(e, 'MIDX_PNAM_ORDER') && /pack names out of order/.test(String(e.data.git)),
  );
});

test('chunk-file writer plans offsets from sizes, writes a TOC the reader accepts, refuses a lying chunk', () => {
  const parts: Uint8Array[] = [];
  const sink: ByteSink = { write: (b) => parts.push(Buffer.from(b)) };
  const header = new Uint8Array(8);
  const a = chunkId('AAAA');
  const b = chunkId('BBBB');
  const end = writeChunkFile(sink, header, [
    { id: a, size: 8, write: (s) => s.write(new Uint8Array(8).fill(1)) },
    { id: b, size: 4, write: (s) => s.write(new Uint8Array(4).fill(2)) },
  ]);
  const file = Buffer.concat([...parts, Buffer.alloc(20)]);
  assert.equal(end, 8 + 3 * 12 + 12);
  const toc = parseToc(file.subarray(8), {
    file: 't',
    tocOffset: 8,
    count: 2,
    fileSize: file.length,
    trailerSize: 20,
  });
  assert.deepEqual(
    toc.map((c) => [c.id, c.offset, c.size]),
    [
      [a, 44, 8],
      [b, 52, 4],
    ],
  );
  assert.throws(
    () => writeChunkFile(sink, header, [{ id: a, size: 8, write: (s) => s.write(new Uint8Array(7)) }]),
    /BUG: chunk AAAA wrote 7 bytes, declared 8/,
  );
});

test('lookups on a large MIDX with skewed ids: every hit found, every miss missing, before and after sampling', () => {
  // A synthetic file (the reader does not require ids to be hashes): uniform ids, plus clusters
  // sharing their first 5 bytes, plus runs with equal bytes 1–4 across a whole bucket.
  let seed = 12345;
  const rnd = () => {
    seed = (seed * 1103515245 + 12345) >>> 0;
    return seed >>> 8;
  };
  const ids: Buffer[] = [];
  for (let i = 0; i < 30000; i++) ids.push(Buffer.from(Array.from({ length: 20 }, () => rnd() & 0xff)));
  for (let c = 0; c < 20; c++) {
    const prefix = Buffer.from(Array.from({ length: 5 }, () => rnd() & 0xff));
    for (let i = 0; i < 300; i++) {
      ids.push(Buffer.concat([prefix, Buffer.from(Array.from({ length: 15 }, () => rnd() & 0xff))]));
    }
  }
  for (let i = 0; i < 2000; i++) {
    const id = Buffer.alloc(20, 0x77);
    id.writeUInt32BE(i, 16);
    ids.push(id);
  }
  ids.sort(Buffer.compare);
  const unique = ids.filter((id, i) => i === 0 || !id.equals(ids[i - 1]));
  const n = unique.length;
  const fanout = Buffer.alloc(1024);
  for (const id of unique)
    for (let b = id[0]; b < 256; b++) fanout.writeUInt32BE(fanout.readUInt32BE(b * 4) + 1, b * 4);
  const oidl = Buffer.concat(unique);
  const ooff = Buffer.alloc(n * 8);
  for (let i = 0; i < n; i++) ooff.writeUInt32BE(12 + i, i * 8 + 4);
  const pnam = encodePnam([Buffer.from('pack-a.idx')]);
  const parts: Uint8Array[] = [];
  writeChunkFile(
    { write: (b) => parts.push(Buffer.from(b)) },
    Buffer.from([0x4d, 0x49, 0x44, 0x58, 1, 1, 4, 0, 0, 0, 0, 1]),
    [
      { id: CHUNK_PNAM, size: pnam.length, write: (s) => s.write(pnam) },
      { id: CHUNK_OIDF, size: 1024, write: (s) => s.write(fanout) },
      { id: CHUNK_OIDL, size: oidl.length, write: (s) => s.write(oidl) },
      { id: CHUNK_OOFF, size: ooff.length, write: (s) => s.write(ooff) },
    ],
  );
  const body = Buffer.concat(parts);
  const m = MultiPackIndex.fromBytes(Buffer.concat([body, createHash('sha1').update(body).digest()]), {
    hash: SHA1,
  });
  const misses: Buffer[] = [];
  for (const id of unique.slice(0, 5000)) {
    const x = Buffer.from(id);
    x[19] ^= 0x01;
    if (!unique.some((u) => u.equals(x))) misses.push(x);
  }
  for (let round = 0; round < 2; round++) {
    // round 0 crosses the sampling threshold part-way; round 1 runs entirely on the sample
    for (let i = 0; i < n; i++) assert.equal(m.findPosition(unique[i]), i);
    for (const x of misses) assert.equal(m.findPosition(x), -1);
    assert.equal(m.findPosition(Buffer.alloc(20, 0)), -1);
    assert.equal(m.findPosition(Buffer.alloc(20, 0xff)), -1);
  }
  assert.equal(m.lookup(unique[100])!.offset, 112);

  // Batch lookups: a dense batch (merge join over the file in memory), a sparse one (one search
  // per id), and the same through a paged reader; answers in input order, duplicates included.
  const file = Buffer.concat([body, createHash('sha1').update(body).digest()]);
  const paged = MultiPackIndex.open(
    {
      size: file.length,
      readInto: (into, off, len, pos) => into.set(file.subarray(pos, pos + len), off),
      close() {},
    },
    { hash: SHA1, pageSize: 4096 },
  );
  const queries = [...misses, ...unique, unique[7], ...misses.slice(0, 3)].reverse();
  const sparse = [unique[5], misses[0], unique[n - 1], unique[5], ...misses.slice(1, 250), unique[1234]];
  for (const reader of [m, paged]) {
    for (const q of [queries, sparse]) {
      const got = reader.lookupMany(Buffer.concat(q), q.length);
      q.forEach((id, i) => {
        const want = reader.findPosition(id);
        assert.equal(got.positions[i], want);
        assert.equal(got.offsets[i], want < 0 ? -1 : 12 + want);
        assert.equal(got.packIds[i], want < 0 ? -1 : 0);
        // A repeat points at an earlier query for the same id, found too.
        const r = got.repeatOf[i];
        if (r >= 0) {
          assert.ok(r < i, `repeatOf[${i}] = ${r}`);
          assert.ok(q[r].equals(id) && want >= 0);
        }
      });
    }
    // An id whose first 4 bytes no other id shares, three times in a dense batch: the later two
    // are marked as repeats of the first. (Ids sharing their first 4 bytes with others are sorted
    // by query index only, so their repeats may go unmarked, as in `queries` above.)
    const key = (i: number) => (i < 0 || i >= n ? -1 : unique[i].readUInt32BE(0));
    const lone = unique.find((_, i) => key(i) !== key(i - 1) && key(i) !== key(i + 1));
    assert.ok(lone !== undefined);
    const thrice = [lone, ...unique.slice(0, n / 2), lone, lone];
    const got = reader.lookupMany(Buffer.concat(thrice), thrice.length);
    const first = thrice.indexOf(lone);
    thrice.forEach((id, i) => {
      const dup = id === lone && i !== first;
      assert.equal(got.repeatOf[i], dup ? first : -1, `repeatOf[${i}]`);
      assert.equal(got.positions[i], reader.findPosition(id));
    });
  }

  // One at a time through the paged reader: round 0 crosses the point where the id and offset
  // tables are read whole, round 1 runs on them.
  for (let round = 0; round < 2; round++) {
    for (let i = 0; i < n; i += 3) assert.equal(paged.findPosition(unique[i]), i);
    for (const x of misses) assert.equal(paged.findPosition(x), -1);
  }
  assert.deepEqual(paged.lookup(unique[n - 1]), {
    position: n - 1,
    packId: 0,
    packName: 'pack-a.idx',
    offset: 12 + n - 1,
  });

  // Damage found on the held tables as on pages: two neighbours swapped in OIDL never give either
  // id the other's offset; an id whose byte 0 is not its fanout bucket's is not a hit.
  const oidlAt = body.indexOf(oidl);
  const damaged = (edit: (b: Buffer) => void) => {
    const b = Buffer.from(body);
    edit(b);
    return MultiPackIndex.fromBytes(Buffer.concat([b, createHash('sha1').update(b).digest()]), {
      hash: SHA1,
    });
  };
  const k = n >> 1;
  const swapped = damaged((b) => {
    unique[k + 1].copy(b, oidlAt + k * 20);
    unique[k].copy(b, oidlAt + (k + 1) * 20);
  });
  const outOfBucket = Buffer.from(unique[k]);
  outOfBucket[0] ^= 0x80;
  const moved = damaged((b) => outOfBucket.copy(b, oidlAt + k * 20));
  for (const reader of [swapped, moved]) {
    for (let i = 0; i < 5000; i++) reader.findPosition(unique[(i * 7) % (k - 1)]);
  }
  for (const id of [unique[k], unique[k + 1]]) {
    try {
      assert.equal(swapped.findPosition(id), -1);
    } catch (e) {
      assert.ok(isGitMidxError(e, 'MIDX_OID_ORDER'), String(e));
    }
  }
  assert.equal(moved.findPosition(outOfBucket), -1);
  assert.equal(moved.findPosition(unique[k + 2]), k + 2);
});
