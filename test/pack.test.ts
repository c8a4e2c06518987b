/**
 * Packfile reader and delta application (spec/objects-format.md §2, §3).
 *
 * Interop: repositories built by git (SHA-1 and SHA-256) with a 60-version file whose versions form
 * deep delta chains, trees, commits, annotated tags, a > 1 MiB compressible blob, an incompressible
 * blob and an empty one; packed by `git repack -adf --depth=50 --window=50` (OFS_DELTA) and by
 * `git pack-objects --no-delta-base-offset` (REF_DELTA). Every object must read back as
 * `git cat-file --batch` prints it, with `--batch-check`'s type and size, and hash to its id.
 *
 * Corruption: hand-built deltas for every rule of §3.3, and packs (git's, or hand-built with an idx
 * written here) that are truncated, flipped, mistyped, mis-pointed or cyclic must fail with our
 * typed error, quickly. A fast-check property mutates pack bytes and requires that only
 * GitMidxError ever comes out (fixed seed; FUZZ_RUNS=<n> for more).
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import * as zlib from 'node:zlib';
import fc from 'fast-check';
import { fromHex, toHex } from '../src/bytes.js';
import { GitMidxError } from '../src/errors.js';
import { type HashAlgorithm, SHA1, SHA256 } from '../src/hash.js';
import { bufferReader, type RandomAccessReader } from '../src/io.js';
import { nodeHash } from '../src/node/hash.js';
import { nodeInflater, openPackFile } from '../src/node/zlib.js';
import { applyDelta, deltaHeader } from '../src/pack/delta.js';
import { PackIndex } from '../src/pack/idx.js';
import { type Inflater, PackFile, type PackFileOptions, PackObjectCache } from '../src/pack/pack.js';
import { TestRepo } from './helpers/git.js';
import { buildIdx, entryHeader, leb, ofsBytes } from './helpers/pack-bytes.js';

const SEED = Number(process.env.FUZZ_SEED ?? 0x7061636b);
const RUNS = process.env.FUZZ_RUNS ? Number(process.env.FUZZ_RUNS) : undefined;
function runs(n: number): number {
  return RUNS !== undefined && Number.isFinite(RUNS) && RUNS > 0 ? RUNS : n;
}

const repos: TestRepo[] = [];
after(() => {
  for (const r of repos) r.cleanup();
});

// ---------------------------------------------------------------------------------------------
// Small helpers

function expectCode(fn: () => unknown, code: string, git?: string | RegExp): GitMidxError {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  assert.ok(caught instanceof GitMidxError, `expected GitMidxError ${code}, got ${String(caught)}`);
  assert.equal(caught.code, code, caught.message);
  if (typeof git === 'string') assert.equal(caught.data.git, git);
  else if (git) assert.match(String(caught.data.git), git);
  return caught;
}

/** Deterministic bytes (xorshift32). */
function prng(seed: number, n: number): Buffer {
  const out = Buffer.alloc(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}

function objectId(hash: HashAlgorithm, type: string, data: Uint8Array): Buffer {
  const h = nodeHash(hash);
  h.update(Buffer.from(`${type} ${data.length}\0`));
  h.update(data);
  return Buffer.from(h.digest());
}

function delta(baseSize: number, resultSize: number, ...ops: (number | number[] | Uint8Array)[]): Uint8Array {
  const bytes: number[] = [...leb(baseSize), ...leb(resultSize)];
  for (const op of ops) {
    if (typeof op === 'number') bytes.push(op);
    else bytes.push(...op);
  }
  return Uint8Array.from(bytes);
}

/** A copy instruction with the minimal argument bytes (size 0x10000 written as no size bytes). */
function copyOp(offset: number, size: number): number[] {
  let cmd = 0x80;
  const args: number[] = [];
  for (let i = 0; i < 4; i++) {
    const b = Math.floor(offset / 2 ** (8 * i)) & 0xff;
    if (b) {
      cmd |= 1 << i;
      args.push(b);
    }
  }
  const s = size === 0x10000 ? 0 : size;
  for (let i = 0; i < 3; i++) {
    const b = (s >> (8 * i)) & 0xff;
    if (b) {
      cmd |= 0x10 << i;
      args.push(b);
    }
  }
  return [cmd, ...args];
}

function insertOp(data: Uint8Array): number[] {
  return [data.length, ...data];
}

// ---------------------------------------------------------------------------------------------
// Hand-built packs and idx files

interface RawEntry {
  type: number;
  /** Uncompressed payload (object body or delta). */
  data: Uint8Array;
  /** OFS_DELTA base: the index of an earlier entry, or a raw distance. */
  ofsTo?: number;
  ofsDistance?: number;
  /** Raw distance bytes (for overflow cases). */
  ofsRaw?: number[];
  /** REF_DELTA base id. */
  ref?: Uint8Array;
  /** Size written in the header instead of data.length. */
  headerSize?: number;
  /** Compressed stream instead of deflate(data). */
  stream?: Uint8Array;
}

interface BuiltPack {
  pack: Buffer;
  offsets: number[];
  crcs: number[];
}

function buildPack(
  hash: HashAlgorithm,
  entries: RawEntry[],
  opts: { count?: number; at?: number[] } = {},
): BuiltPack {
  const parts: Buffer[] = [];
  const header = Buffer.alloc(12);
  header.write('PACK', 0, 'latin1');
  header.writeUInt32BE(2, 4);
  header.writeUInt32BE(opts.count ?? entries.length, 8);
  parts.push(header);
  let pos = 12;
  const offsets: number[] = [];
  const crcs: number[] = [];
  for (const e of entries) {
    offsets.push(pos);
    const bytes: number[] = entryHeader(e.type, e.headerSize ?? e.data.length);
    if (e.type === 6) {
      if (e.ofsRaw) bytes.push(...e.ofsRaw);
      else bytes.push(...ofsBytes(e.ofsDistance ?? pos - offsets[e.ofsTo!]));
    }
    if (e.type === 7) bytes.push(...e.ref!);
    const raw = Buffer.concat([Buffer.from(bytes), e.stream ?? zlib.deflateSync(e.data)]);
    crcs.push(zlib.crc32(raw));
    parts.push(raw);
    pos += raw.length;
  }
  const body = Buffer.concat(parts);
  const h = nodeHash(hash);
  h.update(body);
  return { pack: Buffer.concat([body, h.digest()]), offsets, crcs };
}

const FILE = 'objects/pack/pack-test.pack';

function packOptions(hash: HashAlgorithm, extra: Partial<PackFileOptions> = {}): PackFileOptions {
  return { hash, inflate: nodeInflater, hashFn: nodeHash, file: FILE, ...extra };
}

interface Hand {
  pack: Buffer;
  idx: Buffer;
  ids: Buffer[];
  offsets: number[];
}

/** A pack of `entries` whose ids are given (or computed from `objects`, in entry order). */
function handPack(hash: HashAlgorithm, entries: RawEntry[], ids: Uint8Array[]): Hand {
  const built = buildPack(hash, entries);
  const trailer = built.pack.subarray(built.pack.length - hash.size);
  const idx = buildIdx(
    hash,
    ids.map((oid, i) => ({ oid, offset: built.offsets[i], crc: built.crcs[i] })),
    trailer,
  );
  return { pack: built.pack, idx, ids: ids.map((x) => Buffer.from(x)), offsets: built.offsets };
}

/** A validated PackFile over a hand-built pack and its idx. */
function openHand(hash: HashAlgorithm, h: Hand, extra: Partial<PackFileOptions> = {}): PackFile {
  return PackFile.open(bufferReader(h.pack), PackIndex.fromBytes(h.idx, { hash }), packOptions(hash, extra));
}

// ---------------------------------------------------------------------------------------------
// Fixtures made by git

interface Expected {
  type: string;
  data: Buffer;
}

interface GitFixture {
  repo: TestRepo;
  hash: HashAlgorithm;
  /** Every object of the repository, by hex id, as `git cat-file --batch` printed it. */
  objects: Map<string, Expected>;
  /** `git cat-file --batch-check`: hex id → "type size". */
  checks: Map<string, string>;
  packs: { name: string; pack: string; idx: string; ids: string[] }[];
}

const DATE = '1112911993 +0000';

function fastImportStream(): Buffer {
  const parts: Buffer[] = [];
  const text = (s: string) => parts.push(Buffer.from(s, 'utf8'));
  const data = (b: Buffer | string) => {
    const buf = typeof b === 'string' ? Buffer.from(b, 'utf8') : b;
    text(`data ${buf.length}\n`);
    parts.push(buf);
    text('\n');
  };
  // One growing file: each version inserts a line at a pseudo-random place, so a version is
  // closest to its neighbours and git builds long chains (newest whole, older ones as deltas).
  const lines: string[] = [];
  const pick = prng(42, 256);
  for (let i = 1; i <= 60; i++) {
    for (let j = 0; j < 4; j++) {
      const at = lines.length === 0 ? 0 : pick[(i * 4 + j) % 256] % (lines.length + 1);
      lines.splice(at, 0, `line ${i}.${j}: ${'lorem ipsum dolor sit amet '.repeat(1 + (i % 3))}\n`);
    }
    text(`commit refs/heads/main\nmark :${i}\ncommitter C O Mitter <committer@example.com> ${DATE}\n`);
    data(`commit ${i}\n\nedits grow.txt (${lines.length} lines)\n`);
    if (i > 1) text(`from :${i - 1}\n`);
    text('M 100644 inline grow.txt\n');
    data(lines.join(''));
    if (i % 10 === 1) {
      text(`M 100644 inline dir/sub/note-${i}.txt\n`);
      data(`note ${i}\n`.repeat(i));
    }
    if (i === 20) {
      let big = '';
      for (let r = 0; big.length < 1_300_000; r++)
        big += `row ${r} value ${(r * 7919) % 10007} ${'x'.repeat(r % 40)}\n`;
      text('M 100644 inline big.txt\n');
      data(big);
      text('M 100644 inline random.bin\n');
      data(prng(7, 300_000));
      text('M 100644 inline empty\n');
      data('');
    }
  }
  text(`tag v1\nfrom :10\ntagger T Agger <tagger@example.com> ${DATE}\n`);
  data('version one\n');
  text(`tag v2\nfrom :60\ntagger T Agger <tagger@example.com> ${DATE}\n`);
  data('version two\n\nwith a body\n');
  text('done\n');
  return Buffer.concat(parts);
}

function parseBatch(out: Buffer): Map<string, Expected> {
  const map = new Map<string, Expected>();
  let p = 0;
  while (p < out.length) {
    const nl = out.indexOf(10, p);
    const [oid, type, size] = out.subarray(p, nl).toString('latin1').split(' ');
    const n = Number(size);
    assert.ok(Number.isInteger(n), `cat-file --batch line: ${out.subarray(p, nl).toString()}`);
    map.set(oid, { type, data: out.subarray(nl + 1, nl + 1 + n) });
    p = nl + 1 + n + 1;
  }
  return map;
}

function showIndex(repo: TestRepo, idxPath: string): string[] {
  return repo
    .gitText(['show-index'], fs.readFileSync(idxPath))
    .split('\n')
    .map((line) => line.split(' ')[1]);
}

function makeFixture(objectFormat: 'sha1' | 'sha256'): GitFixture {
  const repo = TestRepo.create({ objectFormat, bare: true });
  repos.push(repo);
  const hash = objectFormat === 'sha1' ? SHA1 : SHA256;
  repo.git(['fast-import', '--quiet', '--done'], { input: fastImportStream() });
  repo.git(['repack', '-adfq', '--depth=50', '--window=50']);
  const stems = repo.listPackStems();
  assert.equal(stems.length, 1);
  const ofsPack = path.join(repo.packDir, `${stems[0]}.pack`);
  const ofsIdx = path.join(repo.packDir, `${stems[0]}.idx`);
  // REF_DELTA: the same objects and deltas written with base ids instead of distances.
  const scratch = repo.scratchDir();
  const refHex = repo.gitText(
    ['pack-objects', '-q', '--revs', '--all', '--no-delta-base-offset', path.join(scratch, 'ref')],
    '',
  );
  const refPack = path.join(scratch, `ref-${refHex}.pack`);
  const refIdx = path.join(scratch, `ref-${refHex}.idx`);
  // The same pack described by an idx v1.
  const v1Idx = path.join(scratch, 'v1.idx');
  repo.git(['index-pack', '--index-version=1', '-o', v1Idx, refPack]);

  const ids = showIndex(repo, ofsIdx);
  const input = `${ids.join('\n')}\n`;
  const objects = parseBatch(repo.git(['cat-file', '--batch'], { input }).stdout);
  const checks = new Map<string, string>();
  for (const line of repo.gitText(['cat-file', '--batch-check'], input).split('\n')) {
    const [oid, type, size] = line.split(' ');
    checks.set(oid, `${type} ${size}`);
  }
  assert.equal(objects.size, ids.length);
  return {
    repo,
    hash,
    objects,
    checks,
    packs: [
      { name: 'OFS_DELTA (repack -adf --depth=50)', pack: ofsPack, idx: ofsIdx, ids },
      {
        name: 'REF_DELTA (pack-objects --no-delta-base-offset)',
        pack: refPack,
        idx: refIdx,
        ids: showIndex(repo, refIdx),
      },
      { name: 'REF_DELTA with an idx v1', pack: refPack, idx: v1Idx, ids: showIndex(repo, v1Idx) },
    ],
  };
}

function openIndex(hash: HashAlgorithm, idxPath: string): PackIndex {
  return PackIndex.fromBytes(fs.readFileSync(idxPath), { hash, file: idxPath });
}

/** Depth of the delta chain of each entry, and the entry types, walked through entryAt. */
function chainStats(pack: PackFile, offsets: number[]): { maxDepth: number; types: Set<number> } {
  const types = new Set<number>();
  let maxDepth = 0;
  for (const off of offsets) {
    let e = pack.entryAt(off);
    types.add(e.type);
    let depth = 0;
    while (e.type >= 6) {
      depth++;
      const base = e.type === 6 ? e.baseOffset! : pack.idx.offsetAt(pack.idx.findPosition(e.baseOid!));
      e = pack.entryAt(base);
    }
    maxDepth = Math.max(maxDepth, depth);
  }
  return { maxDepth, types };
}

for (const format of ['sha1', 'sha256'] as const) {
  describe(`packs written by git (${format})`, () => {
    let fx: GitFixture;
    before(() => {
      fx = makeFixture(format);
    });

    test('every object equals git cat-file, with --batch-check info, in all three packs', (t) => {
      const seenTypes = new Set<string>();
      for (const p of fx.packs) {
        const idx = openIndex(fx.hash, p.idx);
        const pack = openPackFile(p.pack, idx);
        try {
          assert.equal(pack.numObjects, fx.objects.size, p.name);
          assert.deepEqual([...p.ids].sort(), [...fx.objects.keys()].sort(), p.name);
          const offsets = p.ids.map((id) => idx.offsetAt(idx.findPosition(fromHex(id)!)));
          const stats = chainStats(pack, offsets);
          if (p.name.startsWith('OFS')) {
            assert.ok(stats.types.has(6) && !stats.types.has(7), `${p.name}: types ${[...stats.types]}`);
          } else {
            assert.ok(stats.types.has(7) && !stats.types.has(6), `${p.name}: types ${[...stats.types]}`);
          }
          assert.ok(stats.maxDepth >= 20, `${p.name}: deepest chain only ${stats.maxDepth}`);
          t.diagnostic(
            `${p.name}: ${p.ids.length} objects, entry types ${[...stats.types].sort()}, deepest chain ${stats.maxDepth}`,
          );
          for (const id of p.ids) {
            const oid = fromHex(id)!;
            const want = fx.objects.get(id)!;
            const got = pack.readObject(oid);
            assert.ok(got, `${p.name}: ${id} not found`);
            assert.equal(got.type, want.type, `${p.name}: type of ${id}`);
            assert.ok(Buffer.from(got.data).equals(want.data), `${p.name}: content of ${id}`);
            const info = pack.objectInfo(oid)!;
            assert.equal(`${info.type} ${info.size}`, fx.checks.get(id), `${p.name}: info of ${id}`);
            assert.ok(pack.verifyObject(oid));
            seenTypes.add(got.type);
          }
          // An id that is not in the pack.
          const absent = new Uint8Array(fx.hash.size).fill(0xfe);
          assert.equal(pack.readObject(absent), undefined);
          assert.equal(pack.objectInfo(absent), undefined);
          assert.equal(pack.verifyObject(absent), undefined);
        } finally {
          pack.close();
          idx.close();
        }
      }
      assert.deepEqual([...seenTypes].sort(), ['blob', 'commit', 'tag', 'tree']);
      const sizes = [...fx.objects.values()].map((o) => o.data.length);
      assert.ok(sizes.some((s) => s > 1 << 20) && sizes.includes(0) && sizes.includes(300_000));
    });

    test('no cache, a tiny cache, reverse order, and a paged file reader give the same bytes', () => {
      const p = fx.packs[0];
      const idx = openIndex(fx.hash, p.idx);
      const bytes = fs.readFileSync(p.pack);
      const ids = [...p.ids].reverse();
      for (const extra of [{ cacheBytes: 0 }, { cacheBytes: 4096 }, { cacheBytes: 0, pageSize: 512 }]) {
        // A reader that counts: the pack is never read whole.
        let largest = 0;
        const reader: RandomAccessReader = {
          size: bytes.length,
          readInto(into, offset, length, position) {
            largest = Math.max(largest, length);
            into.set(bytes.subarray(position, position + length), offset);
          },
          close() {},
        };
        const pack = PackFile.open(reader, idx, packOptions(fx.hash, extra));
        for (const id of ids) {
          const got = pack.readObject(fromHex(id)!)!;
          const want = fx.objects.get(id)!;
          assert.equal(got.type, want.type);
          assert.ok(Buffer.from(got.data).equals(want.data), id);
        }
        assert.ok(largest < bytes.length, `largest read ${largest} of a ${bytes.length}-byte pack`);
      }
      idx.close();
    });

    test('validity checks as git makes them (§2.5)', () => {
      const p = fx.packs[0];
      const idx = openIndex(fx.hash, p.idx);
      const good = fs.readFileSync(p.pack);
      const open = (b: Uint8Array) => PackFile.open(bufferReader(b), idx, packOptions(fx.hash));
      open(good).close();
      const v3 = Buffer.from(good);
      v3.writeUInt32BE(3, 4);
      open(v3).close();
      expectCode(
        () => open(good.subarray(0, 11)),
        'PACK_TOO_SHORT',
        `file ${FILE} is far too short to be a packfile`,
      );
      const sig = Buffer.from(good);
      sig.write('PACX', 0, 'latin1');
      expectCode(() => open(sig), 'PACK_BAD_SIGNATURE', `file ${FILE} is not a GIT packfile`);
      const v4 = Buffer.from(good);
      v4.writeUInt32BE(4, 4);
      expectCode(
        () => open(v4),
        'PACK_BAD_VERSION',
        `packfile ${FILE} is version 4 and not supported (try upgrading GIT to a newer version)`,
      );
      const count = Buffer.from(good);
      count.writeUInt32BE(idx.numObjects + 1, 8);
      expectCode(
        () => open(count),
        'PACK_MISMATCH',
        `packfile ${FILE} claims to have ${idx.numObjects + 1} objects while index indicates ${idx.numObjects} objects`,
      );
      const trailer = Buffer.from(good);
      trailer[trailer.length - 1] ^= 1;
      expectCode(() => open(trailer), 'PACK_MISMATCH', `packfile ${FILE} does not match index`);
      expectCode(() => open(good.subarray(0, good.length >> 1)), 'PACK_MISMATCH');
      expectCode(
        () => new PackFile(bufferReader(good), idx, packOptions(fx.hash === SHA1 ? SHA256 : SHA1)),
        'INVALID_ARGUMENT',
      );
      idx.close();
    });

    test('a truncated pack and flipped bytes inside a zlib stream give typed errors', () => {
      const p = fx.packs[0];
      const idx = openIndex(fx.hash, p.idx);
      const good = fs.readFileSync(p.pack);
      const byOffset = p.ids
        .map((id) => ({ id, oid: fromHex(id)!, offset: idx.offsetAt(idx.findPosition(fromHex(id)!)) }))
        .sort((a, b) => a.offset - b.offset);
      // Truncated 5 bytes into the middle entry: entries past the cut are out of range, the one across it cannot inflate.
      const middle = byOffset[byOffset.length >> 1];
      const cut = middle.offset + fx.hash.size + 5;
      const half = new PackFile(bufferReader(good.subarray(0, cut)), idx, packOptions(fx.hash));
      const codes = new Set<string>();
      for (const o of byOffset) {
        try {
          half.readObject(o.oid);
          half.objectInfo(o.oid);
        } catch (e) {
          assert.ok(e instanceof GitMidxError, String(e));
          codes.add(e.code);
          assert.ok(['PACK_BAD_OBJECT', 'PACK_INFLATE', 'PACK_BAD_DELTA'].includes(e.code), e.message);
          assert.ok(e.message.includes(FILE), e.message);
        }
      }
      assert.ok(codes.has('PACK_BAD_OBJECT'), [...codes].join());
      const past = byOffset.find((o) => o.offset >= cut - fx.hash.size)!;
      expectCode(
        () => half.readObject(past.oid),
        'PACK_BAD_OBJECT',
        'offset beyond end of packfile (truncated pack?)',
      );

      // Flip bytes in the middle of the biggest whole object's stream.
      const probe = new PackFile(bufferReader(good), idx, packOptions(fx.hash));
      const whole = byOffset
        .map((o, i) => ({
          ...o,
          e: probe.entryAt(o.offset),
          next: byOffset[i + 1]?.offset ?? good.length - fx.hash.size,
        }))
        .filter((o) => o.e.type === 3 && o.next - o.e.dataOffset > 200)
        .sort((a, b) => b.e.size - a.e.size)[0];
      const flipped = Buffer.from(good);
      const mid = (whole.e.dataOffset + whole.next) >> 1;
      for (let i = 0; i < 8; i++) flipped[mid + i] ^= 0x5a;
      const bad = new PackFile(bufferReader(flipped), idx, packOptions(fx.hash));
      expectCode(() => bad.readObject(whole.oid), 'PACK_INFLATE');
      // Like git --batch-check, the info query reads only the header.
      assert.equal(bad.objectInfo(whole.oid)!.size, whole.e.size);

      // Type 5 in that entry's header.
      const t5 = Buffer.from(good);
      t5[whole.offset] = (t5[whole.offset] & 0x8f) | (5 << 4);
      const bad5 = new PackFile(bufferReader(t5), idx, packOptions(fx.hash));
      const e5 = expectCode(
        () => bad5.readObject(whole.oid),
        'PACK_BAD_OBJECT',
        `unknown object type 5 at offset ${whole.offset} in ${FILE}`,
      );
      assert.equal(e5.data.offset, whole.offset);
      expectCode(() => bad5.objectInfo(whole.oid), 'PACK_BAD_OBJECT');
      idx.close();
    });
  });
}

// ---------------------------------------------------------------------------------------------
// Deltas (§3)

describe('deltas', () => {
  const base = prng(1, 200_000);

  test('headers: little-endian sizes (§3.1)', () => {
    assert.deepEqual(deltaHeader(Uint8Array.from([0xb8, 0x05, 0xb4, 0x05])), {
      baseSize: 696,
      resultSize: 692,
      offset: 4,
    });
    assert.deepEqual(deltaHeader(Uint8Array.from([0xf0, 0xa2, 0x04, 0x01])), {
      baseSize: 70000,
      resultSize: 1,
      offset: 4,
    });
    // The parser stops at the buffer end even with the continuation bit set.
    assert.deepEqual(deltaHeader(Uint8Array.from([0x05, 0x85])), { baseSize: 5, resultSize: 5, offset: 2 });
    expectCode(() => deltaHeader(new Uint8Array(12).fill(0xff)), 'PACK_BAD_DELTA');
  });

  test('copy and insert instructions (§3.2)', () => {
    // `80` alone copies 0x10000 bytes from offset 0.
    let out = applyDelta(base, delta(base.length, 0x10000, 0x80));
    assert.ok(Buffer.from(out).equals(base.subarray(0, 0x10000)));
    // Present bytes keep their place value: 85 10 01 = offset 0x010010, size 0x10000.
    out = applyDelta(base, delta(base.length, 0x10000, 0x85, 0x10, 0x01));
    assert.ok(Buffer.from(out).equals(base.subarray(0x010010, 0x020010)));
    // a0 02: size byte s1 only = 0x200, offset 0.
    out = applyDelta(base, delta(base.length, 0x200, 0xa0, 0x02));
    assert.ok(Buffer.from(out).equals(base.subarray(0, 0x200)));
    // s2 alone: 0x010000 bytes from offset 0x0300 (c2 03 01 → offset bytes o1, size byte s2).
    out = applyDelta(base, delta(base.length, 0x10000, 0xc2, 0x03, 0x01));
    assert.ok(Buffer.from(out).equals(base.subarray(0x300, 0x10300)));
    // A mix: copy, insert, copy of the last byte; an empty result from an empty base.
    const ins = Buffer.from('inserted!');
    out = applyDelta(
      base,
      delta(base.length, 100 + ins.length + 1, copyOp(5, 100), insertOp(ins), copyOp(base.length - 1, 1)),
    );
    assert.ok(
      Buffer.from(out).equals(Buffer.concat([base.subarray(5, 105), ins, base.subarray(base.length - 1)])),
    );
    // An empty result needs a padded header to reach 4 bytes (80 00 = 0 with a continuation).
    assert.equal(applyDelta(new Uint8Array(0), Uint8Array.from([0x80, 0x00, 0x80, 0x00])).length, 0);
  });

  const bad: [string, Uint8Array, Uint8Array, string][] = [
    ['shorter than 4 bytes', base, Uint8Array.from([0x80, 0x80, 0x01]), 'failed to apply delta'],
    [
      'base size mismatch',
      base,
      delta(base.length + 1, 1, insertOp(Buffer.from('a'))),
      'failed to apply delta',
    ],
    ['copy arguments truncated', base, delta(base.length, 10, 0x91, 0x05), 'delta replay has gone wild'],
    [
      'copy offset byte missing at the end',
      base,
      delta(base.length, 10, insertOp(Buffer.from('abc')), 0x81),
      'delta replay has gone wild',
    ],
    [
      'copy past the base end',
      base,
      delta(base.length, 16, copyOp(base.length - 8, 16)),
      'delta replay has gone wild',
    ],
    [
      'copy 0x10000 from a smaller base',
      base.subarray(0, 0x8000),
      delta(0x8000, 0x10000, 0x80),
      'delta replay has gone wild',
    ],
    [
      'copy with a 32-bit offset',
      base,
      delta(base.length, 1, 0x9f, 0xff, 0xff, 0xff, 0xff, 0x01),
      'delta replay has gone wild',
    ],
    [
      'copy larger than the result',
      base,
      delta(base.length, 10, copyOp(0, 11)),
      'delta replay has gone wild',
    ],
    [
      'insert past the delta end',
      base,
      delta(base.length, 5, 0x05, 0x61, 0x62),
      'delta replay has gone wild',
    ],
    [
      'insert larger than the result',
      base,
      delta(base.length, 2, insertOp(Buffer.from('abc'))),
      'delta replay has gone wild',
    ],
    [
      'opcode 0',
      base,
      delta(base.length, 2, insertOp(Buffer.from('a')), 0x00, insertOp(Buffer.from('b'))),
      'unexpected delta opcode 0',
    ],
    [
      'result shorter than the header',
      base,
      delta(base.length, 10, copyOp(0, 9)),
      'delta replay has gone wild',
    ],
    ['result size with no instructions', base, delta(base.length, 7, []), 'delta replay has gone wild'],
    ['a huge result size', base, delta(base.length, 2 ** 40, 0x80, 0x80), 'failed to apply delta'],
    [
      'a 2 GiB result from 2 bytes',
      base,
      delta(base.length, 2 ** 31, 0x80, 0x80),
      'delta replay has gone wild',
    ],
  ];
  for (const [name, b, d, git] of bad) {
    test(`rejected: ${name}`, () => {
      const e = expectCode(() => applyDelta(b, d, { file: 'x.pack', offset: 1234 }), 'PACK_BAD_DELTA', git);
      assert.match(e.message, /^x\.pack: delta at offset 1234: /);
      assert.equal(e.data.offset, 1234);
    });
  }

  test('property: encoded instructions replay; random bytes only ever fail with PACK_BAD_DELTA', () => {
    const small = base.subarray(0, 70_000);
    const op = fc.oneof(
      fc.record({
        copy: fc.constant(true),
        off: fc.nat(small.length - 1),
        len: fc.integer({ min: 1, max: 0x10000 }),
      }),
      fc.record({ copy: fc.constant(false), bytes: fc.uint8Array({ minLength: 1, maxLength: 127 }) }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 20 }), (ops) => {
        const parts: Uint8Array[] = [];
        const code: number[] = [];
        for (const o of ops) {
          if (o.copy) {
            const len = Math.min(o.len, small.length - o.off);
            parts.push(small.subarray(o.off, o.off + len));
            code.push(...copyOp(o.off, len));
          } else {
            parts.push(o.bytes);
            code.push(...insertOp(o.bytes));
          }
        }
        const want = Buffer.concat(parts);
        const d = delta(small.length, want.length, code);
        if (d.length < 4) return;
        assert.ok(Buffer.from(applyDelta(small, d)).equals(want));
      }),
      { seed: SEED, numRuns: runs(200) },
    );
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), fc.nat(300), (d, n) => {
        try {
          applyDelta(base.subarray(0, n), d);
        } catch (e) {
          assert.ok(e instanceof GitMidxError && e.code === 'PACK_BAD_DELTA', String(e));
        }
      }),
      { seed: SEED, numRuns: runs(500) },
    );
  });
});

// ---------------------------------------------------------------------------------------------
// Hand-built packs: resolution details and corruption

for (const hash of [SHA1, SHA256]) {
  describe(`hand-built packs (${hash.name})`, () => {
    const baseData = Buffer.from('The quick brown fox jumps over the lazy dog.\n'.repeat(40));
    const v2 = Buffer.concat([baseData.subarray(0, 900), Buffer.from('a new tail\n')]);
    const d2 = delta(baseData.length, v2.length, copyOp(0, 900), insertOp(Buffer.from('a new tail\n')));
    const v3 = Buffer.concat([Buffer.from('head\n'), v2]);
    const d3 = delta(v2.length, v3.length, insertOp(Buffer.from('head\n')), copyOp(0, v2.length));
    const idBase = objectId(hash, 'blob', baseData);
    const id2 = objectId(hash, 'blob', v2);
    const id3 = objectId(hash, 'blob', v3);

    test('OFS and REF deltas, a REF base after its delta, and a chain mixing both', () => {
      // Entry order: REF delta (v3 → base v2, stored later), base, OFS delta (v2 → base).
      const h = handPack(
        hash,
        [
          { type: 7, data: d3, ref: id2 },
          { type: 3, data: baseData },
          { type: 6, data: d2, ofsTo: 1 },
        ],
        [id3, idBase, id2],
      );
      const pack = openHand(hash, h);
      for (const [id, want] of [
        [id3, v3],
        [idBase, baseData],
        [id2, v2],
      ] as const) {
        const got = pack.verifyObject(id)!;
        assert.equal(got.type, 'blob');
        assert.ok(Buffer.from(got.data).equals(want));
        assert.deepEqual(pack.objectInfo(id), { type: 'blob', size: want.length });
      }
      const e = pack.entryAt(h.offsets[2]);
      assert.equal(e.type, 6);
      assert.equal(e.baseOffset, h.offsets[1]);
      assert.equal(e.size, d2.length);
      assert.equal(e.headerLength, entryHeader(6, d2.length).length);
      const r = pack.entryAt(h.offsets[0]);
      assert.ok(r.baseOid && Buffer.from(r.baseOid).equals(id2));
      assert.equal(r.dataOffset, h.offsets[0] + r.headerLength + hash.size);
    });

    test('a 200-deep OFS chain and a 200-deep REF chain resolve without recursion', () => {
      const entries: RawEntry[] = [{ type: 1, data: Buffer.from('tree 0\n') }];
      const versions: Buffer[] = [Buffer.from('tree 0\n')];
      for (let i = 1; i <= 200; i++) {
        const prev = versions[i - 1];
        const add = Buffer.from(`line ${i}\n`);
        versions.push(Buffer.concat([prev, add]));
        const d = delta(prev.length, prev.length + add.length, copyOp(0, prev.length), insertOp(add));
        entries.push(
          i % 2
            ? { type: 6, data: d, ofsTo: i - 1 }
            : { type: 7, data: d, ref: objectId(hash, 'commit', prev) },
        );
      }
      const ids = versions.map((v) => objectId(hash, 'commit', v));
      const h = handPack(hash, entries, ids);
      for (const cacheBytes of [0, 1 << 20]) {
        const pack = openHand(hash, h, { cacheBytes });
        const top = pack.verifyObject(ids[200])!;
        assert.equal(top.type, 'commit');
        assert.ok(Buffer.from(top.data).equals(versions[200]));
        assert.deepEqual(pack.objectInfo(ids[137]), { type: 'commit', size: versions[137].length });
        for (let i = 0; i <= 200; i += 7)
          assert.ok(Buffer.from(pack.readObject(ids[i])!.data).equals(versions[i]));
      }
    });

    /**
     * A chain of blobs, each an OFS delta on the one before that appends `add(i)` to it; the first
     * is `first`, stored whole. Returns the versions, their ids and the hand-built pack.
     */
    const appendChain = (first: string, count: number, add: (i: number) => string) => {
      const versions: Buffer[] = [Buffer.from(first)];
      const entries: RawEntry[] = [{ type: 3, data: versions[0] }];
      for (let i = 1; i < count; i++) {
        const prev = versions[i - 1];
        const more = Buffer.from(add(i));
        versions.push(Buffer.concat([prev, more]));
        entries.push({
          type: 6,
          data: delta(prev.length, prev.length + more.length, copyOp(0, prev.length), insertOp(more)),
          ofsTo: i - 1,
        });
      }
      const ids = versions.map((v) => objectId(hash, 'blob', v));
      return { versions, ids, h: handPack(hash, entries, ids) };
    };

    test('packs sharing one PackObjectCache stay within its budgets together', () => {
      // Two copies of a 60-deep chain, each object 8 bytes longer than its base (up to ~500 bytes).
      const { versions, ids, h } = appendChain('blob 0\n', 61, (i) => `line ${String(i).padStart(2, '0')}\n`);
      const shared = new PackObjectCache(2000, 6);
      const a = openHand(hash, h, { baseCache: shared });
      const b = openHand(hash, h, { baseCache: shared });
      try {
        for (let i = 60; i >= 0; i -= 3) {
          for (const pack of [a, b]) {
            assert.ok(Buffer.from(pack.readObject(ids[i])!.data).equals(versions[i]), `version ${i}`);
            assert.ok(
              shared.bytes <= 2000 && shared.entries <= 6,
              `${shared.bytes} bytes, ${shared.entries} entries`,
            );
          }
        }
        assert.ok(shared.entries > 0);
        // Entries of both packs are in the shared list; closing one takes out exactly its own.
        const before = shared.entries;
        for (let i = 0; i < 6; i++) a.readObject(ids[40 + i]);
        const mixed = shared.entries;
        a.close();
        assert.ok(shared.entries < mixed && shared.entries >= 0, `${mixed} -> ${shared.entries}`);
        let bytes = 0;
        for (let c = shared.oldest; c !== undefined; c = c.newer) bytes += c.data.length;
        assert.equal(bytes, shared.bytes);
        assert.ok(before > 0);
        // The other pack still reads from what is left, and correctly.
        for (let i = 0; i <= 60; i += 5)
          assert.ok(Buffer.from(b.readObject(ids[i])!.data).equals(versions[i]));
      } finally {
        b.close();
      }
      assert.equal(shared.entries, 0);
      assert.equal(shared.bytes, 0);
    });

    test('small cached bases live in a bounded number of slabs, every read still exact', () => {
      // A 120-deep chain of small blobs. In each of ten phases one more early version becomes hot
      // (its child is read again and again, so the cache keeps it as a base, in the slab being
      // filled then) among scattered reads of late versions that fill slab after slab: without a
      // bound, every phase would leave a slab alive for its hot entry.
      const { versions, ids, h } = appendChain(
        'blob 0\n',
        121,
        (i) => `line ${String(i).padStart(3, '0')}\n`,
      );
      const cache = new PackObjectCache(20000, 64);
      const pack = openHand(hash, h, { baseCache: cache });
      const check = (i: number, r: number) => {
        const at = pack.idx.offsetAt(pack.idx.findPosition(ids[i]));
        const got = r % 2 === 0 ? pack.dataViewAt(at) : pack.readObject(ids[i])!.data;
        assert.ok(Buffer.from(got).equals(versions[i]), `version ${i}, read ${r}`);
      };
      try {
        let most = 0;
        let x = 7;
        for (let phase = 0; phase < 10; phase++) {
          for (let r = 0; r < 800; r++) {
            x = (x * 1103515245 + 12345) % 2147483648;
            check(60 + (x % 61), r);
            for (let q = 0; q <= phase; q++) check(3 * q + 2, r);
            most = Math.max(most, cache.slabCount);
            assert.ok(cache.bytes <= 20000 && cache.entries <= 64);
          }
        }
        assert.ok(cache.entries > 0 && cache.slabCount > 0);
        // About twice the byte budget in slabs at most (at least four slabs).
        assert.ok(most <= 4, `${most} slabs`);
      } finally {
        pack.close();
      }
      assert.equal(cache.entries, 0);
      assert.equal(cache.slabCount, 0);
    });

    test('a scan in pack order (dataViewAt) inflates each entry of a delta chain once', () => {
      // Each version is a delta on the one before it, which lies just before it in the pack: a
      // scan in offset order meets every base right before its delta.
      const { versions, ids, h } = appendChain('blob 0\n', 61, (i) => `line ${String(i).padStart(2, '0')}\n`);
      let inflations = 0;
      const counting: Inflater = {
        ...nodeInflater,
        inflate(input, size) {
          inflations++;
          return nodeInflater.inflate(input, size);
        },
        inflateExact(input, start, end, out, size) {
          inflations++;
          return nodeInflater.inflateExact!(input, start, end, out, size);
        },
      };
      const pack = openHand(hash, h, { inflate: counting });
      try {
        const order = ids
          .map((id, i) => ({ i, at: pack.idx.offsetAt(pack.idx.findPosition(id)) }))
          .sort((x, y) => x.at - y.at);
        for (const { i, at } of order) {
          assert.ok(Buffer.from(pack.dataViewAt(at)).equals(versions[i]), `version ${i}`);
        }
        // Once each, and the whole blob at the bottom once more, as the first delta's base (a scan
        // keeps whole trees, and every delta result, but not whole blobs: most are no one's base).
        assert.equal(inflations, versions.length + 1);
      } finally {
        pack.close();
      }
    });

    test('a chain of large objects reads exactly in every order, with bases and levels apart', () => {
      // 40 versions of a 12 KB blob (past the size the cache copies into its slabs), each a delta
      // on the one before. Read newest first (down the chain, as a file's history is read: that
      // walk keeps every level it builds), oldest first, and scattered, each with fresh caches.
      let text = '';
      for (let i = 0; i < 200; i++) text += `${String(i).padStart(4, '0')} ${'x'.repeat(55)}\n`;
      const { versions, ids, h } = appendChain(text, 40, (i) => `version ${i}\n`);
      assert.ok(versions[0].length > 12000);
      const orders = {
        newestFirst: [...ids.keys()].reverse(),
        oldestFirst: [...ids.keys()],
        scattered: [...ids.keys()].map((i) => (i * 17) % 40),
      };
      for (const [name, order] of Object.entries(orders)) {
        const baseCache = new PackObjectCache(8 << 20, 1024);
        const levelCache = new PackObjectCache(4 << 20, 256);
        const pack = openHand(hash, h, { baseCache, levelCache });
        try {
          for (const i of order) {
            const got = pack.readObject(ids[i])!;
            assert.ok(Buffer.from(got.data).equals(versions[i]), `${name}: version ${i}`);
          }
          if (name === 'newestFirst') {
            // The walk from the newest version kept the levels below it.
            assert.ok(levelCache.entries >= 30, `${levelCache.entries} levels kept`);
          }
          assert.ok(baseCache.entries >= 1);
        } finally {
          pack.close();
        }
        assert.equal(levelCache.entries, 0);
      }
    });

    test('objects past 4 GiB and OFS distances over 2^32 (a sparse 5 GiB pack)', () => {
      const small = buildPack(hash, [{ type: 3, data: baseData }]);
      const far = 5 * 2 ** 30 + 7;
      const farEntry = Buffer.concat([
        Buffer.from([...entryHeader(6, d2.length), ...ofsBytes(far - 12)]),
        zlib.deflateSync(d2),
      ]);
      const far2 = far + farEntry.length + 100;
      const refEntry = Buffer.concat([
        Buffer.from([...entryHeader(7, d3.length), ...id2]),
        zlib.deflateSync(d3),
      ]);
      const size = far2 + refEntry.length + 1000 + hash.size;
      const trailer = prng(3, hash.size);
      const segments: [number, Uint8Array][] = [
        [0, small.pack.subarray(0, small.pack.length - hash.size)],
        [far, farEntry],
        [far2, refEntry],
        [size - hash.size, trailer],
      ];
      const header = Buffer.from(segments[0][1]);
      header.writeUInt32BE(3, 8);
      segments[0][1] = header;
      const reader: RandomAccessReader = {
        size,
        readInto(into, offset, length, position) {
          into.fill(0, offset, offset + length);
          for (const [at, bytes] of segments) {
            const lo = Math.max(at, position);
            const hi = Math.min(at + bytes.length, position + length);
            if (lo < hi) into.set(bytes.subarray(lo - at, hi - at), offset + lo - position);
          }
        },
        close() {},
      };
      const idx = buildIdx(
        hash,
        [
          { oid: idBase, offset: 12, crc: 0 },
          { oid: id2, offset: far, crc: 0 },
          { oid: id3, offset: far2, crc: 0 },
        ],
        trailer,
      );
      const index = PackIndex.fromBytes(idx, { hash });
      const pack = PackFile.open(reader, index, packOptions(hash));
      assert.equal(pack.entryAt(far).baseOffset, 12);
      assert.ok(Buffer.from(pack.verifyObject(id2)!.data).equals(v2));
      assert.ok(Buffer.from(pack.verifyObject(id3)!.data).equals(v3));
      assert.deepEqual(pack.objectInfo(id3), { type: 'blob', size: v3.length });
    });

    test('REF_DELTA cycles are detected, for reads and for info', () => {
      const a = prng(11, hash.size);
      const b = prng(12, hash.size);
      const c = prng(13, hash.size);
      const d = delta(10, 10, copyOp(0, 10));
      const two = handPack(
        hash,
        [
          { type: 7, data: d, ref: b },
          { type: 7, data: d, ref: a },
        ],
        [a, b],
      );
      const self = handPack(hash, [{ type: 7, data: d, ref: c }], [c]);
      const three = handPack(
        hash,
        [
          { type: 7, data: d, ref: b },
          { type: 7, data: d, ref: c },
          { type: 7, data: d, ref: a },
        ],
        [a, b, c],
      );
      for (const h of [two, self, three]) {
        const pack = openHand(hash, h);
        for (const id of h.ids) {
          expectCode(() => pack.readObject(id), 'PACK_DELTA_CYCLE');
          expectCode(() => pack.objectInfo(id), 'PACK_DELTA_CYCLE');
        }
      }
    });

    test('bad base references: OFS distance 0, past the start, into the header, overflowing; REF base absent', () => {
      const cases: [string, RawEntry, string | RegExp][] = [
        ['distance 0', { type: 6, data: d2, ofsDistance: 0 }, /delta base offset is out of bound$/],
        ['past the start', { type: 6, data: d2, ofsDistance: 5000 }, /delta base offset is out of bound$/],
        ['into the header', { type: 6, data: d2, ofsTo: 0, ofsDistance: 0 }, /./],
        [
          'overflow',
          { type: 6, data: d2, ofsRaw: [...new Array(10).fill(0xff), 0x7f] },
          /offset value overflow/,
        ],
        [
          'REF base absent',
          { type: 7, data: d2, ref: prng(99, hash.size) },
          /failed to validate delta base reference/,
        ],
      ];
      for (const [name, entry, git] of cases) {
        const entries: RawEntry[] = [{ type: 3, data: baseData }, entry];
        if (name === 'into the header') {
          // Distance leaves the base at offset 4, inside the 12-byte header.
          const first = buildPack(hash, [{ type: 3, data: baseData }]);
          entry.ofsDistance = first.pack.length - hash.size - 4;
        }
        const h = handPack(hash, entries, [idBase, id2]);
        const pack = openHand(hash, h);
        const e = expectCode(() => pack.readObject(id2), 'PACK_BAD_OBJECT', git);
        assert.ok(e.message.includes(FILE), `${name}: ${e.message}`);
        expectCode(() => pack.objectInfo(id2), 'PACK_BAD_OBJECT');
        assert.ok(pack.readObject(idBase));
      }
    });

    test('a delta copying past its base, wrong lengths, absurd sizes, a hash mismatch', () => {
      const wild = delta(baseData.length, 20, copyOp(baseData.length - 10, 20));
      const h = handPack(
        hash,
        [
          { type: 3, data: baseData },
          { type: 6, data: wild, ofsTo: 0 },
          { type: 3, data: Buffer.from('twelve bytes'), headerSize: 10 },
          { type: 3, data: Buffer.from('ten bytes!'), headerSize: 12 },
          { type: 3, data: Buffer.from('x'), headerSize: 2 ** 60 },
          { type: 3, data: Buffer.from('x'), headerSize: 2 ** 50 },
          { type: 6, data: delta(baseData.length, 2 ** 40, 0x80), ofsTo: 0 },
          { type: 3, data: Buffer.from('not what the id says') },
        ],
        [idBase, ...[1, 2, 3, 4, 5, 6, 7].map((i) => prng(100 + i, hash.size))],
      );
      const pack = openHand(hash, h);
      const [, wildId, longId, shortId, hugeId, bigId, bigDeltaId, liarId] = h.ids;
      const e = expectCode(() => pack.readObject(wildId), 'PACK_BAD_DELTA', 'delta replay has gone wild');
      assert.match(e.message, new RegExp(`^${FILE}: delta at offset ${h.offsets[1]}: `));
      assert.deepEqual(pack.objectInfo(wildId), { type: 'blob', size: 20 });
      expectCode(() => pack.readObject(longId), 'PACK_INFLATE');
      expectCode(() => pack.readObject(shortId), 'PACK_INFLATE');
      assert.deepEqual(pack.objectInfo(shortId), { type: 'blob', size: 12 });
      expectCode(() => pack.readObject(hugeId), 'PACK_BAD_OBJECT', 'bad object header');
      expectCode(() => pack.objectInfo(hugeId), 'PACK_BAD_OBJECT');
      expectCode(() => pack.readObject(bigId), 'PACK_BAD_OBJECT');
      assert.deepEqual(pack.objectInfo(bigId), { type: 'blob', size: 2 ** 50 });
      expectCode(() => pack.readObject(bigDeltaId), 'PACK_BAD_DELTA');
      assert.deepEqual(pack.objectInfo(bigDeltaId), { type: 'blob', size: 2 ** 40 });
      assert.ok(pack.readObject(liarId));
      const m = expectCode(() => pack.verifyObject(liarId), 'PACK_HASH_MISMATCH');
      assert.equal(m.data.git, `packed ${toHex(liarId)} from ${FILE} is corrupt`);
      // Offsets outside the entries.
      expectCode(
        () => pack.readAt(h.pack.length - hash.size),
        'PACK_BAD_OBJECT',
        'offset beyond end of packfile (truncated pack?)',
      );
      expectCode(() => pack.readAt(5), 'PACK_BAD_OBJECT');
      expectCode(() => pack.readAt(-1), 'PACK_BAD_OBJECT');
    });

    test('info reads only a prefix; an inflater without inflatePrefix; streams past the bound', () => {
      const h = handPack(
        hash,
        [
          { type: 3, data: baseData },
          { type: 6, data: d2, ofsTo: 0 },
        ],
        [idBase, id2],
      );
      const calls = { inflate: 0, prefix: 0 };
      const counting: Inflater = {
        inflate(input, size) {
          calls.inflate++;
          return nodeInflater.inflate(input, size);
        },
        inflatePrefix(input, want) {
          calls.prefix++;
          return nodeInflater.inflatePrefix!(input, want);
        },
      };
      const counted = openHand(hash, h, { inflate: counting });
      assert.deepEqual(counted.objectInfo(id2), { type: 'blob', size: v2.length });
      assert.deepEqual(calls, { inflate: 0, prefix: 1 });
      counted.readObject(id2);
      assert.deepEqual(calls, { inflate: 2, prefix: 1 });
      const plainInflate: Inflater = { inflate: nodeInflater.inflate };
      const pack = openHand(hash, h, { inflate: plainInflate });
      assert.deepEqual(pack.objectInfo(id2), { type: 'blob', size: v2.length });
      assert.ok(Buffer.from(pack.readObject(id2)!.data).equals(v2));
      // A stream of many empty stored blocks is longer than deflate's bound: the window widens.
      const padded = Buffer.concat([
        Buffer.from([0x78, 0x01]),
        ...new Array(40).fill(Buffer.from([0x00, 0x00, 0x00, 0xff, 0xff])),
        zlib.deflateRawSync(Buffer.from('hi')),
        (() => {
          const a = Buffer.alloc(4);
          a.writeUInt32BE(adler32(Buffer.from('hi')));
          return a;
        })(),
      ]);
      assert.equal(zlib.inflateSync(padded).toString(), 'hi');
      const hp = handPack(
        hash,
        [
          { type: 3, data: Buffer.from('hi'), stream: padded },
          { type: 3, data: baseData },
        ],
        [objectId(hash, 'blob', Buffer.from('hi')), idBase],
      );
      const pp = openHand(hash, hp);
      assert.equal(Buffer.from(pp.verifyObject(hp.ids[0])!.data).toString(), 'hi');
    });
  });
}

function adler32(b: Uint8Array): number {
  let a = 1;
  let s = 0;
  for (const x of b) {
    a = (a + x) % 65521;
    s = (s + a) % 65521;
  }
  return ((s << 16) | a) >>> 0;
}

// ---------------------------------------------------------------------------------------------
// Fuzzing: mutated packs, the idx kept

describe('mutated packs', () => {
  interface Sample {
    name: string;
    hash: HashAlgorithm;
    pack: Buffer;
    idx: Buffer;
    ids: Buffer[];
  }
  const samples: Sample[] = [];

  before(() => {
    // A small pack by git with OFS deltas, and a hand-built one with REF deltas, in both hashes.
    for (const format of ['sha1', 'sha256'] as const) {
      const hash = format === 'sha1' ? SHA1 : SHA256;
      const repo = TestRepo.create({ objectFormat: format, bare: true });
      repos.push(repo);
      const parts: string[] = [];
      let content = '';
      for (let i = 1; i <= 8; i++) {
        content = `${content.slice(0, (content.length * 3) >> 2)}version ${i} ${'abc '.repeat(i * 5)}\n${content.slice((content.length * 3) >> 2)}`;
        parts.push(
          `commit refs/heads/main\ncommitter C <c@e> ${DATE}\ndata 3\nc${i}\nM 100644 inline f\ndata ${Buffer.byteLength(content)}\n${content}\n`,
        );
      }
      parts.push(`tag t\nfrom refs/heads/main\ntagger T <t@e> ${DATE}\ndata 4\ntag\n`, 'done\n');
      repo.git(['fast-import', '--quiet', '--done'], { input: parts.join('') });
      repo.git(['repack', '-adfq']);
      const stem = repo.listPackStems()[0];
      const idxPath = path.join(repo.packDir, `${stem}.idx`);
      samples.push({
        name: `git ${format}`,
        hash,
        pack: fs.readFileSync(path.join(repo.packDir, `${stem}.pack`)),
        idx: fs.readFileSync(idxPath),
        ids: showIndex(repo, idxPath).map((id) => Buffer.from(fromHex(id)!)),
      });
      const b = Buffer.from('fuzzing base content, long enough to copy from\n'.repeat(5));
      const v = Buffer.concat([b.subarray(0, 100), Buffer.from('changed')]);
      const dv = delta(b.length, v.length, copyOp(0, 100), insertOp(Buffer.from('changed')));
      const w = Buffer.concat([Buffer.from('>'), v]);
      const dw = delta(v.length, w.length, insertOp(Buffer.from('>')), copyOp(0, v.length));
      const hv = objectId(hash, 'blob', v);
      const h = handPack(
        hash,
        [
          { type: 7, data: dw, ref: hv },
          { type: 3, data: b },
          { type: 7, data: dv, ref: objectId(hash, 'blob', b) },
          { type: 2, data: Buffer.from('') },
        ],
        [objectId(hash, 'blob', w), objectId(hash, 'blob', b), hv, objectId(hash, 'tree', Buffer.from(''))],
      );
      samples.push({ name: `hand ${format}`, hash, pack: h.pack, idx: h.idx, ids: h.ids });
    }
  });

  test('only GitMidxError comes out, quickly', () => {
    for (const s of samples) {
      // The unmutated sample reads and verifies completely.
      const clean = PackFile.open(
        bufferReader(s.pack),
        PackIndex.fromBytes(s.idx, { hash: s.hash }),
        packOptions(s.hash),
      );
      for (const id of s.ids) assert.ok(clean.verifyObject(id), `${s.name}: ${toHex(id)}`);
    }
    const mutation = fc.oneof(
      fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bits: fc.integer({ min: 1, max: 255 }) }),
      fc.record({
        kind: fc.constant('set' as const),
        at: fc.nat(),
        bytes: fc.uint8Array({ minLength: 1, maxLength: 12 }),
      }),
      fc.record({
        kind: fc.constant('word' as const),
        at: fc.nat(),
        value: fc.constantFrom(0, 1, 0x7f, 0x80, 0xff, 0xffff, 0x7fffffff, 0x80000000, 0xffffffff),
      }),
      fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
    );
    fc.assert(
      fc.property(
        fc.nat(samples.length - 1),
        fc.array(mutation, { minLength: 1, maxLength: 4 }),
        (which, muts) => {
          const s = samples[which];
          let bytes = Buffer.from(s.pack);
          for (const m of muts) {
            if (bytes.length === 0) break;
            const at = m.at % bytes.length;
            if (m.kind === 'flip') bytes[at] ^= m.bits;
            else if (m.kind === 'set') bytes.set(m.bytes.subarray(0, bytes.length - at), at);
            else if (m.kind === 'word') {
              if (at + 4 <= bytes.length) bytes.writeUInt32BE(m.value, at);
            } else bytes = bytes.subarray(0, at);
          }
          const memBefore = process.memoryUsage().arrayBuffers;
          const index = PackIndex.fromBytes(s.idx, { hash: s.hash });
          const pack = new PackFile(bufferReader(bytes), index, packOptions(s.hash, { cacheBytes: 1024 }));
          const attempt = (fn: () => unknown) => {
            try {
              fn();
            } catch (e) {
              if (!(e instanceof GitMidxError)) throw e;
            }
          };
          attempt(() => pack.validate());
          for (const id of s.ids) {
            attempt(() => pack.objectInfo(id));
            attempt(() => pack.readObject(id));
            attempt(() => pack.verifyObject(id));
          }
          // A size read from a mutated header must never size an allocation.
          const grew = process.memoryUsage().arrayBuffers - memBefore;
          assert.ok(grew < 64 * 1024 * 1024, `one mutant left ${grew} bytes of ArrayBuffers`);
        },
      ),
      { seed: SEED, numRuns: runs(400) },
    );
  });
});
